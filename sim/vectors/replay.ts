// `uptane vectors run`: replays each vector folder (docs/test-vectors.md) against this project's own
// ECUs, offline: the vehicle is provisioned into a temporary folder from the vector's trusted state,
// its primary reads the Director and the Image repository from the vector's served files (a request
// for any other file is a 404), one update cycle runs at the vector's clock, and each ECU's verdict
// is compared with expected.json.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { DownloadLengthError, RemoteNotFoundError, TestVectorFormatError } from '../../shared/core/errors.js';
import type { Fetcher, FetchOptions, FetchResponse } from '../../shared/client/fetcher.js';
import { AbSlots } from '../../shared/ecu/ab-slots.js';
import type { DirectorChannel, DirectorChannelFactory } from '../../shared/uptane/director-channel.js';
import type { PrimaryState } from '../../primary-ecu/primary.js';
import type { SecondaryState } from '../../secondary-ecu/secondary.js';
import { factoryImage, provisionEcus, type VehiclePlan } from '../../vehicle/provision.js';
import { installedImages } from '../attacks/attacker.js';
import { SimulatedVehicle, type SimulatedVehicleSpec } from '../vehicle.js';
import {
  cycleVerdicts,
  isVectorName,
  MAX_DESCRIPTION_BYTES,
  MAX_INSTALLED_IMAGE_BYTES,
  MAX_TRUSTED_METADATA_BYTES,
  VECTOR_FORMAT,
  VECTOR_FORMAT_VERSION,
  type ExpectedVerdicts,
  type InstalledImage,
  type VectorDescription,
  type VectorIndex,
} from './format.js';

/** Where the replayed primary believes its repositories are; nothing listens there. */
const DIRECTOR_URL = 'http://director.vector.invalid';
const IMAGE_URL = 'http://image.vector.invalid';

export interface ReplayResult {
  readonly name: string;
  readonly ok: boolean;
  readonly expected: ExpectedVerdicts;
  readonly actual: ExpectedVerdicts;
  /** One line per ECU (or the cycle) whose verdict differs. */
  readonly differences: readonly string[];
}


/** A vector file that must be there, read whole only when it is at most `maxBytes` (a vector is untrusted input). */
function readBounded(path: string, maxBytes: number): Buffer {
  if (!existsSync(path) || !statSync(path).isFile()) throw new TestVectorFormatError(`${path} is missing: give a folder written by uptane vectors export`);
  if (statSync(path).size > maxBytes) throw new TestVectorFormatError(`${path} is over ${maxBytes} bytes`);
  return readFileSync(path);
}

function readJson<T>(path: string): T {
  if (!existsSync(path)) throw new TestVectorFormatError(`${path} is missing: give a folder written by uptane vectors export`);
  if (statSync(path).size > MAX_DESCRIPTION_BYTES) throw new TestVectorFormatError(`${path} is over ${MAX_DESCRIPTION_BYTES} bytes`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new TestVectorFormatError(`${path} is not JSON: ${(err as Error).message}`);
  }
}

/** Files under `root`, looked up by a path that must stay inside it; past `maxBytes` is the fetcher's DownloadLengthError, as over a network. */
class ServedFiles {
  constructor(private readonly root: string) {}

  answer(path: string, options: Pick<FetchOptions, 'maxBytes' | 'offset'>): FetchResponse {
    const file = resolve(this.root, path);
    if (!file.startsWith(`${resolve(this.root)}${sep}`) || !existsSync(file) || !statSync(file).isFile()) throw new RemoteNotFoundError(`${path}: not in the vector (404)`);
    const offset = options.offset ?? 0;
    if (statSync(file).size - offset > options.maxBytes) throw new DownloadLengthError(`${path} exceeds the ${options.maxBytes}-byte limit`);
    const bytes = readFileSync(file).subarray(offset);
    return { offset, body: (async function* () { yield bytes; })() };
  }
}

/** The Image repository as served files: `<IMAGE_URL>/<path>` is served/image/<path>. */
function imageRepositoryFetcher(served: ServedFiles): Fetcher {
  return {
    fetch: async (url, options) => {
      const { pathname } = new URL(url);
      return served.answer(join('image', decodeURIComponent(pathname.slice(1))), options);
    },
  };
}

