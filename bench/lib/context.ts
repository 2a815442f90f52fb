// What every figure gets: the clock, the settings (environment variables read once, in run.ts), a
// scratch folder, and helpers that set up repositories and vehicles the way the tests do.
import { startRepositories, FIXTURE_NOW, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';
import { RunningClock } from './clock.js';

export interface BenchSettings {
  /** Smaller counts everywhere (BENCH_QUICK=1), for a smoke run. */
  readonly quick: boolean;
  /** Vehicles of the fleet figure (BENCH_FLEET_VEHICLES, default 1000). */
  readonly fleetVehicles: number;
  /** Worker threads the fleet is spread over (BENCH_FLEET_THREADS, default 4). */
  readonly fleetThreads: number;
  /** Target size of the scale figure (BENCH_SCALE_VEHICLES, default 1,000,000). */
  readonly scaleVehicles: number;
  /** Seconds the scale figure may spend registering vehicles through the Director service. */
  readonly scaleServiceSeconds: number;
  /** Seconds it may then spend inserting the rest through the storage layer. */
  readonly scaleStorageSeconds: number;
  /** Vehicles of 5 ECUs figure 15 loads into PostgreSQL (BENCH_PG_VEHICLES, default 1,000,000; quick 100,000). */
  readonly postgresVehicles: number;
  /** The same figure's SQLite comparison (BENCH_PG_SQLITE_VEHICLES, default the PostgreSQL size). */
  readonly postgresSqliteVehicles: number;
  /** Size of the large image of figure 4, MiB (BENCH_IMAGE_MIB, default 256). */
  readonly imageMiB: number;
  /** Vehicles of the dashboard figure 17 (BENCH_DASHBOARD_VEHICLES, default 1,000,000; quick 50,000). */
  readonly dashboardVehicles: number;
}

export interface BenchContext {
  readonly clock: RunningClock;
  readonly settings: BenchSettings;
  /** A folder removed at the end of the run. */
  readonly tmp: string;
}

export const benchClock = () => RunningClock.from(FIXTURE_NOW);

export function startBenchRepositories(ctx: BenchContext, label: string): Promise<Repositories> {
  return startRepositories(ctx.clock, `bench-${label}`);
}

/** A vehicle of one primary (hardware id "tcu") and `secondaries` secondaries ("ecu-1", ...). */
export function testVehicle(ctx: BenchContext, vin: string, secondaries: number): TestVehicle {
  const layout = [{ serial: `${vin}-tcu`, hardwareId: 'tcu', primary: true }];
  for (let i = 1; i <= secondaries; i++) layout.push({ serial: `${vin}-ecu${i}`, hardwareId: `ecu-${i}`, primary: false });
  return new TestVehicle(vin, layout, ctx.clock);
}

export async function operatorOk(repos: Repositories, method: string, path: string, body: unknown, expected = [200, 201]): Promise<Record<string, unknown>> {
  const { status, json } = await repos.operator(method, path, body);
  if (!expected.includes(status)) throw new Error(`${method} ${path}: HTTP ${status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

export async function registerAll(repos: Repositories, registrations: ReadonlyArray<{ vin: string; ecus: readonly unknown[] }>): Promise<void> {
  for (const registration of registrations) await operatorOk(repos, 'POST', '/api/v1/vehicles', registration);
}

/** Assigns `image` to every ECU with `hardwareId` of each VIN (operator API, in chunks). */
export async function assignAll(repos: Repositories, vins: readonly string[], image: string, hardwareId: string): Promise<void> {
  for (let i = 0; i < vins.length; i += 10_000) {
    await operatorOk(repos, 'POST', '/api/v1/assignments', { vins: vins.slice(i, i + 10_000), image, hardwareId });
  }
}
