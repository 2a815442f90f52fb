// `uptane director images list`: the images an operator can assign, i.e. the ones the Image
// repository has signed, as the Director verified them (GET /api/v1/images, which the dashboard's
// image page reads too), with the hardware ids and release counter each is for.
import type { Argv, CommandModule } from 'yargs';
import type { CatalogImage } from './api/operator-api.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { formatBytes } from '../shared/workspace/cli.js';
import { OperatorClient, plural, printJson, printTable, withRemote, type RemoteArgs } from './operator-client.js';

/** The most the server gives in one page (director-repo/operator-input.ts LIMITS.pageRows). */
const PAGE = 1000;

interface ImagesListArgs extends RemoteArgs {
  readonly hardwareId?: string | undefined;
  readonly json: boolean;
}

const listCommand = (io: CliEnvironment): CommandModule<object, ImagesListArgs> => ({
  command: ['list', '$0'],
  describe: 'the images the Image repository has signed, which `director assign` and campaigns can use, with their hardware ids and release counters',
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('hardware-id', { type: 'string', requiresArg: true, describe: 'only images for this hardware id' })
      .option('json', { type: 'boolean', default: false, describe: 'print {images: [{filename, length, sha256, hardwareIds, releaseCounter, minimumSecurityProfile}], total} as JSON' })
      .example('$0 director images list', 'every image an operator can assign')
      .example('$0 director images list --hardware-id ecm-x1 --json', 'the images for one kind of ECU, for scripts')
      .epilogue(
        'MIN PROFILE is the lowest ECU security profile the Image repository allows to install the image (any: no minimum); the Director refuses to assign it to an ECU below it. ' +
          'Images listed only by delegated targets roles are not shown; `director assign` finds those by hardware id. An image the Image repository signed after the Director last refreshed its copy appears within its refresh interval.',
      ) as Argv<ImagesListArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const images: CatalogImage[] = [];
    try {
      // Paged by name on the server: read every page, so the filter sees them all.
      for (let after = ''; ; ) {
        const page = await client.send('GET /images', 'list images', { query: { limit: PAGE, ...(after === '' ? {} : { after }) } });
        images.push(...page.images);
        if (page.images.length < PAGE) break;
        after = page.images[page.images.length - 1]!.filename;
      }
    } finally {
      client.close();
    }
    const shown = argv.hardwareId === undefined ? images : images.filter((i) => i.hardwareIds.includes(argv.hardwareId!));
    if (argv.json) {
      printJson(io, { images: shown, total: shown.length });
      return;
    }
    printTable(
      io,
      ['IMAGE', 'HARDWARE IDS', 'RELEASE', 'MIN PROFILE', 'SIZE', 'SHA-256'],
      shown.map((i) => [
        i.filename,
        i.hardwareIds.join(',') || '-',
        i.releaseCounter === null ? '-' : String(i.releaseCounter),
        // Older Directors answer without the field.
        i.minimumSecurityProfile ?? 'any',
        formatBytes(i.length),
        (i.sha256 ?? '-').slice(0, 12),
      ]),
      argv.hardwareId === undefined
        ? 'the Image repository has signed no images yet: release engineers publish them with `uptane image push`'
        : `no image for hardware id ${argv.hardwareId}; \`uptane director images list\` shows every image`,
    );
    io.print(`${plural(shown.length, 'image')}${argv.hardwareId === undefined ? '' : ` for ${argv.hardwareId}`}; assign one with \`uptane director assign --image NAME --vin VIN --ecu SERIAL\``);
  },
});

export const imagesCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'images',
  describe: 'the images an operator can assign (signed by the Image repository)',
  builder: (yargs) => yargs.command(listCommand(io)).demandCommand(1, 'name an images subcommand: list'),
  handler: () => undefined,
});
