// `uptane director bundle export`: an offline bundle for one vehicle (a USB stick, a workshop
// tool), written by offline-bundle-writer.ts from the running Director's operator API and the Image
// repository's public URL. The vehicle installs it with `uptane vehicle install-offline`.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { parseDuration } from '../shared/workspace/duration.js';
import { formatBytes } from '../shared/workspace/cli.js';
import { exportOfflineBundle } from './offline-bundle-writer.js';
import { OperatorClient, printJson, withRemote, type RemoteArgs } from './operator-client.js';

// Below the twelve hours both repositories' timestamps keep at least (re-signed at half of a day), so a default export never fails on it.
const DEFAULT_MIN_VALID = '6h';

interface ExportArgs extends RemoteArgs {
  readonly vin: string;
  readonly out: string;
  readonly imageRepo: string;
  readonly minValid: string;
  readonly json: boolean;
}

const exportCommand = (io: CliEnvironment): CommandModule<object, ExportArgs> => ({
  command: 'export',
  describe: "write an offline bundle for one vehicle: the Director's metadata for it, the Image repository's metadata and the images its ECUs are assigned",
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('vin', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle the bundle is for (only it accepts the bundle)' })
      .option('out', { type: 'string', demandOption: true, requiresArg: true, describe: 'a new or empty folder to write the bundle into (a USB stick, say)' })
      .option('image-repo', {
        type: 'string',
        default: io.env.UPTANE_IMAGE_REPO_URL ?? 'http://127.0.0.1:8081',
        describe: "the Image repository's public URL (env UPTANE_IMAGE_REPO_URL)",
      })
      .option('min-valid', {
        type: 'string',
        default: DEFAULT_MIN_VALID,
        describe: 'refuse to write a bundle that expires sooner than this (e.g. 12h, 2d): its metadata must still be valid by the vehicle clock at install',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print {vin, out, exportedAt, expires, images, files, bytes} as JSON' })
      .example('$0 director bundle export --vin WVW123 --out /media/usb/WVW123', "a bundle for vehicle WVW123's next workshop visit")
      .example('$0 director bundle export --vin WVW123 --out bundle --image-repo http://127.0.0.1:8081 --json', 'the same, for scripts')
      .epilogue(
        "The bundle holds what the vehicle would fetch online, signed as ever; the vehicle verifies all of it from its own trusted roots (`uptane vehicle install-offline --from DIR`). " +
          "It expires with its earliest metadata (the Director's timestamp, a day by default): export it shortly before the visit, and again for a visit that lasts longer. " +
          'The export puts the assignments in flight and is recorded in the audit log.',
      ) as unknown as Argv<ExportArgs>,
  handler: async (argv) => {
    let minValidMs: number;
    try {
      minValidMs = parseDuration(argv.minValid);
    } catch (err) {
      throw new Error(`--min-valid ${argv.minValid}: write a duration such as 12h or 2d`, { cause: err });
    }
    const client = OperatorClient.from(io, argv);
    const say = argv.json ? undefined : io.print;
    try {
      const summary = await exportOfflineBundle({
        vin: argv.vin,
        out: resolve(argv.out),
        imageRepoUrl: argv.imageRepo,
        directorMetadata: (vin) => client.send('POST /vehicles/:vin/offline-metadata', `export vehicle ${vin}'s metadata`, { params: { vin } }),
        clock: systemClock,
        minValidMs,
        log: say === undefined ? undefined : (line) => say(`  ${line}`),
      });
      if (argv.json) {
        printJson(io, summary);
        return;
      }
      io.print(`offline bundle for ${summary.vin} written to ${argv.out}: ${summary.files} files, ${formatBytes(summary.bytes)}`);
      for (const image of summary.images) io.print(`  ${image.ecuSerial}: ${image.filename}`);
      if (summary.images.length === 0) io.print('  no images assigned: the bundle still brings the vehicle its newest metadata');
      io.print(`valid until ${summary.expires} (the vehicle's clock decides); install with \`uptane vehicle install-offline --dir VEHICLE --from ${argv.out}\``);
    } finally {
      client.close();
    }
  },
});

/** The `director bundle` command group. */
export const bundleCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'bundle',
  describe: 'offline bundles: a vehicle update on a USB stick or a workshop tool, for vehicles with no connection',
  builder: (yargs) =>
    yargs
      .command(exportCommand(io))
      .example('$0 director bundle export --vin WVW123 --out /media/usb/WVW123', 'a bundle for one vehicle')
      .demandCommand(1, 'name a bundle subcommand: export'),
  handler: () => undefined,
});
