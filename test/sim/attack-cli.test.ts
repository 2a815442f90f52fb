// `uptane sim attack`: the catalogue of test/attacks/ played by name from the CLI against real
// servers, with the five checks, and the checks themselves failing when an attack's outcome is not
// the expected one (so the command's exit status means something).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attacksJunit, attacksNdjson } from '../../sim/attacks/attack-results.js';
import { ATTACKS, findGroup } from '../../sim/attacks/catalogue.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { closeAttackScene, startAttackScene } from '../../sim/attacks/scene.js';
import { buildCli, runCli } from '../support/cli-runner.js';

let scratch: string;

beforeAll(async () => {
  await buildCli();
  scratch = mkdtempSync(join(tmpdir(), 'uptane-attack-cli-'));
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('uptane sim attack', () => {
  it('--list names every catalogued attack with where the attacker sits and the code that stops it', async () => {
    const text = await runCli(['sim', 'attack', '--list']);
    expect(text.status).toBe(0);
    for (const a of ATTACKS) expect(text.stdout).toContain(a.name);
    expect(text.stdout).toContain('g1-image-modified-in-transit                 network; expects hash_mismatch from tcu-1');
    const json = await runCli(['sim', 'attack', '--list', '--json']);
    expect((JSON.parse(json.stdout) as Array<{ name: string }>).map((a) => a.name)).toEqual(ATTACKS.map((a) => a.name));
  });

  it('plays an attack against real servers and passes all five checks (exit 0)', async () => {
    const run = await runCli(['sim', 'attack', 'c9-lower-release-counter', '--json']);
    expect(run.stderr).toContain('Director http://127.0.0.1:');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as { passed: boolean; checks: Array<{ check: string; ok: boolean }> };
    expect(out.passed).toBe(true);
    expect(out.checks.map((c) => [c.check, c.ok])).toEqual([
      ['typed-code', true],
      ['trusted-state', true],
      ['installed-images', true],
      ['reported', true],
      ['honest-update', true],
    ]);
    const text = await runCli(['sim', 'attack', 'f5-drop-director-timestamp-request']);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('PASS 1. the attack is refused with the expected typed code: the cycle: fetch_failed (expected fetch_failed)');
    expect(text.stdout).toContain('5/5 checks passed');
  });

  it('an unknown name is refused with the names that share its id, and no name with how to list them', async () => {
    const wrong = await runCli(['sim', 'attack', 'g1-image-changed']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('no attack named "g1-image-changed"');
    expect(wrong.stderr).toContain('did you mean g1-image-modified-in-transit, g1-bus-image-modified?');
    const none = await runCli(['sim', 'attack']);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('uptane sim attack --list');
    const help = await runCli(['sim', 'attack', '--help']);
    expect(help.stdout).toContain('uptane sim attack g1-image-modified-in-transit');
  });

  it('the checks fail when the outcome is not the expected one: a wrong code fails checks 1 and 4, an attack judged as a fault fails check 4', async () => {
    const attack = ATTACKS.find((a) => a.name === 'g1-image-modified-in-transit')!;
    for (const [variant, failing] of [
      [{ ...attack, expected: { ...attack.expected, code: 'rollback' } }, ['typed-code', 'reported']],
      [{ ...attack, verdict: 'fault' as const }, ['reported']],
      [{ ...attack, expected: { ...attack.expected, detectedBy: 'ecm-1' } }, ['reported']],
    ] as const) {
      const scene = await startAttackScene();
      try {
        const checks = await playAttack(scene, variant);
        expect(checks.filter((c) => !c.ok).map((c) => c.check)).toEqual(failing);
      } finally {
        await closeAttackScene(scene);
      }
    }
  });

  it('--group lists or plays one group; several attacks write NDJSON and JUnit for CI, and the exit status covers them all', async () => {
    const listed = await runCli(['sim', 'attack', '--list', '--group', 'key-compromise', '--json']);
    expect(listed.status).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ name: string; group: string }>).map((a) => [a.name, a.group])).toEqual(
      findGroup('key-compromise')!.attacks.map((a) => [a.name, 'key-compromise']),
    );
    const unknown = await runCli(['sim', 'attack', '--group', 'satellite']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('network');

    const [ndjson, junit] = [join(scratch, 'attacks.ndjson'), join(scratch, 'attacks.xml')];
    const run = await runCli(['sim', 'attack', 'f3-truncated-image', 'g6-same-ecu-twice', '--results-ndjson', ndjson, '--junit', junit]);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('2/2 attacks passed every check');
    const lines = readFileSync(ndjson, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => [l.type, l.name, l.group, l.passed])).toEqual([
      ['attack', 'f3-truncated-image', 'network', true],
      ['attack', 'g6-same-ecu-twice', 'director', true],
      ['summary', undefined, undefined, 2],
    ]);
    expect(lines[2]).toMatchObject({ attacks: 2, passed: 2, failed: [] });
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('<testsuites name="uptane sim attack" tests="2" failures="0" errors="0"');
    expect(xml).toContain('<testcase classname="uptane.attacks.director" name="g6-same-ecu-twice"');
  });

  it('JUnit names each failed check of an attack, and a scene that broke is an error, not a pass', () => {
    const attack = ATTACKS[0]!;
    const runs = [
      { attack, group: 'network', ms: 1200, checks: [{ check: 'typed-code' as const, ok: false, detail: 'the cycle ended installed, not failed (expected <hash_mismatch>)' }, { check: 'honest-update' as const, ok: true, detail: 'installed' }] },
      { attack, group: 'network', ms: 10, checks: [], error: 'the Director refused the scene\'s vehicle' },
    ];
    const xml = attacksJunit(runs);
    expect(xml).toContain('<testsuite name="network" tests="2" failures="1" errors="1"');
    expect(xml).toContain('<failure type="typed-code" message="typed-code: the cycle ended installed, not failed (expected &lt;hash_mismatch&gt;)">');
    expect(xml).toContain('<error type="scene" message="the Director refused the scene&apos;s vehicle">');
    expect(attacksNdjson(runs).trimEnd().split('\n').at(-1)).toBe(JSON.stringify({ type: 'summary', attacks: 2, passed: 0, failed: [attack.name, attack.name], seconds: 1.21 }));
  });
});
