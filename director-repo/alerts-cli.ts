// The Director's expiry and alert commands: `uptane director expiry` (its root and the Image
// repository's roles as it verified them, read from the data folder; or a workspace's published
// root), `uptane director alerts list` (recent alerts and their delivery, over the operator API),
// and the webhook options of `uptane director serve` (README "Expiry and alerts").
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { withDatabaseOption, type DatabaseArgs } from '../shared/cli/database-option.js';
import { describeSecondsLeft, EXPIRY_EPILOGUE, reportExpiry, warningsOf, withExpiryOptions, type ExpiryArgs, type VerdictCliEnvironment } from '../shared/cli/expiry-cli.js';
import { existingDatabase } from '../shared/cli/token-cli.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { FileMetadataStore } from '../shared/client/metadata-store.js';
import { judgeRoles, readRoleFacts } from '../shared/uptane/role-expiry.js';
import { Workspace } from '../shared/workspace/workspace.js';
import { checkAlertOptions, type DirectorAlertOptions } from './alerts/director-alerts.js';
import { OperatorClient, printJson, printTable, withRemote, type RemoteArgs } from './operator-client.js';
import { repositoryHealth } from './repository-health.js';
import { DEFAULT_SQLITE_FILE, openDirectorStore, parseDirectorDatabase } from './store/open-store.js';

// --- serve's options -------------------------------------------------------------------------

export interface AlertServeArgs {
  readonly webhook?: string[] | undefined;
  readonly webhookSecretEnv?: string | undefined;
  readonly staleAfterHours: number;
  readonly expiryWarnDays: number;
  readonly alertRetentionDays: number;
}

