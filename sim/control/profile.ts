// Fleet profiles: which kinds of vehicle a simulated fleet holds (ECUs, hardware ids, each
// secondary's verification, how the primary reaches its secondaries, fault rates), how many of each,
// and what to assign them, from YAML or from the same object as JSON. Parsed once, at the edge, into
// a readonly FleetProfile; the first wrong field is named (docs/code-style.md R9).
import { parseDocument } from 'yaml';
import { HealthCheckConfigError, SimulationProfileError } from '../../shared/core/errors.js';
import { parseHealthCheckSpec, type HealthCheckSpec } from '../../shared/ecu/health-check.js';
import { isSecurityProfile, SECURITY_PROFILES, type SecurityProfile } from '../../shared/core/security-profile.js';
import { ecuProfileShortfalls } from '../../shared/uptane/profile-check.js';
import type { FleetFaults, VehicleGroup } from '../fleet.js';

/** What one profile file asks for. */
export interface FleetProfile {
  readonly seed: string;
  /** Vehicles cycling at once. */
  readonly concurrency: number;
  readonly groups: readonly VehicleGroup[];
  /** Images to assign to every vehicle's ECUs of a hardware id when the fleet starts. */
  readonly assign: ReadonlyArray<{ readonly hardwareId: string; readonly image: string }>;
}

/** Bounds on a profile: it comes from a file or over the control API. */
export interface ProfileLimits {
  readonly maxTextBytes: number;
  readonly maxVehicles: number;
  readonly maxSecondaries: number;
  readonly maxProfiles: number;
}

export const DEFAULT_PROFILE_LIMITS: ProfileLimits = { maxTextBytes: 64 * 1024, maxVehicles: 10_000, maxSecondaries: 16, maxProfiles: 32 };

/** ECU names become part of serials and folder names; hardware ids and image names what the Director accepts. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const HARDWARE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/;
const SEED = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The profile file's fault-rate names (shares 0..1 of a profile's vehicles, picked from the seed). */
const FAULT_RATES = ['driving', 'interruptedDownloads', 'slowDownloads', 'failingBoots', 'powerCuts', 'attacked'] as const;
const SEED_ATTACKS = ['tamper-images', 'replay-director-metadata'] as const;

type Json = Record<string, unknown>;

function fail(path: string, message: string): never {
  throw new SimulationProfileError(`profile ${path}: ${message}`);
}

function object(value: unknown, path: string, allowed: readonly string[]): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'must be a mapping');
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${path}.${key}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }
  return value as Json;
}

function text(value: unknown, path: string, pattern: RegExp, example: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) fail(path, `must be a name like ${example} (${pattern.source})`);
  return value;
}

function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) fail(path, `must be a whole number from ${min} to ${max}`);
  return value;
}

function list(value: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(value)) fail(path, 'must be a list');
  if (value.length > max) fail(path, `at most ${max} entries`);
  return value;
}

/** An ECU's `health:` (soakMs, pollMs, probe), as a profile error naming the field. */
function parseHealth(value: unknown, path: string): { health?: HealthCheckSpec } {
  if (value === undefined) return {};
  let health: HealthCheckSpec;
  try {
    health = parseHealthCheckSpec(value, path);
  } catch (err) {
    if (!(err instanceof HealthCheckConfigError)) throw err;
    throw new SimulationProfileError(`profile ${err.message}`, { cause: err });
  }
  // A profile may arrive over the control API: it never names a command or a file to run or read.
  if (health.probe.kind !== 'simulated') fail(`${path}.probe.kind`, 'must be simulated in a profile (an image starting with FAIL-HEALTH fails its self-test); exit, heartbeat-file and self-test-file probes are for provisioned vehicles (`uptane vehicle provision --health`)');
  return { health };
}

function parseFaults(value: unknown, path: string): FleetFaults {
  const raw = object(value, path, [...FAULT_RATES, 'attack']);
  const faults: Record<string, unknown> = {};
  for (const name of FAULT_RATES) {
    const rate = raw[name];
    if (rate === undefined) continue;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) fail(`${path}.${name}`, 'must be a share from 0 to 1');
    faults[name] = rate;
  }
  if (raw.attack !== undefined) {
    if (!SEED_ATTACKS.includes(raw.attack as (typeof SEED_ATTACKS)[number])) fail(`${path}.attack`, `must be one of ${SEED_ATTACKS.join(', ')}`);
    faults.attack = raw.attack;
  }
  return faults as FleetFaults;
}

/** An ECU's `securityProfile` (docs/security-profiles.md), checked against its verification here rather than at provisioning. */
function parseSecurityProfile(value: unknown, path: string, verification: 'partial' | 'full'): { securityProfile?: SecurityProfile } {
  if (value === undefined) return {};
  if (!isSecurityProfile(value)) fail(path, `must be one of ${SECURITY_PROFILES.join(', ')}`);
  const [shortfall] = ecuProfileShortfalls(value, { verification });
  if (shortfall !== undefined) fail(path, `${shortfall}: give this ECU verification: full, or a lower profile`);
  return { securityProfile: value };
}

