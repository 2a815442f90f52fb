// Figure 6's fleet, in a worker thread (the two repository servers keep the main thread): the fleet
// simulator (sim/fleet.ts) provisions and registers its vehicles, waits for the operator to assign
// images, then runs update rounds on command and reports each round's summary.
import { parentPort, workerData } from 'node:worker_threads';
import { Fleet, type FleetSummary } from '../../sim/fleet.js';
import { RunningClock, type ClockAnchor } from './clock.js';

export interface FleetJob {
  readonly directorUrl: string;
  readonly imageRepoUrl: string;
  readonly directorRoot: Uint8Array;
  readonly imageRoot: Uint8Array;
  readonly directory: string;
  readonly anchor: ClockAnchor;
  readonly size: number;
  readonly secondaries: number;
  readonly seed: string;
  readonly operatorToken: string;
  readonly concurrency: number;
}

export type FleetMessage =
  | { readonly kind: 'provisioned'; readonly seconds: number; readonly vins: readonly string[] }
  | { readonly kind: 'round'; readonly seconds: number; readonly summary: FleetSummary; readonly installedEverywhere: boolean }
  | { readonly kind: 'fatal'; readonly error: string };

const job = workerData as FleetJob;
const port = parentPort!;

async function main(): Promise<void> {
  const t0 = performance.now();
  const fleet = await Fleet.start({
    size: job.size,
    secondariesPerVehicle: job.secondaries,
    seed: job.seed,
    directory: job.directory,
    directorUrl: job.directorUrl,
    imageRepoUrl: job.imageRepoUrl,
    directorRoot: job.directorRoot,
    imageRoot: job.imageRoot,
    clock: new RunningClock(job.anchor),
    concurrency: job.concurrency,
    register: async (registration) => {
      const response = await fetch(`${job.directorUrl}/api/v1/vehicles`, {
        method: 'POST',
        body: JSON.stringify(registration),
        headers: { authorization: `Bearer ${job.operatorToken}`, 'content-type': 'application/json' },
      });
      if (response.status !== 201) throw new Error(`registration refused: HTTP ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    },
  });
  post({ kind: 'provisioned', seconds: (performance.now() - t0) / 1000, vins: fleet.records.map((r) => r.vehicle.spec.vin) });
  // Each 'round' message runs one round; the summary counts only that round's cycles.
  port.on('message', (command: { kind: 'round' | 'stop'; expected?: Record<string, string> }) => {
    if (command.kind === 'stop') {
      port.close();
      return;
    }
    const before = fleet.records.map((r) => r.results.length);
    const started = performance.now();
    fleet.runRound().then(
      () => {
        const seconds = (performance.now() - started) / 1000;
        const round = fleet.records.map((r, i) => r.results.slice(before[i]));
        const byStatus: FleetSummary['byStatus'] = { 'no-update': 0, installed: 0, deferred: 0, failed: 0 };
        const errors: Record<string, number> = {};
        for (const result of round.flat()) {
          byStatus[result.status]++;
          if (result.error !== undefined) errors[result.error.code] = (errors[result.error.code] ?? 0) + 1;
        }
        const all = fleet.summary();
        const summary: FleetSummary = { ...all, cycles: round.flat().length, byStatus, errors, seconds, cyclesPerSecond: round.flat().length / seconds };
        const expected = command.expected ?? {};
        const installedEverywhere = fleet.installedImages().every(({ installed }) => Object.entries(installed).every(([serial, file]) => expected[serial.replace(/^.*-/, '')] === undefined || expected[serial.replace(/^.*-/, '')] === file));
        post({ kind: 'round', seconds, summary, installedEverywhere });
      },
      (err: unknown) => post({ kind: 'fatal', error: (err as Error).stack ?? String(err) }),
    );
  });
}

function post(message: FleetMessage): void {
  port.postMessage(message);
}

main().catch((err: unknown) => post({ kind: 'fatal', error: (err as Error).stack ?? String(err) }));
