// `uptane vehicle run`: update cycles of the vehicle in a folder, once or on an interval, with the
// secondaries opened in this process or reached over HTTP (vehicle/compose.ts). Each cycle's result
// is kept in the folder for `uptane vehicle status`.
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import { printJson } from '../shared/cli/cli-output.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { formatExpires } from '../shared/core/metadata/parse.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { parseDuration } from '../shared/workspace/duration.js';
import type { Primary } from '../primary-ecu/primary.js';
import { checkHttpUrl } from './cli-args.js';
import { openVehicle } from './compose.js';
import { loadVehicleConfig, lockVehicle, VEHICLE_FILES, type LastCycle, type VehicleConfig } from './folder.js';

const DEFAULT_INTERVAL = '30s';

interface RunArgs {
  readonly dir: string;
  readonly once: boolean;
  readonly interval?: string | undefined;
  readonly secondaryUrl: string[];
  readonly json: boolean;
}

/** `serial=URL` pairs, each naming a secondary of this vehicle. */
function parseSecondaryUrls(specs: readonly string[], config: VehicleConfig): Map<string, string> {
  const known = new Set(config.secondaries.map((s) => s.serial));
  const urls = new Map<string, string>();
  for (const spec of specs) {
    const at = spec.indexOf('=');
    if (at <= 0) throw new Error(`--secondary-url ${spec}: write serial=URL, e.g. VIN0001-ecm=http://127.0.0.1:9031`);
    const serial = spec.slice(0, at);
    if (!known.has(serial)) {
      throw new Error(`--secondary-url ${spec}: ${serial} is not a secondary of vehicle ${config.vin} (its secondaries: ${[...known].join(', ') || 'none'})`);
    }
    if (urls.has(serial)) throw new Error(`--secondary-url names ${serial} twice`);
    urls.set(serial, checkHttpUrl(spec.slice(at + 1), `--secondary-url ${serial}=`));
  }
  return urls;
}

/** Prints a download's progress at every quarter (a line each, so logs and pipes read well). */
function progressPrinter(say: (line: string) => void): (filename: string, received: number, total: number) => void {
  const shown = new Map<string, number>();
  return (filename, received, total) => {
    const quarter = total === 0 ? 4 : Math.floor((received / total) * 4);
    if (quarter <= (shown.get(filename) ?? 0) || quarter === 0) return;
    shown.set(filename, quarter);
    say(`  ${filename}: ${quarter * 25}% (${received} of ${total} bytes)`);
  };
}

function describeCycle(io: CliEnvironment, dir: string, cycle: LastCycle): void {
  const outcomes = Object.entries(cycle.outcomes);
  const outcomeLines = outcomes.map(([serial, o]) => `  ${serial}: ${o.status.replace('_', ' ')} ${o.filename}${o.code === undefined ? '' : ` (${o.code}: ${o.message ?? ''})`}`);
  switch (cycle.status) {
    case 'no-update':
      io.print(`${cycle.at} no update: every ECU runs what the Director assigned`);
      break;
    case 'installed':
      io.print(`${cycle.at} installed: ${outcomes.length} ECU${outcomes.length === 1 ? '' : 's'} updated`);
      outcomeLines.forEach((l) => io.print(l));
      break;
    case 'deferred':
      io.print(`${cycle.at} deferred: the update is downloaded and verified, but the vehicle is driving; it installs once the vehicle is parked`);
      outcomeLines.forEach((l) => io.print(l));
      cycle.pending.forEach((p) => io.print(`  waiting: ${p.ecuSerial} ${p.filename}`));
      io.print(`  park with \`uptane vehicle state --dir ${dir} parked\`, then run again`);
      break;
    case 'failed':
      io.print(`${cycle.at} failed${cycle.error === undefined ? '' : `: ${cycle.error.code}: ${cycle.error.message}`}`);
      outcomeLines.forEach((l) => io.print(l));
      io.print(`  the previous images and trusted metadata stay in place; the failure goes to the Director in the next manifest`);
      break;
  }
  if (!cycle.manifestSent) io.print('  note: the vehicle version manifest was not sent this cycle (see above), so the Director has not seen this state');
}

async function runCycle(primary: Primary): Promise<LastCycle> {
  const at = formatExpires(systemClock.now());
  const result = await primary.runCycle();
  return {
    at,
    status: result.status,
    manifestSent: result.manifestSent,
    ...(result.error === undefined ? {} : { error: result.error }),
    outcomes: result.outcomes,
    pending: (primary.pending?.targets ?? []).map((t) => ({ ecuSerial: t.ecuSerial, filename: t.filename })),
  };
}

