// `uptane gateway serve`: a caching gateway in front of an Image repository and a Director, for a
// depot, a dealership or a regional edge (docs/gateway.md). Registered by the root cli.ts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../shared/cli/cli-output.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { describeServeTls, serveTlsConfig, withServeTlsOptions, type ServeTlsArgs } from '../shared/cli/serve-tls-args.js';
import { DEFAULT_GATEWAY_LIMITS } from './limits.js';

interface ServeArgs extends ServeTlsArgs {
  readonly upstreamImage: string;
  readonly upstreamDirector: string;
  readonly port: number;
  readonly host: string;
  readonly cacheDir: string;
  readonly cacheMaxBytes: number;
  readonly metadataFreshMs: number;
  readonly upstreamCa?: string | undefined;
  readonly prefetch?: string[] | undefined;
  readonly prefetchIntervalSeconds: number;
  readonly json: boolean;
}

const MiB = 1024 * 1024;

const serveCommand = (io: CliEnvironment): CommandModule<object, ServeArgs> => ({
  command: 'serve',
  describe: 'run a caching gateway: Image repository metadata and images kept for many vehicles, Director requests passed through',
  builder: (yargs) =>
    withServeTlsOptions(yargs, io, 'UPTANE_GATEWAY', 'clients (not used by the gateway: vehicles authenticate to the Director with signed requests)')
      .option('upstream-image', { type: 'string', demandOption: true, requiresArg: true, describe: 'the Image repository behind the gateway (http:// or https://)' })
      .option('upstream-director', { type: 'string', demandOption: true, requiresArg: true, describe: 'the Director behind the gateway (http:// or https://)' })
      .option('port', { type: 'number', default: Number(io.env.UPTANE_GATEWAY_PORT ?? 8082), describe: 'TCP port (env UPTANE_GATEWAY_PORT)' })
      .option('host', { type: 'string', default: io.env.UPTANE_GATEWAY_HOST ?? '127.0.0.1', describe: 'address to listen on (env UPTANE_GATEWAY_HOST)' })
      .option('cache-dir', { type: 'string', default: io.env.UPTANE_GATEWAY_CACHE_DIR ?? '.uptane-data/gateway', describe: 'folder of the cache; what it holds is served again after a restart (env UPTANE_GATEWAY_CACHE_DIR)' })
      .option('cache-max-bytes', {
        type: 'number',
        default: DEFAULT_GATEWAY_LIMITS.cacheMaxBytes,
        describe: 'bytes of images and metadata kept; the least recently used go first past it',
      })
      .option('metadata-fresh-ms', {
        type: 'number',
        default: DEFAULT_GATEWAY_LIMITS.metadataFreshMs,
        describe: 'how long a metadata copy is served before the Image repository is asked again (If-None-Match); 0 asks every time',
      })
      .option('upstream-ca', { type: 'string', requiresArg: true, describe: 'CA bundle (PEM) the repositories\' TLS certificates chain to (`uptane pki` ca.pem)' })
      .option('prefetch', { type: 'string', array: true, requiresArg: true, describe: 'a file of image paths (/targets/<dir>/<sha256>.<name>, one a line) to fetch before vehicles ask; repeatable' })
      .option('prefetch-interval-seconds', { type: 'number', default: 300, describe: 'how often the prefetch sources are read again' })
      .option('json', { type: 'boolean', default: false, describe: 'print the start-up report as JSON' })
      .check((argv) => {
        if (!(Number(argv['cache-max-bytes']) > 0)) throw new Error('--cache-max-bytes must be a positive number of bytes');
        if (!(Number(argv['metadata-fresh-ms']) >= 0)) throw new Error('--metadata-fresh-ms must be 0 or more');
        if (!(Number(argv['prefetch-interval-seconds']) >= 1)) throw new Error('--prefetch-interval-seconds must be at least 1');
        return true;
      })
      .example(
        '$0 gateway serve --upstream-image https://images.example --upstream-director https://director.example --upstream-ca pki/ca.pem --port 8082',
        'a depot gateway; provision its vehicles with --image-url and --director-url both set to the gateway',
      )
      .example(
        'UPTANE_GATEWAY_PREFETCH_TOKEN=<read token> $0 gateway serve --upstream-image http://127.0.0.1:8081 --upstream-director http://127.0.0.1:8080 --cache-max-bytes 2000000000',
        "also fetch the images of the Director's running campaigns ahead of the vehicles (an operator token of scope read)",
      )
      .epilogue(
        'The gateway holds no keys and signs nothing: vehicles verify everything it serves exactly as from the repositories, so it needs no trust (docs/gateway.md). ' +
          'It serves GET /metadata/<file> and /targets/<path> from its cache (one upstream download per image, however many vehicles ask; ranges and compression served from the kept copy) and passes /vehicle/... to the Director, never kept. ' +
          'A credential-only Image repository needs the gateway\'s own read token in UPTANE_GATEWAY_IMAGE_TOKEN (an uploader token); vehicles reading through the gateway then need none. ' +
          'UPTANE_GATEWAY_PREFETCH_TOKEN (an operator token of scope read) makes the gateway fetch the images of running campaigns every --prefetch-interval-seconds.',
      ) as unknown as Argv<ServeArgs>,
  handler: async (argv) => {
    const tls = serveTlsConfig(argv, 'uptane gateway serve');
    const env = (name: string): string | undefined => (io.env[name] === '' ? undefined : io.env[name]);
    const cacheDir = resolve(argv.cacheDir);
    const log = (line: string): void => io.warn(`${new Date().toISOString()} ${line}`);
    // Loaded here, not at the top: `gateway --help` needs none of the server's modules.
    const { startGateway } = await import('./server.js');
    const running = await startGateway({
      upstreamImage: argv.upstreamImage,
      upstreamDirector: argv.upstreamDirector,
      cacheDir,
      port: argv.port,
      host: argv.host,
      tls,
      limits: { cacheMaxBytes: argv.cacheMaxBytes, metadataFreshMs: argv.metadataFreshMs },
      upstreamCa: argv.upstreamCa === undefined ? undefined : readFileSync(resolve(argv.upstreamCa), 'utf8'),
      imageReadToken: env('UPTANE_GATEWAY_IMAGE_TOKEN'),
      prefetchLists: (argv.prefetch ?? []).map((file) => resolve(file)),
      prefetchToken: env('UPTANE_GATEWAY_PREFETCH_TOKEN'),
      prefetchIntervalMs: argv.prefetchIntervalSeconds * 1000,
      log,
    });
    const { cache } = running.gateway.stats();
    const prefetch = [...(argv.prefetch ?? []), ...(env('UPTANE_GATEWAY_PREFETCH_TOKEN') === undefined ? [] : ['running campaigns (operator token)'])];
    if (argv.json) {
      printJson(io, { url: running.url, cacheDir, cache, upstreamImage: argv.upstreamImage, upstreamDirector: argv.upstreamDirector, prefetch });
    } else {
      io.print(`gateway listening on ${running.url}`);
      io.print(`transport: ${describeServeTls(tls, argv.host, process.pid)}`);
      io.print(`Image repository: ${argv.upstreamImage}; Director: ${argv.upstreamDirector}`);
      io.print(`cache: ${cacheDir}, ${(cache.bytes / MiB).toFixed(1)} of ${(cache.maxBytes / MiB).toFixed(0)} MiB in ${cache.entries} entries`);
      io.print(`prefetch: ${prefetch.length === 0 ? 'none' : prefetch.join(', ')}`);
    }
    await new Promise<void>((done) => {
      const reload = (): void => void running.reloadTls();
      if (tls !== undefined) process.on('SIGHUP', reload);
      const stop = () => {
        process.off('SIGHUP', reload);
        void running.close().then(done);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
});

export const gatewayCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'gateway',
  describe: 'a caching gateway for a depot or an edge: keeps images and metadata close to many vehicles, holds no keys',
  builder: (yargs) => yargs.command(serveCommand(io)).demandCommand(1, 'name a gateway subcommand: serve'),
  handler: () => undefined,
});
