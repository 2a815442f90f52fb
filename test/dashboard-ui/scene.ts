// The world the dashboard's browser tests and screenshots run in: a real Image repository and
// Director on loopback (sim/harness/fleet-fixtures.ts), one signed image, an admin and a read-only
// operator token, and two simulated fleets: honest vehicles, and vehicles behind a network attacker
// that tampers with images (they detect it and report it to the Director).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { Fleet, simSecondaryHardware } from '../../sim/fleet.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';

export const ADMIN_TOKEN = OPERATOR_TOKEN;
export const ADMIN_NAME = 'fixture-operator';
export const READ_TOKEN = 'dashboard-read-only-token';
export const READ_NAME = 'auditor';
export const GOOD = { name: 'sim/ecu1-v2.bin', content: Buffer.from('simulated ECU image v2 for the dashboard'), hardwareIds: [simSecondaryHardware(0)], releaseCounter: 2 };

export interface DashboardScene {
  readonly repos: Repositories;
  readonly clock: FixedClock;
  readonly honest: Fleet;
  readonly attacked: Fleet;
  readonly url: string;
  /** GET/POST on the operator API with the admin token (what the test checks the browser's work against). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  /** Provisions and registers more simulated vehicles, with these attributes. */
  addFleet(seed: string, size: number, attributes?: Readonly<Record<string, string>>): Promise<Fleet>;
  close(): Promise<void>;
}

export async function startDashboardScene(label: string, sizes = { honest: 6, attacked: 3 }): Promise<DashboardScene> {
  const clock = new FixedClock(FIXTURE_NOW);
  const repos = await startRepositories(clock, label);
  const dir = mkdtempSync(join(tmpdir(), 'uptane-dashboard-'));
  try {
    await repos.publishImages([GOOD]);
    await repos.director.storage.addOperator(READ_NAME, READ_TOKEN, clock.now(), { scope: 'read' });
    const fleet = (seed: string, size: number, faults = {}, attributes: Readonly<Record<string, string>> = { model: 'sim-x', region: seed }) =>
      Fleet.start({
        size,
        secondariesPerVehicle: 1,
        seed,
        directory: join(dir, seed),
        directorUrl: repos.director.url,
        imageRepoUrl: repos.image.url,
        directorRoot: repos.directorRoot,
        imageRoot: repos.imageRoot,
        clock,
        faults,
        concurrency: 4,
        register: async (registration) => {
          const result = await repos.operator('POST', '/api/v1/vehicles', { ...registration, attributes });
          if (result.status !== 201) throw new Error(JSON.stringify(result.json));
        },
      });
    const honest = await fleet('honest', sizes.honest);
    const attacked = await fleet('attacked', sizes.attacked, { attacked: 1, attack: 'tamper-images' });
    return {
      repos,
      clock,
      honest,
      attacked,
      get url() {
        return repos.director.url;
      },
      api: (method, path, body) => repos.operator(method, path, body),
      addFleet: (seed, size, attributes) => fleet(seed, size, {}, attributes),
      async close() {
        await repos.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await repos.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export const vinsOf = (fleet: Fleet): string[] => fleet.records.map((r) => r.vehicle.spec.vin);

/** The Director's order of a group's vehicles in campaign `id` (director-repo/campaigns.ts rankOf). */
export const campaignRank = (id: number, vin: string): string => createHash('sha256').update(`campaign:${id}:${vin}`).digest('hex');

/**
 * A group for campaign `id` whose first `firstStage` vehicles are all honest and that holds at least
 * one attacked vehicle: stage 1 completes, and an attack comes only once stage 2 starts.
 */
export function stagedGroup(scene: DashboardScene, id: number, firstStage: number): string[] {
  const rank = (vin: string) => campaignRank(id, vin);
  const honest = vinsOf(scene.honest).sort((a, b) => rank(a).localeCompare(rank(b)));
  const bar = rank(honest[firstStage - 1]!);
  const attacked = vinsOf(scene.attacked).filter((vin) => rank(vin) > bar);
  if (attacked.length === 0) throw new Error('no attacked vehicle ranks after the first stage: change the fleet seeds');
  return [...honest, ...attacked];
}
