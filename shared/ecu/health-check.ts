// Post-install health (docs/uptane-conformance.md 7.3, docs/threat-model.md M20): after a new image
// passed its boot check, the ECU watches it for a soak period before committing. A probe is asked at
// every poll; any unhealthy answer, an error, or a probe that never answered ends the soak as failed
// and the slots roll back (shared/ecu/ab-slots.ts). The soak counts polls, not clock time, so a clock
// that jumps (or a simulated one) neither stretches nor skips it.
import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { HealthCheckConfigError } from '../core/errors.js';

/** The image on trial, as a probe sees it. */
export interface HealthProbeContext {
  readonly filename: string;
  /** The slot file holding it. */
  readonly path: string;
  /** 1-based poll number; `final` on the last poll of the soak. */
  readonly poll: number;
  readonly final: boolean;
}

export type HealthVerdict = { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

/** One health signal. `kind` names it in reports (`exit`, `heartbeat-file`, `self-test-file`, ...). */
export interface HealthProbe {
  readonly kind: string;
  check(context: HealthProbeContext): Promise<HealthVerdict>;
}

export interface HealthCheck {
  readonly probe: HealthProbe;
  /** How long the new image must stay healthy before it is committed. */
  readonly soakMs: number;
  /** Time between polls; the soak is ceil(soakMs / pollMs) polls (at least one). */
  readonly pollMs: number;
  /**
   * Restarts that may interrupt a soak before the image is rolled back: an image that makes the ECU
   * reset during its soak looks like one that is interrupted by power cuts, so after this many the
   * previous image comes back rather than soaking forever. Default DEFAULT_MAX_INTERRUPTED_SOAKS.
   */
  readonly maxInterruptedSoaks?: number;
  /** Waits between polls (tests pass a faster one). Default: a timer. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_MAX_INTERRUPTED_SOAKS = 2;
export const DEFAULT_POLL_MS = 1_000;
/** Longest probe reason kept: it goes into a signed version report, which has a text limit of its own. */
export const MAX_REASON_CHARS = 512;
/** Stdout/stderr kept from a probe process (its tail explains a failure). */
const PROBE_OUTPUT_BYTES = 4096;
/** Largest self-test result file read. */
const SELF_TEST_FILE_BYTES = 4096;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One-line, bounded reason text (the report escapes control characters again; this keeps logs sane too). */
export function boundedReason(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= MAX_REASON_CHARS ? flat : `${flat.slice(0, MAX_REASON_CHARS - 3)}...`;
}

/**
 * Runs the soak: polls the probe every pollMs until soakMs has passed in polls. The first unhealthy
 * verdict or thrown error ends it (fail closed: an error of the probe is no health signal).
 */
export async function runHealthSoak(check: HealthCheck, image: { filename: string; path: string }): Promise<HealthVerdict> {
  const polls = Math.max(1, Math.ceil(check.soakMs / Math.max(1, check.pollMs)));
  const sleep = check.sleep ?? delay;
  for (let poll = 1; poll <= polls; poll++) {
    await sleep(Math.min(check.pollMs, check.soakMs));
    let verdict: HealthVerdict;
    try {
      verdict = await check.probe.check({ ...image, poll, final: poll === polls });
    } catch (err) {
      verdict = { healthy: false, reason: `probe error: ${(err as Error).message}` };
    }
    if (!verdict.healthy) return { healthy: false, reason: boundedReason(`${check.probe.kind} probe, poll ${poll} of ${polls}: ${verdict.reason}`) };
  }
  return { healthy: true };
}

/**
 * A process run at every poll: exit 0 is healthy, anything else (non-zero, a signal, a timeout, a
 * command that does not start) is not. It gets the image as UPTANE_HEALTH_IMAGE and
 * UPTANE_HEALTH_IMAGE_PATH; no shell runs it.
 */
export function exitProbe(options: { readonly command: string; readonly args?: readonly string[]; readonly timeoutMs?: number; readonly cwd?: string }): HealthProbe {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    kind: 'exit',
    check: (context) =>
      new Promise<HealthVerdict>((resolve) => {
        let output = Buffer.alloc(0);
        const keep = (chunk: Buffer) => {
          output = Buffer.concat([output, chunk]);
          if (output.length > PROBE_OUTPUT_BYTES) output = output.subarray(output.length - PROBE_OUTPUT_BYTES);
        };
        const child = spawn(options.command, [...(options.args ?? [])], {
          cwd: options.cwd,
          env: { ...process.env, UPTANE_HEALTH_IMAGE: context.filename, UPTANE_HEALTH_IMAGE_PATH: context.path },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        let timedOut = false;
        timer.unref();
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        child.on('error', (err) => {
          clearTimeout(timer);
          resolve({ healthy: false, reason: `probe ${options.command} could not run: ${err.message}` });
        });
        child.on('exit', () => {
          if (child.exitCode === null && child.signalCode === 'SIGKILL') timedOut = true;
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (code === 0) return resolve({ healthy: true });
          const why = timedOut ? `did not exit within ${timeoutMs} ms` : code !== null ? `exited ${code}` : `was killed by ${signal}`;
          const said = output.toString('utf8').trim();
          resolve({ healthy: false, reason: `probe ${options.command} ${why}${said === '' ? '' : `: ${said}`}` });
        });
      }),
  };
}

/**
 * A heartbeat the new image writes (touches) while it runs: at every poll the file must have been
 * written since the previous poll (since the soak began, at the first). A missing file or a
 * heartbeat that stopped is unhealthy.
 */
export function heartbeatFileProbe(path: string): HealthProbe {
  let last = -1;
  return {
    kind: 'heartbeat-file',
    async check(context) {
      if (context.poll === 1) last = -1;
      let mtime: number;
      try {
        mtime = (await stat(path)).mtimeMs;
      } catch {
        return { healthy: false, reason: `no heartbeat: ${path} does not exist` };
      }
      if (last >= 0 && mtime <= last) return { healthy: false, reason: `heartbeat stopped: ${path} was not written since the previous poll` };
      last = mtime;
      return { healthy: true };
    },
  };
}

/**
 * A heartbeat given in-process (a simulated image, a watchdog): `beats()` counts the heartbeats so
 * far; the count must grow from poll to poll.
 */
export function heartbeatCallbackProbe(beats: () => number): HealthProbe {
  let last = -1;
  return {
    kind: 'heartbeat',
    async check(context) {
      if (context.poll === 1) last = -1;
      const now = beats();
      if (now <= last || (context.poll === 1 && now <= 0)) return { healthy: false, reason: `heartbeat stopped (${now} beats, ${Math.max(last, 0)} at the previous poll)` };
      last = now;
      return { healthy: true };
    },
  };
}

/**
 * The image's self-test result, a JSON file `{"passed": true}` or `{"passed": false, "reason": "..."}`:
 * a failed result ends the soak at once; by the last poll a passed result must be there.
 */
export function selfTestFileProbe(path: string): HealthProbe {
  return {
    kind: 'self-test-file',
    async check(context) {
      let text: string;
      try {
        const handle = await open(path, 'r');
        try {
          const buffer = Buffer.alloc(SELF_TEST_FILE_BYTES + 1);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
          if (bytesRead > SELF_TEST_FILE_BYTES) return { healthy: false, reason: `self-test result ${path} is larger than ${SELF_TEST_FILE_BYTES} bytes` };
          text = buffer.subarray(0, bytesRead).toString('utf8');
        } finally {
          await handle.close();
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { healthy: false, reason: `cannot read self-test result ${path}: ${(err as Error).message}` };
        return context.final ? { healthy: false, reason: `no self-test result: ${path} was not written during the soak` } : { healthy: true };
      }
      let result: unknown;
      try {
        result = JSON.parse(text);
      } catch {
        return { healthy: false, reason: `self-test result ${path} is not JSON` };
      }
      const passed = typeof result === 'object' && result !== null ? (result as { passed?: unknown }).passed : undefined;
      if (passed === true) return { healthy: true };
      const reason = (result as { reason?: unknown } | null)?.reason;
      return { healthy: false, reason: `self-test failed${typeof reason === 'string' ? `: ${reason}` : passed === false ? '' : ` (no "passed": true in ${path})`}` };
    },
  };
}

/** Marker that makes a simulated image fail its health check: its first bytes. */
export const FAIL_HEALTH_MARKER = 'FAIL-HEALTH';

/** The simulation's self-test: an image whose content starts with FAIL-HEALTH boots but reports itself unhealthy. */
export const simulatedHealthProbe: HealthProbe = {
  kind: 'simulated',
  async check(context) {
    const handle = await open(context.path, 'r');
    try {
      const buffer = Buffer.alloc(FAIL_HEALTH_MARKER.length);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead).toString() === FAIL_HEALTH_MARKER ? { healthy: false, reason: 'the image reported a failed self-test (FAIL-HEALTH)' } : { healthy: true };
    } finally {
      await handle.close();
    }
  },
};

// Configuration ----------------------------------------------------------------------------------

/**
 * A health check as configuration holds it (a vehicle folder's vehicle.json, `uptane vehicle
 * provision --health`, a simulator profile): JSON, checked by parseHealthCheckSpec.
 */
export interface HealthCheckSpec {
  readonly soakMs: number;
  readonly pollMs?: number;
  readonly maxInterruptedSoaks?: number;
  readonly probe:
    | { readonly kind: 'exit'; readonly command: string; readonly args?: readonly string[]; readonly timeoutMs?: number }
    | { readonly kind: 'heartbeat-file'; readonly path: string }
    | { readonly kind: 'self-test-file'; readonly path: string }
    | { readonly kind: 'simulated' };
}

/** Bounds on a configured soak: a day at most, a poll every 10 ms at least, at most 10,000 polls. */
export const HEALTH_LIMITS = { maxSoakMs: 24 * 60 * 60 * 1000, minPollMs: 10, maxPolls: 10_000, maxInterruptedSoaks: 10, maxTextChars: 4096, maxArgs: 32 } as const;

type Json = Record<string, unknown>;

/** Checks a health-check spec (untrusted configuration), naming the first wrong field. */
export function parseHealthCheckSpec(value: unknown, at = 'health'): HealthCheckSpec {
  const fail = (field: string, message: string): never => {
    throw new HealthCheckConfigError(`${field}: ${message}`);
  };
  const mapping = (v: unknown, path: string, allowed: readonly string[]): Json => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be a mapping');
    for (const key of Object.keys(v as Json)) if (!allowed.includes(key)) fail(`${path}.${key}`, `unknown field (expected one of ${allowed.join(', ')})`);
    return v as Json;
  };
  const whole = (v: unknown, path: string, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(path, `must be a whole number from ${min} to ${max}`);
    return v as number;
  };
  const str = (v: unknown, path: string): string => {
    if (typeof v !== 'string' || v.length === 0 || v.length > HEALTH_LIMITS.maxTextChars || v.includes('\0')) fail(path, `must be a non-empty text of at most ${HEALTH_LIMITS.maxTextChars} characters`);
    return v as string;
  };
  const raw = mapping(value, at, ['soakMs', 'pollMs', 'maxInterruptedSoaks', 'probe']);
  const soakMs = whole(raw.soakMs, `${at}.soakMs`, 0, HEALTH_LIMITS.maxSoakMs);
  const pollMs = raw.pollMs === undefined ? undefined : whole(raw.pollMs, `${at}.pollMs`, HEALTH_LIMITS.minPollMs, HEALTH_LIMITS.maxSoakMs);
  if (Math.ceil(soakMs / (pollMs ?? DEFAULT_POLL_MS)) > HEALTH_LIMITS.maxPolls) fail(`${at}.pollMs`, `the soak would take more than ${HEALTH_LIMITS.maxPolls} polls: poll less often`);
  const maxInterruptedSoaks = raw.maxInterruptedSoaks === undefined ? undefined : whole(raw.maxInterruptedSoaks, `${at}.maxInterruptedSoaks`, 0, HEALTH_LIMITS.maxInterruptedSoaks);
  const p = mapping(raw.probe, `${at}.probe`, ['kind', 'command', 'args', 'timeoutMs', 'path']);
  const kinds = ['exit', 'heartbeat-file', 'self-test-file', 'simulated'];
  if (!kinds.includes(p.kind as string)) fail(`${at}.probe.kind`, `must be one of ${kinds.join(', ')}`);
  const only = (allowed: readonly string[]) => {
    for (const key of Object.keys(p)) if (!allowed.includes(key)) fail(`${at}.probe.${key}`, `not a field of a ${String(p.kind)} probe`);
  };
  let probe: HealthCheckSpec['probe'];
  if (p.kind === 'exit') {
    only(['kind', 'command', 'args', 'timeoutMs']);
    const args = p.args === undefined ? undefined : (() => {
      if (!Array.isArray(p.args) || p.args.length > HEALTH_LIMITS.maxArgs) fail(`${at}.probe.args`, `must be a list of at most ${HEALTH_LIMITS.maxArgs} texts`);
      return (p.args as unknown[]).map((a, i) => str(a, `${at}.probe.args[${i}]`));
    })();
    const timeoutMs = p.timeoutMs === undefined ? undefined : whole(p.timeoutMs, `${at}.probe.timeoutMs`, 1, HEALTH_LIMITS.maxSoakMs);
    probe = { kind: 'exit', command: str(p.command, `${at}.probe.command`), ...(args === undefined ? {} : { args }), ...(timeoutMs === undefined ? {} : { timeoutMs }) };
  } else if (p.kind === 'heartbeat-file' || p.kind === 'self-test-file') {
    only(['kind', 'path']);
    probe = { kind: p.kind, path: str(p.path, `${at}.probe.path`) };
  } else {
    only(['kind']);
    probe = { kind: 'simulated' };
  }
  return { soakMs, ...(pollMs === undefined ? {} : { pollMs }), ...(maxInterruptedSoaks === undefined ? {} : { maxInterruptedSoaks }), probe };
}

/** The HealthCheck a spec describes; relative paths and commands resolve against `baseDir` (the ECU's folder). */
export function healthCheckFromSpec(spec: HealthCheckSpec, baseDir: string, sleep?: (ms: number) => Promise<void>): HealthCheck {
  const resolvePath = (p: string) => (p.startsWith('/') ? p : `${baseDir}/${p}`);
  const probe: HealthProbe =
    spec.probe.kind === 'exit'
      ? exitProbe({ command: spec.probe.command, ...(spec.probe.args === undefined ? {} : { args: spec.probe.args }), ...(spec.probe.timeoutMs === undefined ? {} : { timeoutMs: spec.probe.timeoutMs }), cwd: baseDir })
      : spec.probe.kind === 'heartbeat-file'
        ? heartbeatFileProbe(resolvePath(spec.probe.path))
        : spec.probe.kind === 'self-test-file'
          ? selfTestFileProbe(resolvePath(spec.probe.path))
          : simulatedHealthProbe;
  return {
    probe,
    soakMs: spec.soakMs,
    pollMs: spec.pollMs ?? Math.min(DEFAULT_POLL_MS, Math.max(spec.soakMs, HEALTH_LIMITS.minPollMs)),
    ...(spec.maxInterruptedSoaks === undefined ? {} : { maxInterruptedSoaks: spec.maxInterruptedSoaks }),
    ...(sleep === undefined ? {} : { sleep }),
  };
}