export function withAlertServeOptions<T>(yargs: Argv<T>): Argv<T & AlertServeArgs> {
  return yargs
    .option('webhook', { type: 'string', array: true, requiresArg: true, describe: 'POST every alert (signed) to this http(s) URL; repeat for several' })
    .option('webhook-secret-env', { type: 'string', requiresArg: true, describe: "environment variable holding the webhooks' shared HMAC secret (16 characters or more)" })
    .option('stale-after-hours', { type: 'number', default: 168, describe: 'alert when vehicles have not reported for this many hours; 0: never' })
    .option('expiry-warn-days', { type: 'number', default: 30, describe: 'alert when an offline-signed role expires within this many days' })
    .option('alert-retention-days', { type: 'number', default: 90, describe: 'remove alerts whose deliveries are finished after this many days; 0: keep every alert' })
    .check((argv) => {
      if ((argv.webhook as string[] | undefined)?.length && argv['webhook-secret-env'] === undefined) throw new Error('--webhook needs --webhook-secret-env NAME: the variable holding the shared secret that signs each alert');
      for (const name of ['stale-after-hours', 'expiry-warn-days', 'alert-retention-days']) {
        const value = argv[name] as number;
        if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} ${String(value)}: give a number from 0 up`);
      }
      return true;
    }) as unknown as Argv<T & AlertServeArgs>;
}

/** The server's alert options from serve's arguments; the secret from the environment, never argv. */
export function alertOptionsFrom(argv: AlertServeArgs, io: CliEnvironment): DirectorAlertOptions {
  let webhookSecret: string | undefined;
  if (argv.webhookSecretEnv !== undefined) {
    webhookSecret = io.env[argv.webhookSecretEnv];
    if (webhookSecret === undefined || webhookSecret === '') throw new Error(`--webhook-secret-env ${argv.webhookSecretEnv}: environment variable ${argv.webhookSecretEnv} is ${webhookSecret === undefined ? 'not set' : 'empty'}`);
  }
  const options: DirectorAlertOptions = {
    webhooks: argv.webhook ?? [],
    webhookSecret,
    staleAfterMs: argv.staleAfterHours * 3_600_000,
    expiryWarnings: { offlineDays: argv.expiryWarnDays },
    retentionMs: argv.alertRetentionDays * 86_400_000,
  };
  checkAlertOptions(options);
  return options;
}

// --- uptane director expiry ------------------------------------------------------------------

interface DirectorExpiryArgs extends ExpiryArgs, DatabaseArgs, RemoteArgs {
  readonly dataDir: string;
  readonly workspace?: string | undefined;
  readonly remote: boolean;
}

const withExisting = existingDatabase(
  parseDirectorDatabase,
  (dir, path, named) => (named ? `${path} is no Director database: check --database` : `${dir} holds no Director database: give the Director's data folder with --data-dir, or a workspace with --workspace`),
  openDirectorStore,
);

export const directorExpiryCommand = (io: VerdictCliEnvironment & { readonly clock?: Clock }, defaultDataDir: string): CommandModule<object, DirectorExpiryArgs> => ({
  command: 'expiry',
  describe: "the Director root's expiry and the Image repository's roles as the Director verified them, with an exit status for cron and CI",
  builder: (yargs) =>
    withRemote(withExpiryOptions(withDatabaseOption(yargs, io, { sqliteFile: DEFAULT_SQLITE_FILE, schema: 'director' })), io)
      .option('remote', { type: 'boolean', default: false, describe: 'ask a running Director (--url, an operator token of any scope) instead of reading its data folder' })
      .option('data-dir', { type: 'string', default: io.env.UPTANE_DIRECTOR_DATA_DIR ?? defaultDataDir, describe: "the Director's data folder (env UPTANE_DIRECTOR_DATA_DIR)" })
      .option('workspace', { alias: 'w', type: 'string', requiresArg: true, describe: "read a Director workspace's published root instead of the server's data" })
      .example('$0 director expiry --data-dir /var/lib/uptane/director', 'on the Director host: its root, and the Image repository roles it trusts')
      .example('$0 director expiry --json --warn-days 45', 'for scripts, warning 45 days ahead')
      .example('$0 director expiry -w director-ws', 'the root a workspace last published or pulled')
      .example('UPTANE_OPERATOR_TOKEN=... $0 director expiry --remote --url https://director.example:8082', 'from another host, as the dashboard sees it (the server\'s warning window)')
      .epilogue(
        `${EXPIRY_EPILOGUE} The Director's per-vehicle targets, snapshot and timestamp are signed online and re-signed at half their lifetime; their lifetimes are listed, not judged.`,
      ) as unknown as Argv<DirectorExpiryArgs>,
  handler: async (argv) => {
    const now = (io.clock ?? systemClock).now();
    const warnings = warningsOf(argv);
    if (argv.remote) {
      const client = OperatorClient.from(io, argv);
      const health = await client.send('GET /repositories/health', 'report its repositories\' expiry').finally(() => client.close());
      // Judged here again, so --warn-days applies as it does to the local modes.
      const roles = judgeRoles(health.roles, now, warnings);
      reportExpiry(io, roles, argv, `Director at ${argv.url}`, [], { perVehicle: health.perVehicle });
      return;
    }
    if (argv.workspace !== undefined) {
      const ws = Workspace.open(argv.workspace, io.clock);
      if (ws.repository !== 'director') throw new Error(`${ws.dir} is a workspace of the ${ws.repository} repository: use \`uptane ${ws.repository} expiry --workspace\` with it`);
      const facts = await readRoleFacts('director', (role) => (role === 'root' ? ws.files.published.load('root') : undefined), new Set(['targets', 'snapshot', 'timestamp']));
      reportExpiry(io, judgeRoles(facts, now, warnings), argv, `Director (workspace ${ws.dir}, as last published or pulled)`);
      return;
    }
    const dataDir = resolve(argv.dataDir);
    const imageDir = join(dataDir, 'image-repo-metadata');
    // Read only: a folder that is not there is not made.
    const imageMetadata = existsSync(imageDir) ? new FileMetadataStore(imageDir) : undefined;
    const health = await withExisting(dataDir, (storage) => repositoryHealth({ roots: storage.roots, imageMetadata: imageMetadata && ((role) => imageMetadata.load(role)) }, now, warnings), argv.database);
    const notes = [
      ...(health.roles.some((r) => r.repository === 'director') ? [] : ['no Director root is published yet (`uptane director root push`)']),
      ...(imageMetadata === undefined ? [`no Image repository metadata in ${imageDir}: the Director has not started against one yet`] : []),
      `per-vehicle roles (signed online, re-signed at half their lifetime): ${health.perVehicle.map((p) => `${p.role} ${describeSecondsLeft(p.lifetimeSeconds).replace('in ', '')}`).join(', ')}`,
    ];
    reportExpiry(io, health.roles, argv, `Director (${dataDir})`, notes, { perVehicle: health.perVehicle });
  },
});

// --- uptane director alerts list -------------------------------------------------------------

interface AlertsListArgs extends RemoteArgs {
  readonly json: boolean;
  readonly limit: number;
}

const alertsListCommand = (io: CliEnvironment): CommandModule<object, AlertsListArgs> => ({
  command: ['list', '$0'],
  describe: 'recent alerts, newest first, and the delivery state of each to each webhook (read scope)',
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('json', { type: 'boolean', default: false, describe: 'print {alerts: [{id, event, raisedAt, data, deliveries: [...]}]} as JSON' })
      .option('limit', { type: 'number', default: 20, describe: 'how many alerts (1 to 1000)' })
      .check((argv) => {
        const limit = argv.limit as number;
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new Error(`--limit ${String(limit)}: give a whole number from 1 to 1000`);
        return true;
      })
      .example('UPTANE_OPERATOR_TOKEN=... $0 director alerts list', 'what was raised, and whether each webhook got it')
      .example('$0 director alerts --json --limit 100', 'for scripts') as unknown as Argv<AlertsListArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const { alerts } = await client.send('GET /alerts', 'list its alerts', { query: { limit: argv.limit } }).finally(() => client.close());
    if (argv.json) {
      printJson(io, { alerts });
      return;
    }
    const rows = alerts.flatMap((a) => {
      const summary = JSON.stringify(a.data).slice(0, 80);
      if (a.deliveries.length === 0) return [[String(a.id), a.raisedAt, a.event, '-', 'recorded (no webhook)', '-', summary]];
      return a.deliveries.map((d) => [
        String(a.id),
        a.raisedAt,
        a.event,
        d.webhook,
        d.state === 'pending' ? `pending, next ${d.nextAttemptAt ?? '-'}` : d.state,
        `${d.attempts}${d.lastStatus !== null ? ` (HTTP ${d.lastStatus})` : d.lastError !== null ? ` (${d.lastError.slice(0, 40)})` : ''}`,
        summary,
      ]);
    });
    printTable(io, ['ID', 'RAISED', 'EVENT', 'WEBHOOK', 'DELIVERY', 'ATTEMPTS', 'DATA'], rows, 'no alerts raised');
  },
});

export const directorAlertsCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'alerts',
  describe: 'alerts the Director raised (campaign halted, attack reported, vehicles stale, metadata expiring, database errors) and their webhook deliveries',
  builder: (yargs) => yargs.command(alertsListCommand(io)) as Argv,
  handler: () => undefined,
});