async function run(io: CliEnvironment, args: RunArgs): Promise<void> {
  if (args.once && args.interval !== undefined) throw new Error('give --once or --interval, not both');
  let intervalMs = 0;
  if (!args.once) {
    try {
      intervalMs = parseDuration(args.interval ?? DEFAULT_INTERVAL);
    } catch (err) {
      throw new Error(`--interval ${args.interval ?? ''}: write a duration such as 30s, 5m or 1h`, { cause: err });
    }
  }
  const dir = resolve(args.dir);
  const config = loadVehicleConfig(dir);
  const urls = parseSecondaryUrls(args.secondaryUrl, config);
  const unlock = lockVehicle(dir);
  const say = args.json ? undefined : io.print;
  try {
    const vehicle = await openVehicle(dir, config, urls, {
      log: say === undefined ? undefined : (line) => say(`  ${line}`),
      onDownloadProgress: say === undefined ? undefined : progressPrinter(say),
    });
    try {
      if (args.once) {
        const cycle = await runCycle(vehicle.primary);
        writeFileAtomic(join(dir, VEHICLE_FILES.lastCycle), Buffer.from(JSON.stringify(cycle)));
        if (args.json) printJson(io, cycle, { compact: true });
        else describeCycle(io, args.dir, cycle);
        if (cycle.status === 'failed') {
          throw new Error(`the update cycle failed${cycle.error === undefined ? ' on an ECU' : ` (${cycle.error.code})`}; \`uptane vehicle status --dir ${args.dir}\` shows each ECU`);
        }
        return;
      }
      await runLoop(io, dir, args, vehicle.primary, intervalMs);
    } finally {
      vehicle.close();
    }
  } finally {
    unlock();
  }
}

async function runLoop(io: CliEnvironment, dir: string, args: RunArgs, primary: Primary, intervalMs: number): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => {
    if (!args.json) io.print('stopping after the current cycle');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (!args.json) io.print(`running an update cycle every ${args.interval ?? DEFAULT_INTERVAL} for vehicle in ${dir}; Ctrl-C stops`);
  try {
    while (!stop.signal.aborted) {
      let cycle: LastCycle;
      try {
        cycle = await runCycle(primary);
      } catch (err) {
        // Not a verdict on the repositories (those end the cycle as "failed"): say it and try again next time.
        cycle = { at: formatExpires(systemClock.now()), status: 'failed', manifestSent: false, error: { code: 'internal', message: (err as Error).message }, outcomes: {}, pending: [] };
      }
      writeFileAtomic(join(dir, VEHICLE_FILES.lastCycle), Buffer.from(JSON.stringify(cycle)));
      if (args.json) printJson(io, cycle, { compact: true });
      else describeCycle(io, args.dir, cycle);
      await new Promise<void>((done) => {
        const timer = setTimeout(done, intervalMs);
        stop.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          done();
        });
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export const runCommand = (io: CliEnvironment): CommandModule<object, RunArgs> => ({
  command: 'run',
  describe: 'run update cycles: send the vehicle manifest, verify both repositories, download, hand images to the secondaries, install (never while driving)',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle folder' })
      .option('once', { type: 'boolean', default: false, describe: 'run one cycle and exit: status 1 if it failed' })
      .option('interval', { type: 'string', requiresArg: true, describe: `time between cycles when looping (default ${DEFAULT_INTERVAL}), e.g. 30s, 5m` })
      .option('secondary-url', {
        type: 'string',
        array: true,
        default: [] as string[],
        requiresArg: true,
        describe: 'reach a secondary over HTTP (serial=URL, from `uptane vehicle secondary serve`) instead of opening its folder in this process; repeat for each',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object per cycle (no progress lines)' })
      .example('$0 vehicle run --dir car1 --once', 'one update cycle with every secondary in this process')
      .example('$0 vehicle run --dir car1 --interval 5m', 'a cycle every five minutes until Ctrl-C')
      .example('$0 vehicle run --dir car1 --once --secondary-url VIN0001-ecm=http://127.0.0.1:9031', 'secondary VIN0001-ecm runs in its own process (`uptane vehicle secondary serve`)')
      .epilogue('Each cycle ends as one of: no update, installed, deferred (downloaded and verified, waiting for the vehicle to park) or failed.') as unknown as Argv<RunArgs>,
  handler: (argv) => run(io, argv),
});

