// docs/threat-model.md M20: post-install health. After the boot check, a new image soaks under the
// ECU's health check (a probe process's exit status, a heartbeat file or callback that must keep
// arriving, a self-test result) before the commit; an unhealthy signal, a missing one, or a soak cut
// short by restarts rolls back to the previous slot with health_check_failed and the probe's reason,
// escaped and bounded in the version report. A power cut during the soak resumes deterministically
// from the persisted phase. Real slot files; the soak's waits are the injected `sleep`.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbSlots, PowerCut, signVersionReport, type AbSlotsOptions, type InstallStep } from '../../shared/ecu/ab-slots.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { HealthCheckConfigError } from '../../shared/core/errors.js';
import { MANIFEST_LIMITS } from '../../shared/uptane/manifest.js';
import {
  exitProbe,
  FAIL_HEALTH_MARKER,
  healthCheckFromSpec,
  heartbeatCallbackProbe,
  heartbeatFileProbe,
  parseHealthCheckSpec,
  selfTestFileProbe,
  simulatedHealthProbe,
  type HealthCheck,
  type HealthProbe,
} from '../../shared/ecu/health-check.js';

const FACTORY = 'factory/ecm.bin';
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-health-'));
  AbSlots.provision(join(dir, 'slots'), { filename: FACTORY, content: Buffer.from('factory image') });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const image = (name: string, content: Buffer) => ({ filename: name, length: content.length, hashes: digestBytes(content, ['sha256', 'sha512']) });
async function* chunks(content: Buffer): AsyncIterable<Uint8Array> {
  yield content;
}

/** A soak of `polls` polls whose waits run `between` instead of a timer (no wall-clock sleeping). */
function soak(probe: HealthProbe, polls = 3, between: (poll: number) => void = () => undefined, extra: Partial<HealthCheck> = {}): HealthCheck {
  let waits = 0;
  return { probe, soakMs: polls * 100, pollMs: 100, sleep: async () => between(++waits), ...extra };
}

async function installWith(options: AbSlotsOptions, content = Buffer.from('engine ecu v2'), name = 'engine/ecm-2.0.bin') {
  const slots = await AbSlots.open(join(dir, 'slots'), options);
  await slots.stage(image(name, content), chunks(content));
  return { slots, outcome: await slots.install() };
}

