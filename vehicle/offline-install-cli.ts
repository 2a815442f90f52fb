// `uptane vehicle install-offline --from DIR`: one update cycle of the vehicle in a folder, with an
// offline bundle (from `uptane director bundle export`) in place of the network. The primary's own
// cycle runs on it, so the bundle is verified exactly as the repositories are online; the manifest
// it cannot send waits, with the install and any attack detected, for the next online cycle.
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import { printJson } from '../shared/cli/cli-output.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { formatExpires } from '../shared/core/metadata/parse.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { openVehicle } from './compose.js';
import { loadVehicleConfig, lockVehicle, VEHICLE_FILES, type LastCycle } from './folder.js';
import { offlineBundleTransport } from './offline-transport.js';

interface InstallOfflineArgs {
  readonly dir: string;
  readonly from: string;
  readonly json: boolean;
}

async function installOffline(io: CliEnvironment, args: InstallOfflineArgs): Promise<void> {
  const dir = resolve(args.dir);
  const config = loadVehicleConfig(dir);
  const unlock = lockVehicle(dir);
  const say = args.json ? undefined : io.print;
  try {
    const transport = offlineBundleTransport(resolve(args.from), join(dir, config.primary.serial), config);
    const vehicle = await openVehicle(dir, config, new Map(), { log: say === undefined ? undefined : (line) => say(`  ${line}`) }, transport);
    let cycle: LastCycle;
    try {
      const at = formatExpires(systemClock.now());
      const result = await vehicle.primary.runCycle();
      cycle = {
        at,
        status: result.status,
        manifestSent: false,
        ...(result.error === undefined ? {} : { error: result.error }),
        outcomes: result.outcomes,
        pending: (vehicle.primary.pending?.targets ?? []).map((t) => ({ ecuSerial: t.ecuSerial, filename: t.filename })),
      };
    } finally {
      vehicle.close();
    }
    writeFileAtomic(join(dir, VEHICLE_FILES.lastCycle), Buffer.from(JSON.stringify(cycle)));
    if (args.json) printJson(io, { ...cycle, from: args.from }, { compact: true });
    else describe(io, args, cycle);
    if (cycle.status === 'failed') {
      throw new Error(`the offline install failed${cycle.error === undefined ? ' on an ECU' : ` (${cycle.error.code})`}; nothing unverified was installed, and the next online cycle reports it`);
    }
  } finally {
    unlock();
  }
}

function describe(io: CliEnvironment, args: InstallOfflineArgs, cycle: LastCycle): void {
  const outcomes = Object.entries(cycle.outcomes);
  switch (cycle.status) {
    case 'no-update':
      io.print(`${cycle.at} no update: the bundle holds nothing this vehicle does not run already`);
      break;
    case 'installed':
      io.print(`${cycle.at} installed from ${args.from}: ${outcomes.length} ECU${outcomes.length === 1 ? '' : 's'} updated`);
      break;
    case 'deferred':
      io.print(`${cycle.at} deferred: the bundle verified, but the vehicle is driving; park it (\`uptane vehicle state --dir ${args.dir} parked\`) and run this again`);
      break;
    case 'failed':
      io.print(`${cycle.at} refused${cycle.error === undefined ? '' : `: ${cycle.error.code}: ${cycle.error.message}`}`);
      break;
  }
  for (const [serial, o] of outcomes) io.print(`  ${serial}: ${o.status.replace('_', ' ')} ${o.filename}${o.code === undefined ? '' : ` (${o.code}: ${o.message ?? ''})`}`);
  io.print('  the Director learns of this at the next online cycle (`uptane vehicle run --once`), from the vehicle version manifest');
}

export const installOfflineCommand = (io: CliEnvironment): CommandModule<object, InstallOfflineArgs> => ({
  command: 'install-offline',
  describe: 'install from an offline bundle folder (`uptane director bundle export`), verified in full as online, with no network',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle folder' })
      .option('from', { type: 'string', demandOption: true, requiresArg: true, describe: 'the offline bundle folder (a USB stick, a workshop share)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the cycle as one JSON object (no progress lines)' })
      .example('$0 vehicle install-offline --dir car1 --from /media/usb/WVW123', "install car1's bundle from a USB stick")
      .example('$0 vehicle install-offline --dir car1 --from bundle --json', 'the same, for scripts: {status, outcomes, error?, ...}')
      .epilogue(
        "Refused, with nothing installed: a bundle for another VIN, one older than the metadata the vehicle trusts, one whose metadata expired by the vehicle's clock, " +
          'and any file that fails verification. The install, or the attack, reaches the Director with the next online cycle. Exit status 1 when refused.',
      ) as unknown as Argv<InstallOfflineArgs>,
  handler: (argv) => installOffline(io, argv),
});