function parseVehicleKind(value: unknown, path: string, limits: ProfileLimits): Omit<VehicleGroup, 'name' | 'count'> {
  const raw = object(value, path, ['primary', 'secondaries', 'transport', 'via', 'faults']);
  const primary = object(raw.primary, `${path}.primary`, ['name', 'hardwareId', 'health', 'securityProfile']);
  const secondaries = list(raw.secondaries ?? [], `${path}.secondaries`, limits.maxSecondaries).map((entry, i) => {
    const at = `${path}.secondaries[${i}]`;
    const ecu = object(entry, at, ['name', 'hardwareId', 'verification', 'health', 'securityProfile']);
    if (ecu.verification !== undefined && ecu.verification !== 'partial' && ecu.verification !== 'full') fail(`${at}.verification`, 'must be partial or full');
    return {
      name: text(ecu.name, `${at}.name`, NAME, 'ecm'),
      hardwareId: text(ecu.hardwareId, `${at}.hardwareId`, HARDWARE_ID, 'ecm-x1'),
      ...(ecu.verification === undefined ? {} : { verification: ecu.verification as 'partial' | 'full' }),
      ...parseSecurityProfile(ecu.securityProfile, `${at}.securityProfile`, (ecu.verification as 'partial' | 'full' | undefined) ?? 'partial'),
      ...parseHealth(ecu.health, `${at}.health`),
    };
  });
  const primaryEcu = {
    name: text(primary.name ?? 'tcu', `${path}.primary.name`, NAME, 'tcu'),
    hardwareId: text(primary.hardwareId, `${path}.primary.hardwareId`, HARDWARE_ID, 'tcu-a'),
    ...parseSecurityProfile(primary.securityProfile, `${path}.primary.securityProfile`, 'full'),
    ...parseHealth(primary.health, `${path}.primary.health`),
  };
  const names = [primaryEcu.name, ...secondaries.map((s) => s.name)];
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) fail(path, `ECU name ${twice} is used twice (it names the ECU's serial, <VIN>-${twice})`);
  if (raw.transport !== undefined && raw.transport !== 'in-process' && raw.transport !== 'http' && raw.transport !== 'mqtt') fail(`${path}.transport`, 'must be in-process, http or mqtt');
  if (raw.via !== undefined && raw.via !== 'direct' && raw.via !== 'gateway') fail(`${path}.via`, 'must be direct or gateway (the caching gateway the fleet starts in front of both repositories)');
  return {
    primary: primaryEcu,
    secondaries,
    transport: (raw.transport as 'in-process' | 'http' | 'mqtt' | undefined) ?? 'in-process',
    ...(raw.via === 'gateway' ? { via: 'gateway' as const } : {}),
    faults: raw.faults === undefined ? {} : parseFaults(raw.faults, `${path}.faults`),
  };
}

/** A profile given as an object (JSON over the control API, or parsed YAML). */
export function parseFleetProfile(value: unknown, limits: ProfileLimits = DEFAULT_PROFILE_LIMITS): FleetProfile {
  const raw = object(value, '(top)', ['seed', 'concurrency', 'profiles', 'vehicles', 'assign']);
  const seed = raw.seed === undefined ? 'sim' : text(raw.seed, 'seed', SEED, 'lab-1');
  const concurrency = raw.concurrency === undefined ? 8 : integer(raw.concurrency, 'concurrency', 1, 256);
  const kinds = object(raw.profiles, 'profiles', Object.keys((raw.profiles ?? {}) as Json));
  const names = Object.keys(kinds);
  if (names.length === 0) fail('profiles', 'name at least one kind of vehicle');
  if (names.length > limits.maxProfiles) fail('profiles', `at most ${limits.maxProfiles}`);
  const parsedKinds = new Map<string, Omit<VehicleGroup, 'name' | 'count'>>();
  for (const name of names) parsedKinds.set(text(name, `profiles.${name}`, NAME, 'sedan'), parseVehicleKind(kinds[name], `profiles.${name}`, limits));
  let total = 0;
  const groups = list(raw.vehicles, 'vehicles', limits.maxProfiles).map((entry, i): VehicleGroup => {
    const at = `vehicles[${i}]`;
    const group = object(entry, at, ['profile', 'count']);
    const name = text(group.profile, `${at}.profile`, NAME, 'sedan');
    const kind = parsedKinds.get(name) ?? fail(`${at}.profile`, `no profile named ${name} (profiles: ${names.join(', ')})`);
    const count = integer(group.count, `${at}.count`, 1, limits.maxVehicles);
    total += count;
    if (total > limits.maxVehicles) fail('vehicles', `at most ${limits.maxVehicles} vehicles in all`);
    return { name, count, ...kind };
  });
  if (groups.length === 0) fail('vehicles', 'list at least one { profile, count }');
  const assign = list(raw.assign ?? [], 'assign', 64).map((entry, i) => {
    const at = `assign[${i}]`;
    const a = object(entry, at, ['hardwareId', 'image']);
    return { hardwareId: text(a.hardwareId, `${at}.hardwareId`, HARDWARE_ID, 'ecm-x1'), image: text(a.image, `${at}.image`, IMAGE, 'engine/ecm-2.0.bin') };
  });
  return { seed, concurrency, groups, assign };
}

/** A profile file's text: YAML (JSON is YAML too). Aliases are bounded so a small file cannot expand into a huge one. */
export function parseFleetProfileText(source: string, limits: ProfileLimits = DEFAULT_PROFILE_LIMITS): FleetProfile {
  if (Buffer.byteLength(source) > limits.maxTextBytes) throw new SimulationProfileError(`profile: larger than ${limits.maxTextBytes} bytes`);
  const document = parseDocument(source, { uniqueKeys: true, prettyErrors: true });
  const first = document.errors[0];
  if (first !== undefined) throw new SimulationProfileError(`profile: not valid YAML: ${first.message}`);
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // The yaml package throws a ReferenceError past maxAliasCount ("excessive alias count").
    if (!(err instanceof ReferenceError)) throw err;
    throw new SimulationProfileError(`profile: ${err.message}`);
  }
  return parseFleetProfile(value, limits);
}
