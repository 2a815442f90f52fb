// `uptane vectors export`: each scenario (an honest update, and every catalogued attack decided by
// what the vehicle receives) is played once on a fresh attack scene with real servers; what every
// ECU trusted just before the cycle, every file the vehicle was served during it, the clock, and
// each ECU's verdict are written as one folder (docs/test-vectors.md).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PrimaryState } from '../../primary-ecu/primary.js';
import { installedImages } from '../attacks/attacker.js';
import { ATTACKS } from '../attacks/catalogue.js';
import { ABS, assign, closeAttackScene, ECM, IMAGES, PRIMARY, startAttackScene, type AttackScene } from '../attacks/scene.js';
import {
  cycleVerdicts,
  VECTOR_FORMAT,
  VECTOR_FORMAT_VERSION,
  type InstalledImage,
  type VectorDescription,
  type VectorIndex,
} from './format.js';

/** One scenario to export: staged on a fresh scene up to the moment before the cycle the vector holds. */
export interface VectorScenario {
  readonly name: string;
  readonly title: string;
  readonly attacker: string;
  stage(s: AttackScene): Promise<void>;
}

/** The honest update every attack vector stands against: an image for each of the three ECUs. */
export const HONEST_UPDATE: VectorScenario = {
  name: 'honest-update',
  title: 'an honest update: the Director assigns an image to each ECU, and every ECU installs it',
  attacker: 'none',
  async stage(s) {
    await assign(s, PRIMARY, IMAGES.tcu);
    await assign(s, ECM, IMAGES.ecm);
    await assign(s, ABS, IMAGES.abs);
  },
};

/** Every scenario exported: the honest update, then the catalogued attacks whose outcome the served files decide. */
export const VECTOR_SCENARIOS: readonly VectorScenario[] = [
  HONEST_UPDATE,
  ...ATTACKS.filter((a) => a.vector).map((a) => ({ name: a.name, title: a.title, attacker: a.position, stage: (s: AttackScene) => a.stage(s) })),
];

function write(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** trusted/<serial>/: the ECU's trusted Director and Image repository metadata, and its installed image. */
function writeTrustedState(s: AttackScene, out: string): void {
  const primaryState = JSON.parse(readFileSync(join(s.dir, PRIMARY, 'state.json'), 'utf8')) as PrimaryState;
  const ecus = [[s.car.spec.primary.serial, s.car.primary.slots] as const, ...[...s.car.secondaries].map(([serial, ecu]) => [serial, ecu.slots] as const)];
  for (const [serial, slots] of ecus) {
    for (const repo of ['director', 'image'] as const) {
      const from = join(s.dir, serial, repo);
      if (!existsSync(from)) continue; // a partial-verification secondary trusts no Image repository metadata
      for (const file of readdirSync(from).filter((f) => f.endsWith('.json'))) write(join(out, 'trusted', serial, repo, file), readFileSync(join(from, file)));
    }
    const bytes = readFileSync(slots.slotPath(slots.current.active));
    const installed: InstalledImage = {
      filename: slots.installed.filename,
      length: bytes.length,
      hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
      releaseCounter: primaryState.releaseCounters[serial] ?? null,
    };
    write(join(out, 'trusted', serial, 'installed.json'), json(installed));
    write(join(out, 'trusted', serial, 'installed.bin'), bytes);
  }
}

/** served/<repo>/...: a file the vehicle was served, by the path it asked for (query dropped). */
function servedFile(s: AttackScene, url: string): string {
  const { pathname } = new URL(url);
  const director = '/vehicle/metadata/';
  if (pathname.startsWith(director)) return join('director', 'metadata', decodeURIComponent(pathname.slice(director.length)));
  return join('image', decodeURIComponent(pathname.slice(1)));
}

/** Plays `scenario` on a fresh scene and writes its vector into `root/<name>`. */
export async function exportVector(root: string, scenario: VectorScenario): Promise<void> {
  const s = await startAttackScene();
  try {
    await scenario.stage(s);
    const out = join(root, scenario.name);
    writeTrustedState(s, out);
    const clock = s.clock.now().toISOString();
    const before = installedImages(s.car);
    s.net.served = new Map();
    const result = await s.car.primary.runCycle();
    for (const [url, bytes] of s.net.served) write(join(out, 'served', servedFile(s, url)), bytes);
    s.net.served = undefined;
    const { spec } = s.car;
    const description: VectorDescription = {
      format: VECTOR_FORMAT,
      formatVersion: VECTOR_FORMAT_VERSION,
      name: scenario.name,
      title: scenario.title,
      attacker: scenario.attacker,
      clock,
      vehicle: {
        vin: spec.vin,
        primary: spec.primary.serial,
        ecus: [spec.primary, ...spec.secondaries].map((e) => ({ serial: e.serial, hardwareId: e.hardwareId, verification: e === spec.primary ? 'full' : (e.verification ?? 'partial') })),
      },
    };
    write(join(out, 'vector.json'), json(description));
    write(join(out, 'expected.json'), json(cycleVerdicts(result, spec.primary.serial, before, installedImages(s.car))));
  } finally {
    await closeAttackScene(s);
  }
}

/** Writes every scenario's vector and index.json into `root`, which must be missing or empty. */
export async function exportVectors(root: string, scenarios: readonly VectorScenario[] = VECTOR_SCENARIOS, progress?: (name: string) => void): Promise<VectorIndex> {
  if (existsSync(root) && readdirSync(root).length > 0) throw new Error(`${root} is not empty: export into a new or empty folder`);
  mkdirSync(root, { recursive: true });
  for (const scenario of scenarios) {
    progress?.(scenario.name);
    await exportVector(root, scenario);
  }
  const index: VectorIndex = { format: VECTOR_FORMAT, formatVersion: VECTOR_FORMAT_VERSION, vectors: scenarios.map((v) => v.name) };
  write(join(root, 'index.json'), json(index));
  return index;
}