describe('M20 post-install health soak', () => {
  it('commits an image that stays healthy for every poll of the soak', async () => {
    const asked: number[] = [];
    const probe: HealthProbe = { kind: 'counting', check: async (c) => (asked.push(c.poll), { healthy: true }) };
    const { slots, outcome } = await installWith({ healthCheck: soak(probe, 4) });
    expect(outcome).toEqual({ filename: 'engine/ecm-2.0.bin', status: 'installed' });
    expect(asked).toEqual([1, 2, 3, 4]);
    expect(slots.current).toMatchObject({ active: 'b', trial: null });
  });

  it('rolls back an image whose simulated self-test fails (FAIL-HEALTH), after a boot check it passed', async () => {
    const { slots, outcome } = await installWith({ healthCheck: soak(simulatedHealthProbe) }, Buffer.from(`${FAIL_HEALTH_MARKER} engine ecu v3`), 'engine/ecm-3.0.bin');
    expect(outcome).toMatchObject({ filename: 'engine/ecm-3.0.bin', status: 'rolled_back', code: 'health_check_failed' });
    expect(outcome.message).toContain('simulated probe, poll 1 of 3: the image reported a failed self-test');
    expect(slots.current).toMatchObject({ active: 'a', trial: null });
    expect(slots.installed.filename).toBe(FACTORY);
    expect(await slots.isIntact('a')).toBe(true);
  });

  it('without a health check configured, commits right after the boot check (as before)', async () => {
    const { outcome } = await installWith({}, Buffer.from(`${FAIL_HEALTH_MARKER} engine ecu v3`));
    expect(outcome.status).toBe('installed');
  });

  it('a probe process: exit 0 commits; a non-zero exit rolls back with its output as the reason', async () => {
    const ok = exitProbe({ command: process.execPath, args: ['-e', 'process.exit(process.env.UPTANE_HEALTH_IMAGE === "engine/ecm-2.0.bin" ? 0 : 9)'] });
    expect((await installWith({ healthCheck: soak(ok, 2) })).outcome.status).toBe('installed');
    const bad = exitProbe({ command: process.execPath, args: ['-e', 'console.error("CAN bus silent"); process.exit(3)'] });
    const { outcome } = await installWith({ healthCheck: soak(bad, 2) }, Buffer.from('engine ecu v3'), 'engine/ecm-3.0.bin');
    expect(outcome).toMatchObject({ status: 'rolled_back', code: 'health_check_failed' });
    expect(outcome.message).toContain(`exit probe, poll 1 of 2: probe ${process.execPath} exited 3: CAN bus silent`);
  });

  it('a probe process that cannot start, or hangs past its timeout, is a failed health signal', async () => {
    const missing = exitProbe({ command: join(dir, 'no-such-probe') });
    expect((await installWith({ healthCheck: soak(missing, 1) })).outcome).toMatchObject({ status: 'rolled_back', code: 'health_check_failed' });
    const hangs = exitProbe({ command: process.execPath, args: ['-e', 'setTimeout(() => {}, 60000)'], timeoutMs: 200 });
    const { outcome } = await installWith({ healthCheck: soak(hangs, 1) }, Buffer.from('engine ecu v3'), 'engine/ecm-3.0.bin');
    expect(outcome.message).toContain('did not exit within 200 ms');
  });

  it('a heartbeat file must keep arriving: written between every poll commits, one that stops rolls back', async () => {
    const beat = join(dir, 'heartbeat');
    let t = 1_700_000_000;
    const touch = () => {
      writeFileSync(beat, 'alive');
      utimesSync(beat, t, ++t);
    };
    expect((await installWith({ healthCheck: soak(heartbeatFileProbe(beat), 3, touch) })).outcome.status).toBe('installed');
    // Beats for the first two polls only.
    const { outcome } = await installWith({ healthCheck: soak(heartbeatFileProbe(beat), 4, (n) => n <= 2 && touch()) }, Buffer.from('engine ecu v3'), 'engine/ecm-3.0.bin');
    expect(outcome).toMatchObject({ status: 'rolled_back', code: 'health_check_failed' });
    expect(outcome.message).toContain('heartbeat-file probe, poll 3 of 4: heartbeat stopped');
  });

  it('no heartbeat at all (missing file, callback never beating) rolls back', async () => {
    expect((await installWith({ healthCheck: soak(heartbeatFileProbe(join(dir, 'never')), 2) })).outcome.message).toContain('no heartbeat');
    let beats = 0;
    const keeps = heartbeatCallbackProbe(() => beats);
    expect((await installWith({ healthCheck: soak(keeps, 3, () => beats++) }, Buffer.from('engine ecu v3'), 'engine/ecm-3.0.bin')).outcome.status).toBe('installed');
    const silent = heartbeatCallbackProbe(() => 0);
    expect((await installWith({ healthCheck: soak(silent, 3) }, Buffer.from('engine ecu v4'), 'engine/ecm-4.0.bin')).outcome).toMatchObject({ status: 'rolled_back', code: 'health_check_failed' });
  });

  it('a self-test result: passed commits, failed rolls back at once, none by the end of the soak rolls back', async () => {
    const result = join(dir, 'self-test.json');
    const write = (body: string) => () => writeFileSync(result, body);
    expect((await installWith({ healthCheck: soak(selfTestFileProbe(result), 3, (n) => n === 2 && write('{"passed":true}')()) })).outcome.status).toBe('installed');
    rmSync(result);
    const failed = await installWith({ healthCheck: soak(selfTestFileProbe(result), 3, write('{"passed":false,"reason":"brake pressure sensor out of range"}')) }, Buffer.from('engine ecu v3'), 'engine/ecm-3.0.bin');
    expect(failed.outcome.message).toContain('self-test-file probe, poll 1 of 3: self-test failed: brake pressure sensor out of range');
    rmSync(result);
    const none = await installWith({ healthCheck: soak(selfTestFileProbe(result), 3) }, Buffer.from('engine ecu v4'), 'engine/ecm-4.0.bin');
    expect(none.outcome.message).toContain('poll 3 of 3: no self-test result');
  });

  it("the probe's reason reaches the version report escaped and bounded", async () => {
    const hostile = `\u001b[31mred\u0007 ${'x'.repeat(5000)}`;
    const probe: HealthProbe = { kind: 'hostile', check: async () => ({ healthy: false, reason: hostile }) };
    const { slots, outcome } = await installWith({ healthCheck: soak(probe, 1) });
    expect(outcome.message!.length).toBeLessThan(1000); // bounded at the source
    const key = PrivateKey.fromSeed(new Uint8Array(32).fill(7));
    const report = signVersionReport(slots, { serial: 'ecm-1', key }, { counter: 1, attacks: [], time: new Date('2026-01-01T00:00:00Z') });
    const last = report.signed.last_install!;
    expect(last).toMatchObject({ status: 'rolled_back', code: 'health_check_failed' });
    expect(last.message).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(last.message!.length).toBeLessThanOrEqual(MANIFEST_LIMITS.maxTextLength);
  });
});

