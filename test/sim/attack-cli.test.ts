// `uptane sim attack`: the catalogue of test/attacks/ played by name from the CLI against real
// servers, with the five checks, and the checks themselves failing when an attack's outcome is not
// the expected one (so the command's exit status means something).
import { ATTACKS } from '../../sim/attacks/catalogue.js';
import { playAttack } from '../../sim/attacks/scenario.js';
import { closeAttackScene, startAttackScene } from '../../sim/attacks/scene.js';
import { buildCli, runCli } from '../support/cli-runner.js';

beforeAll(async () => {
  await buildCli();
});

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
});
