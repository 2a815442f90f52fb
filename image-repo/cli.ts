// `uptane image ...`: run the Image repository server, manage its uploader credentials, and the
// release engineer's offline workflow (workspace-cli.ts). Registered by the root cli.ts.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { describeServeTls, serveTlsConfig, withServeTlsOptions, type ServeTlsArgs } from '../shared/cli/serve-tls-args.js';
import { withDatabaseOption, type DatabaseArgs } from '../shared/cli/database-option.js';
import { observabilityFrom, withObservabilityOptions, type ObservabilityArgs } from '../shared/cli/observability-args.js';
import { loadPublicKey } from '../shared/files/key-files.js';
import { transparencyLogFrom, withTransparencyLogOptions, type TransparencyLogArgs } from '../shared/cli/transparency-log-args.js';
import { IMAGE_LOG_NAME } from '../shared/transparency/server-log.js';
import type { ReadAccessMode } from './read-access.js';
import { describeImageDatabase, parseImageDatabase, SQLITE_FILE } from './store/open.js';
import { imageDbCommand } from './db-cli.js';
import { imageOnlineKeysCommand } from './online-keys-cli.js';
import { imageExpiryCommand } from './expiry-cli.js';
import { uploaderCommands } from './uploader-cli.js';
import { imageWorkspaceCommands } from './workspace-cli.js';

interface DataDirArgs {
  readonly dataDir: string;
}

function withDataDir<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & DataDirArgs> {
  return yargs.option('data-dir', {
    type: 'string',
    default: io.env.UPTANE_IMAGE_DATA_DIR ?? '.uptane-data/image-repo',
    describe: 'folder holding the images, the online keys and (without --database) the SQLite database (env UPTANE_IMAGE_DATA_DIR)',
  }) as unknown as Argv<T & DataDirArgs>;
}

/** --database: SQLite in the data folder unless a PostgreSQL URL (or sqlite:PATH) is given; the password never shows in --help. */
function withDatabase<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & DatabaseArgs> {
  return withDatabaseOption(yargs, io, { sqliteFile: SQLITE_FILE, schema: 'image' });
}

interface ServeArgs extends DataDirArgs, DatabaseArgs, ServeTlsArgs, ObservabilityArgs, TransparencyLogArgs {
  readonly port: number;
  readonly host: string;
  readonly readAccess: ReadAccessMode;
  readonly urlSigningKey?: string[] | undefined;
}