describe('M20 a power cut during the soak', () => {
  /** Fires a power cut at `step` the first `times` times it is reached. */
  function cuts(step: InstallStep, times: number): AbSlotsOptions['faultAt'] {
    let left = times;
    return (at) => {
      if (at === step && left-- > 0) throw new PowerCut(at);
    };
  }

  it('the restart counts the interrupted soak and runs it again from the start: a healthy image commits', async () => {
    const healthCheck = soak(simulatedHealthProbe, 2);
    const faultAt = cuts('health-soak', 1);
    const slots = await AbSlots.open(join(dir, 'slots'), { healthCheck, faultAt });
    const content = Buffer.from('engine ecu v2');
    await slots.stage(image('engine/ecm-2.0.bin', content), chunks(content));
    await expect(slots.install()).rejects.toBeInstanceOf(PowerCut);
    expect(AbSlots.peek(join(dir, 'slots')).trial).toEqual({ slot: 'b', previous: 'a', phase: 'health-soak' });
    const restarted = await AbSlots.open(join(dir, 'slots'), { healthCheck, faultAt });
    expect(restarted.current).toMatchObject({ active: 'b', trial: null, lastInstall: { filename: 'engine/ecm-2.0.bin', status: 'installed' } });
  });

  it('an unhealthy image found after the restart rolls back as without the cut', async () => {
    const healthCheck = soak(simulatedHealthProbe, 2);
    const faultAt = cuts('health-soak', 1);
    const slots = await AbSlots.open(join(dir, 'slots'), { healthCheck, faultAt });
    const content = Buffer.from(`${FAIL_HEALTH_MARKER} v3`);
    await slots.stage(image('engine/ecm-3.0.bin', content), chunks(content));
    await expect(slots.install()).rejects.toBeInstanceOf(PowerCut);
    const restarted = await AbSlots.open(join(dir, 'slots'), { healthCheck, faultAt });
    expect(restarted.current).toMatchObject({ active: 'a', trial: null, lastInstall: { status: 'rolled_back', code: 'health_check_failed' } });
  });

  it('an image whose soak keeps being cut short (it resets the ECU) rolls back past the limit, never soaking forever', async () => {
    const healthCheck = soak(simulatedHealthProbe, 2, () => undefined, { maxInterruptedSoaks: 2 });
    const faultAt = cuts('health-soak', 100);
    const slots = await AbSlots.open(join(dir, 'slots'), { healthCheck, faultAt });
    const content = Buffer.from('engine ecu v2');
    await slots.stage(image('engine/ecm-2.0.bin', content), chunks(content));
    await expect(slots.install()).rejects.toBeInstanceOf(PowerCut);
    for (const count of [1, 2]) {
      await expect(AbSlots.open(join(dir, 'slots'), { healthCheck, faultAt })).rejects.toBeInstanceOf(PowerCut);
      expect(AbSlots.peek(join(dir, 'slots')).trial).toMatchObject({ phase: 'health-soak', interruptedSoaks: count });
    }
    const restarted = await AbSlots.open(join(dir, 'slots'), { healthCheck, faultAt });
    expect(restarted.current).toMatchObject({ active: 'a', trial: null, lastInstall: { status: 'rolled_back', code: 'health_check_failed' } });
    expect(restarted.current.lastInstall!.message).toContain('cut short by 3 restarts (limit 2)');
    expect(await restarted.isIntact('a')).toBe(true);
  });

  it('an error injected at the soak (its I/O failing) is a failed health signal: rolled back', async () => {
    const faultAt: AbSlotsOptions['faultAt'] = (at) => {
      if (at === 'health-soak') throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    };
    const { slots, outcome } = await installWith({ healthCheck: soak(simulatedHealthProbe, 1), faultAt });
    expect(outcome).toMatchObject({ status: 'rolled_back', code: 'health_check_failed' });
    expect(slots.current.active).toBe('a');
  });
});

describe('health-check configuration', () => {
  it('parses every probe kind and builds a working check', async () => {
    const spec = parseHealthCheckSpec({ soakMs: 300, pollMs: 100, probe: { kind: 'exit', command: process.execPath, args: ['-e', 'process.exit(0)'] } });
    const check = healthCheckFromSpec(spec, dir, async () => undefined);
    expect(check).toMatchObject({ soakMs: 300, pollMs: 100, probe: { kind: 'exit' } });
    expect((await installWith({ healthCheck: check })).outcome.status).toBe('installed');
    for (const probe of [{ kind: 'heartbeat-file', path: 'hb' }, { kind: 'self-test-file', path: '/run/ecu/self-test.json' }, { kind: 'simulated' }]) {
      expect(parseHealthCheckSpec({ soakMs: 1000, probe }).probe).toEqual(probe);
    }
  });

  it.each([
    [{ soakMs: -1, probe: { kind: 'simulated' } }, 'health.soakMs'],
    [{ soakMs: 1000, probe: { kind: 'shell', command: 'x' } }, 'health.probe.kind'],
    [{ soakMs: 1000, probe: { kind: 'simulated', path: 'x' } }, 'health.probe.path'],
    [{ soakMs: 1000, probe: { kind: 'exit' } }, 'health.probe.command'],
    [{ soakMs: 1000, probe: { kind: 'exit', command: 'a', args: 'b' } }, 'health.probe.args'],
    [{ soakMs: 86_400_000, pollMs: 10, probe: { kind: 'simulated' } }, 'health.pollMs'],
    [{ soakMs: 1000, probe: { kind: 'simulated' }, extra: 1 }, 'health.extra'],
  ])('refuses %j naming %s (typed)', (value, field) => {
    expect(() => parseHealthCheckSpec(value)).toThrow(HealthCheckConfigError);
    expect(() => parseHealthCheckSpec(value)).toThrow(field);
  });
});
