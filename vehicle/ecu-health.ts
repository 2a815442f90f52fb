// Each ECU's post-install health check as configuration (docs/decisions.md "Post-install health and the factory image"):
// written into the ECU's folder at provisioning (`uptane vehicle provision --health`), read by every
// process that opens the ECU (`uptane vehicle run`, `uptane vehicle secondary serve`). Kept beside
// the ECU's slots rather than in vehicle.json, so a secondary served on its own finds it too.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HealthCheckConfigError } from '../shared/core/errors.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { healthCheckFromSpec, parseHealthCheckSpec, type HealthCheck, type HealthCheckSpec } from '../shared/ecu/health-check.js';

/** In an ECU folder: its HealthCheckSpec as JSON; absent when the ECU commits right after the boot check. */
export const HEALTH_FILE = 'health.json';
/** Largest health.json read (a spec is a few hundred bytes). */
const MAX_HEALTH_FILE_BYTES = 16 * 1024;

export function persistEcuHealth(ecuDir: string, spec: HealthCheckSpec): void {
  writeFileAtomic(join(ecuDir, HEALTH_FILE), Buffer.from(`${JSON.stringify(spec, null, 2)}\n`));
}

/** The ECU's health spec, checked again (the file may have been edited since provisioning), or undefined. */
export function loadEcuHealthSpec(ecuDir: string): HealthCheckSpec | undefined {
  const path = join(ecuDir, HEALTH_FILE);
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  if (bytes.length > MAX_HEALTH_FILE_BYTES) throw new HealthCheckConfigError(`${path} is larger than ${MAX_HEALTH_FILE_BYTES} bytes: write the health check again with \`uptane vehicle provision --health\`'s JSON`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new HealthCheckConfigError(`${path} is not JSON (${(err as Error).message}): fix it or remove it to commit right after the boot check`, { cause: err });
  }
  try {
    return parseHealthCheckSpec(value, path);
  } catch (err) {
    if (!(err instanceof HealthCheckConfigError)) throw err;
    throw new HealthCheckConfigError(`${err.message}; fix ${path} or remove it to commit right after the boot check`, { cause: err });
  }
}

/** The HealthCheck the ECU in `ecuDir` installs under, or undefined. */
export function loadEcuHealthCheck(ecuDir: string): HealthCheck | undefined {
  const spec = loadEcuHealthSpec(ecuDir);
  return spec === undefined ? undefined : healthCheckFromSpec(spec, ecuDir);
}

/**
 * `--health SERIAL=JSON` of `uptane vehicle provision`: the serial and its checked spec. The JSON is
 * a HealthCheckSpec, e.g. {"soakMs":30000,"pollMs":1000,"probe":{"kind":"exit","command":"/opt/ecu/selftest"}}.
 */
export function parseHealthOption(value: string, serials: readonly string[]): { serial: string; spec: HealthCheckSpec } {
  const at = value.indexOf('=');
  const example = `--health VIN0001-ecm='{"soakMs":30000,"probe":{"kind":"exit","command":"/opt/ecu/selftest"}}'`;
  if (at <= 0) throw new HealthCheckConfigError(`--health ${value}: write SERIAL=JSON, e.g. ${example}`);
  const serial = value.slice(0, at);
  if (!serials.includes(serial)) throw new HealthCheckConfigError(`--health ${serial}=...: no ECU ${serial} in this vehicle (its ECUs: ${serials.join(', ')})`);
  let json: unknown;
  try {
    json = JSON.parse(value.slice(at + 1));
  } catch (err) {
    throw new HealthCheckConfigError(`--health ${serial}=...: not JSON (${(err as Error).message}); e.g. ${example}`, { cause: err });
  }
  return { serial, spec: parseHealthCheckSpec(json, `--health ${serial}`) };
}