const serveCommand = (io: CliEnvironment): CommandModule<object, ServeArgs> => ({
  command: 'serve',
  describe: 'run the Image repository server (TUF metadata and images; upload API for release engineers)',
  builder: (yargs) =>
    withTransparencyLogOptions(
      withServeTlsOptions(withObservabilityOptions(withDatabase(withDataDir(yargs, io), io), io, 'UPTANE_IMAGE', 'image serve'), io, 'UPTANE_IMAGE', 'vehicles that present client certificates (requested, not required: signed URLs and uploader tokens decide access)'),
      'image serve',
      IMAGE_LOG_NAME,
    )
      .option('port', { type: 'number', default: Number(io.env.UPTANE_IMAGE_PORT ?? 8081), describe: 'TCP port (env UPTANE_IMAGE_PORT)' })
      .option('host', { type: 'string', default: io.env.UPTANE_IMAGE_HOST ?? '127.0.0.1', describe: 'address to listen on (env UPTANE_IMAGE_HOST)' })
      .example(
        '$0 image serve --host 0.0.0.0 --tls-cert pki/server/cert.pem --tls-key pki/server/key.pem',
        'serve the network over TLS 1.3 (files from `uptane pki server`); `kill -HUP <pid>` reloads them',
      )
      .option('read-access', {
        choices: ['credential', 'public'] as const,
        default: 'credential' as const,
        describe:
          'who may read metadata and images: credential (a signed URL from the Director, or an uploader token) or public (anyone; only for a repository meant to be public)',
      })
      .option('url-signing-key', {
        type: 'string',
        array: true,
        requiresArg: true,
        describe: "the Director's URL-signing public key (`uptane director url-signing-key`); repeat it while a key is rotated",
      })
      .example('$0 image serve --data-dir /var/lib/uptane/image --port 8081 --url-signing-key director-url.pub', 'serve vehicles the images their Director signs URLs for')
      .example('$0 image serve --read-access public', 'a repository meant to be public: anyone may read it')
      .example(
        'UPTANE_DATABASE_URL=postgres://uptane@db.example:5432/uptane $0 image serve --data-dir /mnt/shared/image',
        'one of several replicas: the same database and the same (shared) data folder',
      )
      .epilogue(
        'On first start the server creates its online timestamp and snapshot keys in <data-dir>/keys; GET /api/v1/online-keys (`uptane image online-keys`) shows them for the root metadata, and `uptane image online-keys rotate` replaces them through a new root (new keys wait in <data-dir>/keys/pending). The server refuses to start if any other key file is in that folder. ' +
          'With --read-access credential (the default) a read needs a URL signed by the Director (its key from `uptane director url-signing-key --data-dir D > director-url.pub`, given here with --url-signing-key) or an uploader token; docs/signed-urls.md describes the format. ' +
          'With --database postgres://..., several servers (replicas behind one address) may serve one repository: the metadata and the uploader tokens are in the database, but the images (<data-dir>/blobs) and the online keys (<data-dir>/keys) are files, so every replica must be given the same data folder on a shared file system; start one replica alone first (it makes the online keys), and rotate online keys with one replica running, restarting the others afterwards. Without --database (SQLite) one server holds the data folder alone.',
      ) as unknown as Argv<ServeArgs>,
  handler: async (argv) => {
    const tls = serveTlsConfig(argv, 'uptane image serve');
    const urlSigningKeys = (argv.urlSigningKey ?? []).map((file) => loadPublicKey(resolve(file)));
    const transparencyLog = transparencyLogFrom(argv);
    const { observability, log } = await observabilityFrom(argv, io, 'image');
    // Loaded here, not at the top: the server pulls in express, the stores and the metrics, which
    // every other `uptane image ...` command (and --help) would otherwise pay for at start.
    const { startImageServer } = await import('./server.js');
    const server = await startImageServer({
      dataDir: resolve(argv.dataDir),
      port: argv.port,
      host: argv.host,
      log,
      observability,
      tls,
      readAccess: { mode: argv.readAccess, urlSigningKeys },
      database: argv.database,
      transparencyLog,
    });
    const keys = server.repository.onlineKeys();
    io.print(`Image repository listening on ${server.url}`);
    io.print(`transport: ${describeServeTls(tls, argv.host, process.pid)}`);
    io.print(`data folder: ${resolve(argv.dataDir)}`);
    io.print(`database: ${describeImageDatabase(parseImageDatabase(resolve(argv.dataDir), argv.database))}`);
    io.print(`online timestamp key ${keys.timestamp.keyid}, snapshot key ${keys.snapshot.keyid}`);
    if (argv.readAccess === 'public') io.print('read access: public (anyone may read metadata and images)');
    else if (urlSigningKeys.length === 0) io.print('read access: credential, uploader tokens only (no --url-signing-key: vehicles cannot read until the Director\'s key is given)');
    else io.print(`read access: credential; URLs signed by ${urlSigningKeys.map((key) => key.keyid.slice(0, 12)).join(', ')} or uploader tokens`);
    if (server.transparencyLog !== undefined) {
      const head = server.transparencyLog.log.treeHead();
      io.print(`transparency log "${head.head.log}" at ${server.url}/log: ${head.head.size} entries, key ${head.signature.keyid.slice(0, 12)}, ${transparencyLog?.witnessKeys?.length ?? 0} witness key(s)`);
    }
    await new Promise<void>((done) => {
      // SIGHUP re-reads the TLS files for new connections; open ones keep theirs (shared/server/tls.ts).
      const reload = (): void => void server.reloadTls();
      if (tls !== undefined) process.on('SIGHUP', reload);
      const stop = () => {
        process.off('SIGHUP', reload);
        void server.close().then(done);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
});

export const imageCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'image',
  describe: 'the Image repository: server, uploader credentials, and the offline signing workflow',
  builder: (yargs) =>
    yargs
      .command(serveCommand(io))
      .command(imageWorkspaceCommands(io))
      .command(imageOnlineKeysCommand(io))
      .command(imageExpiryCommand(io))
      .command(imageDbCommand(io))
      .command({
        command: 'uploader',
        describe: 'manage uploader tokens for the write API: add, list, revoke, remove',
        builder: (y) => uploaderCommands(io, (a) => withDatabase(withDataDir(a, io), io))(y).demandCommand(1, 'name an uploader subcommand: add, list, revoke or remove'),
        handler: () => undefined,
      })
      .demandCommand(1, 'name an image subcommand (serve, uploader, init, root, targets, sign, status, push, ...)'),
  handler: () => undefined,
});