/** The Director as served files: its metadata from served/director/metadata/, every manifest accepted. */
function directorChannel(served: ServedFiles): DirectorChannelFactory {
  return (): DirectorChannel => ({
    metadataLocation: `${DIRECTOR_URL}/vehicle/metadata`,
    openSession: async () => undefined,
    resetSession: () => undefined,
    fetchMetadata: async (name, options) => served.answer(join('director', 'metadata', name), options),
    fetchImage: async (name) => {
      throw new RemoteNotFoundError(`${name}: encrypted images are not part of the vector format (404)`);
    },
    sendManifest: async () => ({ accepted: true }),
  });
}

/** Provisions the vector's vehicle into `dir` and puts each ECU's trusted metadata, image and release counter in place. */
function provisionFromVector(vector: string, description: VectorDescription, dir: string): VehiclePlan {
  const { vehicle } = description;
  const primary = vehicle.ecus.find((e) => e.serial === vehicle.primary);
  if (primary === undefined) throw new TestVectorFormatError(`${vector}/vector.json: the primary ${vehicle.primary} is not among the ECUs`);
  const trusted = (serial: string, ...path: string[]) => join(vector, 'trusted', serial, ...path);
  const plan: VehiclePlan = {
    vin: vehicle.vin,
    primary: { serial: primary.serial, hardwareId: primary.hardwareId },
    secondaries: vehicle.ecus.filter((e) => e !== primary).map((e) => ({ serial: e.serial, hardwareId: e.hardwareId, verification: e.verification })),
    directorUrl: DIRECTOR_URL,
    imageRepoUrl: IMAGE_URL,
    directorRoot: readBounded(trusted(primary.serial, 'director', 'root.json'), MAX_TRUSTED_METADATA_BYTES),
    imageRoot: readBounded(trusted(primary.serial, 'image', 'root.json'), MAX_TRUSTED_METADATA_BYTES),
  };
  const spec = { vin: vehicle.vin };
  provisionEcus(dir, plan, (serial) => SimulatedVehicle.keysFor(spec, serial));
  const releaseCounters: Record<string, number> = {};
  for (const ecu of vehicle.ecus) {
    for (const repo of ['director', 'image']) {
      if (!existsSync(trusted(ecu.serial, repo))) continue;
      for (const file of readdirSync(trusted(ecu.serial, repo)).filter((f) => /^[a-z0-9._-]+\.json$/i.test(f))) {
        writeFileSync(join(dir, ecu.serial, repo, file), readBounded(trusted(ecu.serial, repo, file), MAX_TRUSTED_METADATA_BYTES));
      }
    }
    const installed = readJson<InstalledImage>(trusted(ecu.serial, 'installed.json'));
    const counter = installed.releaseCounter;
    if (typeof installed.filename !== 'string' || (counter !== null && !(Number.isSafeInteger(counter) && counter >= 0))) {
      throw new TestVectorFormatError(`${trusted(ecu.serial, 'installed.json')}: needs a filename and a releaseCounter (a whole number, or null)`);
    }
    if (installed.filename !== factoryImage(ecu).filename) {
      rmSync(join(dir, ecu.serial, 'slots'), { recursive: true, force: true });
      AbSlots.provision(join(dir, ecu.serial, 'slots'), { filename: installed.filename, content: readBounded(trusted(ecu.serial, 'installed.bin'), MAX_INSTALLED_IMAGE_BYTES) });
    }
    if (installed.releaseCounter !== null) {
      releaseCounters[ecu.serial] = installed.releaseCounter;
      if (ecu !== primary) {
        const path = join(dir, ecu.serial, 'state.json');
        const state = JSON.parse(readFileSync(path, 'utf8')) as SecondaryState;
        writeFileSync(path, JSON.stringify({ ...state, trustedReleaseCounter: installed.releaseCounter }));
      }
    }
  }
  const path = join(dir, primary.serial, 'state.json');
  const state = JSON.parse(readFileSync(path, 'utf8')) as PrimaryState;
  writeFileSync(path, JSON.stringify({ ...state, releaseCounters }));
  return plan;
}

/** Serials, hardware ids and the VIN become folder names: a short, plain identifier, never `..`. */
const isIdentifier = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value);

/** Most ECUs a vector's vehicle may have. */
const MAX_ECUS = 64;

/** vector.json, checked field by field before any of it names a folder or a clock. */
function loadDescription(vector: string): VectorDescription {
  const where = `${vector}/vector.json`;
  const d = readJson<Partial<VectorDescription>>(join(vector, 'vector.json'));
  if (d.format !== VECTOR_FORMAT || d.formatVersion !== VECTOR_FORMAT_VERSION) {
    throw new TestVectorFormatError(`${where}: format ${JSON.stringify(d.format)} version ${JSON.stringify(d.formatVersion)}; this runner reads "${VECTOR_FORMAT}" version ${VECTOR_FORMAT_VERSION}`);
  }
  if (typeof d.name !== 'string' || !isVectorName(d.name)) throw new TestVectorFormatError(`${where}: name must be lower case letters, digits, dots and hyphens`);
  if (typeof d.clock !== 'string' || Number.isNaN(Date.parse(d.clock))) throw new TestVectorFormatError(`${where}: clock must be an ISO 8601 time`);
  const vehicle = d.vehicle;
  if (vehicle === undefined || !isIdentifier(vehicle.vin) || !isIdentifier(vehicle.primary)) throw new TestVectorFormatError(`${where}: vehicle needs a vin and a primary serial (letters, digits, . _ -)`);
  if (!Array.isArray(vehicle.ecus) || vehicle.ecus.length === 0 || vehicle.ecus.length > MAX_ECUS) throw new TestVectorFormatError(`${where}: vehicle.ecus must list 1 to ${MAX_ECUS} ECUs`);
  vehicle.ecus.forEach((ecu, i) => {
    if (!isIdentifier(ecu?.serial) || !isIdentifier(ecu.hardwareId) || (ecu.verification !== 'full' && ecu.verification !== 'partial')) {
      throw new TestVectorFormatError(`${where}: vehicle.ecus[${i}] needs a serial and a hardwareId (letters, digits, . _ -) and verification "full" or "partial"`);
    }
  });
  if (new Set(vehicle.ecus.map((e) => e.serial)).size !== vehicle.ecus.length) throw new TestVectorFormatError(`${where}: vehicle.ecus lists a serial twice`);
  return d as VectorDescription;
}

/** Replays the vector in folder `vector` and compares each ECU's verdict with its expected.json. */
export async function replayVector(vector: string): Promise<ReplayResult> {
  const description = loadDescription(vector);
  const expected = readJson<ExpectedVerdicts>(join(vector, 'expected.json'));
  const dir = mkdtempSync(join(tmpdir(), 'uptane-vector-'));
  try {
    const plan = provisionFromVector(vector, description, dir);
    const served = new ServedFiles(join(vector, 'served'));
    const spec: SimulatedVehicleSpec = {
      ...plan,
      directory: dir,
      clock: new FixedClock(new Date(description.clock)),
      fetcher: imageRepositoryFetcher(served),
      directorChannel: directorChannel(served),
    };
    const car = await SimulatedVehicle.open(spec);
    const before = installedImages(car);
    const result = await car.primary.runCycle();
    const actual = cycleVerdicts(result, plan.primary.serial, before, installedImages(car));
    const differences: string[] = [];
    const show = (v: unknown) => JSON.stringify(v ?? null);
    if (show(actual.cycle) !== show(expected.cycle)) differences.push(`cycle: expected ${show(expected.cycle)}, got ${show(actual.cycle)}`);
    for (const serial of new Set([...Object.keys(expected.ecus ?? {}), ...Object.keys(actual.ecus)])) {
      if (show(actual.ecus[serial]) !== show(expected.ecus?.[serial])) differences.push(`${serial}: expected ${show(expected.ecus?.[serial])}, got ${show(actual.ecus[serial])}`);
    }
    return { name: description.name, ok: differences.length === 0, expected, actual, differences };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Replays every vector index.json lists in `root`. */
export async function replayVectors(root: string, progress?: (result: ReplayResult) => void): Promise<ReplayResult[]> {
  const index = readJson<VectorIndex>(join(root, 'index.json'));
  if (index.format !== VECTOR_FORMAT || !Array.isArray(index.vectors)) throw new TestVectorFormatError(`${join(root, 'index.json')}: not an index of "${VECTOR_FORMAT}" vectors`);
  const results: ReplayResult[] = [];
  for (const name of index.vectors) {
    if (typeof name !== 'string' || !isVectorName(name)) throw new TestVectorFormatError(`${join(root, 'index.json')}: ${JSON.stringify(name)} is not a vector name`);
    const result = await replayVector(join(root, name));
    progress?.(result);
    results.push(result);
  }
  return results;
}

