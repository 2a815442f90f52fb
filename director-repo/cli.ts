// `uptane director ...`: run the Director, manage operator tokens on its data folder, and the
// operator's commands against a running Director over HTTP (vehicles, assignments, ECU replacement,
// online keys, audit; groups and campaigns in campaign-cli.ts), and the offline workspace for its
// root (workspace-cli.ts). Registered by the root cli.ts; the environment comes in through
// CliEnvironment, and the operator token only ever from an environment variable (never argv).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { ecuPublicKey } from '../shared/core/crypto/ecu-keys.js';
import { publicKeyPem } from '../shared/core/crypto/keys.js';
import { DEFAULT_SECURITY_PROFILE, isSecurityProfile, PROFILE_REQUIREMENTS, SECURITY_PROFILES, type ProfileRequirements, type SecurityProfile } from '../shared/core/security-profile.js';
import { FetchError, OperatorRequestError, UptaneError } from '../shared/core/errors.js';
import { confirmDestructive, withYes, type YesArgs } from '../shared/cli/confirm.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { describeServeTls, serveTlsConfig, withServeTlsOptions, type ServeTlsArgs } from '../shared/cli/serve-tls-args.js';
import { observabilityFrom, withObservabilityOptions, type ObservabilityArgs } from '../shared/cli/observability-args.js';
import { transparencyLogFrom, withTransparencyLogOptions, type TransparencyLogArgs } from '../shared/cli/transparency-log-args.js';
import { DIRECTOR_LOG_NAME } from '../shared/transparency/server-log.js';
import { withDatabaseOption, type DatabaseArgs } from '../shared/cli/database-option.js';
import { caOption, clientTlsFromFiles } from '../shared/cli/tls-args.js';
import type { EcuRegistration, VehicleRegistration } from './services/inventory.js';
import type { RunningDirector } from './server.js';
import { DEFAULT_SQLITE_FILE, describeDirectorDatabase, parseDirectorDatabase } from './store/open-store.js';
import { DEFAULT_IMAGE_URL_LIFETIME_SECONDS } from './services/image-urls.js';
import type { AssignmentPlan, AssignmentsCreated, VehicleStatus } from './api/operator-api.js';
import { campaignCommand, groupCommand } from './campaign-cli.js';
import { checkAgainstDirector, registerOnce, repeatsInFile } from './registration-client.js';
import { ECU_KEY_FORMS, ecuKeyArgument, parseAttributePairs, readVinsFile, splitCsvLine } from './cli-input.js';
import {
  checkUrl,
  DEFAULT_PORT,
  DEFAULT_TOKEN_ENV,
  OperatorClient,
  expectAnswer,
  plural,
  printJson,
  printTable,
  shortId,
  withRemote,
  type RemoteArgs,
} from './operator-client.js';
import { directorDbCommand } from './db-cli.js';
import { directorOnlineKeysCommand } from './online-keys-cli.js';
import { alertOptionsFrom, directorAlertsCommand, directorExpiryCommand, withAlertServeOptions, type AlertServeArgs } from './alerts-cli.js';
import { operatorTokenCommands } from './operator-token-cli.js';
import { imagesCommand } from './images-cli.js';
import { directorWorkspaceCommands } from './workspace-cli.js';
import { bundleCommand } from './offline-bundle-cli.js';
import { assignInstallBundle, installBundleCommand, parseMembers } from './install-bundle-cli.js';
import { mqttOptionsFrom, withMqttServeOptions, type MqttServeArgs } from './mqtt/mqtt-cli.js';

export { readVinsFile, splitCsvLine } from './cli-input.js';

const DEFAULT_DATA_DIR = '.uptane-data/director';
const HEX_KEY = /^[0-9a-f]{64}$/;


/** "2-4" for consecutive CSV lines, "2,5" otherwise. */
function lineRange(lines: readonly number[]): string {
  if (lines.length === 0) return '-';
  const consecutive = lines.every((n, i) => i === 0 || n === lines[i - 1]! + 1);
  return lines.length === 1 ? String(lines[0]) : consecutive ? `${lines[0]}-${lines[lines.length - 1]}` : lines.join(',');
}

// ---------------------------------------------------------------------------------------------
// Local commands: the data folder.

interface DataDirArgs {
  readonly dataDir: string;
}

function withDataDir<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & DataDirArgs> {
  return yargs.option('data-dir', {
    type: 'string',
    default: io.env.UPTANE_DIRECTOR_DATA_DIR ?? DEFAULT_DATA_DIR,
    describe: 'folder holding the online keys, the Image repository metadata and (without --database) the SQLite database (env UPTANE_DIRECTOR_DATA_DIR)',
  }) as unknown as Argv<T & DataDirArgs>;
}

/** --database (shared/cli/database-option.ts): the Director's tables go to schema `director` unless the URL names one. */
function withDatabase<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & DatabaseArgs> {
  return withDatabaseOption(yargs, io, { sqliteFile: DEFAULT_SQLITE_FILE, schema: 'director' });
}

interface ServeArgs extends DataDirArgs, DatabaseArgs, ServeTlsArgs, ObservabilityArgs, AlertServeArgs, MqttServeArgs, TransparencyLogArgs {
  readonly port: number;
  readonly host: string;
  readonly imageRepo: string;
  readonly imageRoot?: string | undefined;
  readonly imageDownloadUrl?: string | undefined;
  readonly imageUrlLifetime: number;
  readonly imageRepoCa?: string | undefined;
  readonly publicOrigin?: string | undefined;
}

const serveCommand = (io: CliEnvironment): CommandModule<object, ServeArgs> => ({
  command: 'serve',
  describe: 'run the Director server: per-vehicle metadata, vehicle manifests, and the operator API',
  builder: (yargs) =>
    withTransparencyLogOptions(
      withServeTlsOptions(withMqttServeOptions(withAlertServeOptions(withObservabilityOptions(withDatabase(withDataDir(yargs, io), io), io, 'UPTANE_DIRECTOR', 'director serve')), io), io, 'UPTANE_DIRECTOR', "the vehicles' client certificates: mutual TLS, each vehicle's certificate checked against the VIN it acts for"),
      'director serve',
      DIRECTOR_LOG_NAME,
    )
      .option('port', { type: 'number', default: Number(io.env.UPTANE_DIRECTOR_PORT ?? DEFAULT_PORT), describe: 'TCP port; 0 picks a free one (env UPTANE_DIRECTOR_PORT)' })
      .option('host', { type: 'string', default: io.env.UPTANE_DIRECTOR_HOST ?? '127.0.0.1', describe: 'address to listen on (env UPTANE_DIRECTOR_HOST)' })
      .option('image-repo', {
        type: 'string',
        default: io.env.UPTANE_IMAGE_REPO_URL ?? 'http://127.0.0.1:8081',
        describe: 'URL of the Image repository, read as a verifying TUF client (env UPTANE_IMAGE_REPO_URL)',
      })
      .option('image-root', {
        type: 'string',
        requiresArg: true,
        describe: "the Image repository's root metadata (1.root.json) to trust; needed on first start, then kept in the data folder",
      })
      .option('image-repo-ca', caOption(io, 'the Image repository'))
      .option('image-download-url', {
        type: 'string',
        requiresArg: true,
        describe: "base URL of the signed download URLs vehicles get (a CDN serving the Image repository's paths); default: --image-repo",
      })
      .option('image-url-lifetime', {
        type: 'number',
        default: DEFAULT_IMAGE_URL_LIFETIME_SECONDS,
        describe: 'seconds a signed download URL stays valid',
      })
      .option('public-origin', {
        type: 'string',
        requiresArg: true,
        default: io.env.UPTANE_DIRECTOR_PUBLIC_ORIGIN,
        describe: "the dashboard's address as browsers see it (https://director.example.com); its writes must come from pages of it. Give it behind a proxy (env UPTANE_DIRECTOR_PUBLIC_ORIGIN)",
      })
      // Async so the dashboard's module (express) loads only when --public-origin is given.
      .check(async (argv) => {
        const port = argv.port as number;
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${String(argv.port)}: give a port number from 0 to 65535`);
        checkUrl(argv['image-repo'] as string, '--image-repo');
        if (argv['image-download-url'] !== undefined) checkUrl(argv['image-download-url'] as string, '--image-download-url');
        const lifetime = argv['image-url-lifetime'] as number;
        if (!Number.isSafeInteger(lifetime) || lifetime < 10 || lifetime > 86_400) throw new Error(`--image-url-lifetime ${String(lifetime)}: give whole seconds from 10 to 86400`);
        if (argv['public-origin'] !== undefined) (await import('./dashboard/ui-session.js')).parsePublicOrigin(argv['public-origin'] as string);
        return true;
      })
      .example('$0 director serve --image-repo http://127.0.0.1:8081 --image-root image-1.root.json', 'first start: trust this Image repository root')
      .example('$0 director serve --data-dir /var/lib/uptane/director --port 8082', 'later starts: the root is kept in the data folder')
      .example('ALERT_SECRET=$(openssl rand -hex 32) $0 director serve --webhook https://alerts.example/uptane --webhook-secret-env ALERT_SECRET', 'signed webhook alerts (README "Expiry and alerts")')
      .example('$0 director serve --host 0.0.0.0 --public-origin https://director.example.com', 'behind a TLS proxy: the dashboard accepts writes only from pages of this address (docs/dashboard.md)')
      .example(
        '$0 director serve --host 0.0.0.0 --tls-cert pki/server/cert.pem --tls-key pki/server/key.pem --client-ca pki/ca.pem --image-repo http://127.0.0.1:8081',
        'serve the network over TLS 1.3 (the Image repository on this host); vehicles present client certificates of pki/ca.pem (files from `uptane pki`)',
      )
      .example(
        'UPTANE_DATABASE_URL=postgres://uptane@db.example:5432/uptane $0 director serve --data-dir /mnt/shared/director --host 0.0.0.0',
        'one of several replicas behind one address: the same database and the same (shared) data folder',
      )
      .epilogue(
        [
          'On first start the Director creates its online targets, snapshot and timestamp keys in <data-dir>/keys and prints their keyids.',
          'It serves vehicles only once its root is published: sign a root with your offline root key that lists these online keys',
          '(`uptane director online-keys` shows them), then `uptane director root push 1.root.json`.',
          'Operators need a token: `uptane director operator add NAME` on this machine.',
          'Vehicles read the Image repository through URLs signed with the Director\'s URL-signing key: give its public key',
          '(`uptane director url-signing-key > director-url.pub`) to `uptane image serve --url-signing-key director-url.pub`.',
          'With --database postgres://..., several Directors (replicas behind one address) may serve one fleet: the state is in the database,',
          'but the online keys and the session secret (<data-dir>/keys) and the Image repository metadata are files, so every replica is given',
          'the same data folder on a shared file system; start one replica alone first (it makes the keys), and rotate online keys with one',
          'replica running, restarting the others afterwards. Any replica accepts the sessions and refuses the replayed requests of any other;',
          'campaign rounds run on one replica at a time. Without --database (SQLite) one server holds the data folder alone.',
        ].join(' '),
      ) as unknown as Argv<ServeArgs>,
  handler: async (argv) => {
    const dataDir = resolve(argv.dataDir);
    const tls = serveTlsConfig(argv, 'uptane director serve');
    const { observability, log } = await observabilityFrom(argv, io, 'director');
    const alerts = alertOptionsFrom(argv, io);
    const transparencyLog = transparencyLogFrom(argv);
    // Loaded here, not at the top: the server pulls in express, the stores, MQTT and the metrics,
    // which every other `uptane director ...` command (and --help) would otherwise pay for at start.
    const { startDirector } = await import('./server.js');
    let server: RunningDirector;
    try {
      server = await startDirector({
        dataDir,
        imageRepoUrl: argv.imageRepo.replace(/\/+$/, ''),
        imageRootFile: argv.imageRoot === undefined ? undefined : resolve(argv.imageRoot),
        imageDownloadUrl: argv.imageDownloadUrl?.replace(/\/+$/, ''),
        imageUrlLifetimeSeconds: argv.imageUrlLifetime,
        imageRepoTls: clientTlsFromFiles({ ca: argv.imageRepoCa }, { ca: '--image-repo-ca', cert: '', key: '' }),
        database: argv.database,
        port: argv.port,
        host: argv.host,
        log,
        observability,
        tls,
        alerts,
        publicOrigin: argv.publicOrigin,
        mqtt: mqttOptionsFrom(argv, io),
        transparencyLog,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new Error(`port ${argv.port} on ${argv.host} is already in use: stop the other server or pick another --port`);
      throw err;
    }
    const keys = server.services.root.onlineKeysJson();
    io.print(`Director listening on ${server.url}`);
    io.print(`transport: ${describeServeTls(tls, argv.host, process.pid)}`);
    if (argv.mqtt !== undefined) io.print(`MQTT: answering vehicles through ${(await import('../shared/transport-mqtt/mqtt-connection.js')).brokerLabel(argv.mqtt)} (shared subscription)`);
    io.print(`data folder: ${dataDir}`);
    io.print(`database: ${describeDirectorDatabase(parseDirectorDatabase(dataDir, argv.database))}`);
    io.print(`alerts: ${alerts.webhooks?.length ? `${alerts.webhooks.length} webhook(s), signed (HMAC-SHA256)` : 'recorded only (no --webhook)'}; \`uptane director alerts list\` shows them`);
    io.print(`online keys: targets ${keys.targets.keyid}, snapshot ${keys.snapshot.keyid}, timestamp ${keys.timestamp.keyid}`);
    if (server.transparencyLog !== undefined) {
      const head = server.transparencyLog.log.treeHead();
      io.print(`transparency log "${head.head.log}" at ${server.url}/log: ${head.head.size} entries, key ${head.signature.keyid.slice(0, 12)}, ${transparencyLog?.witnessKeys?.length ?? 0} witness key(s)`);
    }
    io.print(`URL-signing key ${server.services.imageUrls?.keyid ?? '(none)'}: \`uptane director url-signing-key\` prints it for the Image repository's --url-signing-key`);
    const rootVersion = await server.services.root.latestRootVersion();
    io.print(
      rootVersion === undefined
        ? 'no Director root yet: vehicles are refused until one is pushed (sign root v1 offline with these online keys, then `uptane director root push 1.root.json`)'
        : `Director root version ${rootVersion}`,
    );
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

// ---------------------------------------------------------------------------------------------
// Remote commands: the operator API of a running Director (the client is in operator-client.ts).


// --- vehicle register -------------------------------------------------------------------------

interface RegisterArgs extends RemoteArgs {
  readonly vin?: string | undefined;
  readonly ecu?: string[] | undefined;
  readonly encryptionKey?: string[] | undefined;
  readonly ecuProfile?: string[] | undefined;
  readonly attribute?: string[] | undefined;
  readonly csv?: string | undefined;
  readonly dryRun: boolean;
  readonly offline: boolean;
  readonly json: boolean;
}

/**
 * `serial:hardwareId:publicKey[:primary]`, the key as hex (Ed25519) or one line of base64 SPKI
 * (ECDSA), neither of which holds ':'; serials may hold ':', so the key and flag are taken from the right.
 */
export function parseEcuSpec(spec: string): EcuRegistration {
  const parts = spec.split(':');
  const primary = parts[parts.length - 1] === 'primary';
  if (primary) parts.pop();
  const publicKey = ecuKeyArgument(parts.pop() ?? '', `--ecu ${spec} (serial:hardwareId:publicKey[:primary])`);
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new Error(`--ecu ${spec}: write serial:hardwareId:publicKey[:primary] (a serial or hardware id holding ':' can only be registered with --csv)`);
  }
  return { serial: parts[0]!, hardwareId: parts[1]!, publicKey, primary };
}

export const CSV_COLUMNS = ['vin', 'ecu_serial', 'hardware_id', 'public_key', 'primary'] as const;
/** Columns a CSV may have or leave out: files written before they existed stay valid. */
export const OPTIONAL_CSV_COLUMNS = ['encryption_public_key', 'attributes', 'security_profile'] as const;

/** A security profile's name as a command line or CSV gives it; the message says what to write instead. */
function profileArgument(text: string, what: string): SecurityProfile {
  const name = text.trim().toLowerCase();
  if (!isSecurityProfile(name)) throw new Error(`${what}: ${JSON.stringify(text)} is not a security profile; write one of ${SECURITY_PROFILES.join(', ')} (docs/security-profiles.md)`);
  return name;
}

/**
 * `--ecu-profile SERIAL=PROFILE`, one per ECU whose profile is not the default (standard), added to
 * the `--ecu` of that serial; the profile is taken from the right, as a serial may hold '='.
 */
export function withProfiles(ecus: readonly EcuRegistration[], specs: readonly string[]): EcuRegistration[] {
  const profiles = new Map<string, SecurityProfile>();
  for (const spec of specs) {
    const at = spec.lastIndexOf('=');
    const serial = spec.slice(0, Math.max(at, 0));
    if (at <= 0) throw new Error(`--ecu-profile ${spec}: write SERIAL=PROFILE, the profile one of ${SECURITY_PROFILES.join(', ')}`);
    const profile = profileArgument(spec.slice(at + 1), `--ecu-profile ${spec}`);
    if (!ecus.some((e) => e.serial === serial)) throw new Error(`--ecu-profile ${spec}: no --ecu has the serial ${serial}`);
    if (profiles.has(serial)) throw new Error(`--ecu-profile: ECU ${serial} is given two profiles`);
    profiles.set(serial, profile);
  }
  return ecus.map((ecu) => (profiles.has(ecu.serial) ? { ...ecu, securityProfile: profiles.get(ecu.serial)! } : ecu));
}

/**
 * `--encryption-key serial:hex`, one per ECU that has an X25519 encryption key, added to the `--ecu`
 * of that serial; the key is taken from the right, as a serial may hold ':'.
 */
export function withEncryptionKeys(ecus: readonly EcuRegistration[], specs: readonly string[]): EcuRegistration[] {
  const keys = new Map<string, string>();
  for (const spec of specs) {
    const at = spec.lastIndexOf(':');
    const serial = spec.slice(0, Math.max(at, 0));
    const key = spec.slice(at + 1).toLowerCase();
    if (at <= 0 || !HEX_KEY.test(key)) throw new Error(`--encryption-key ${spec}: write serial:encryptionPublicKeyHex, the key 64 hex characters (the ECU's X25519 public key)`);
    if (!ecus.some((e) => e.serial === serial)) throw new Error(`--encryption-key ${spec}: no --ecu has the serial ${serial}`);
    if (keys.has(serial)) throw new Error(`--encryption-key: ECU ${serial} is given two encryption keys`);
    keys.set(serial, key);
  }
  return ecus.map((ecu) => (keys.has(ecu.serial) ? { ...ecu, encryptionPublicKey: keys.get(ecu.serial)! } : ecu));
}

/** A vehicle from the CSV: its ECUs, the lines they came from, and what is wrong with them. */
export interface CsvVehicle {
  readonly vin: string;
  readonly lines: number[];
  readonly ecus: EcuRegistration[];
  /** The line of each ECU in `ecus`. */
  readonly ecuLines: number[];
  readonly problems: string[];
  /** From the attributes column (`model=sedan;region=eu`), on any of its rows; the same on every row that gives them. */
  attributes: Record<string, string>;
  attributesText?: string;
}

/**
 * Reads the registration CSV: a header naming the columns (any order), then one row per ECU; rows
 * with the same VIN form one vehicle. Problems are kept per vehicle, so one bad row fails only its
 * own vehicle. A header that cannot be used fails the whole file.
 */
export function parseRegistrationCsv(text: string, file: string): CsvVehicle[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  if (headerIndex === -1) throw new Error(`${file} is empty: it needs a header line (${CSV_COLUMNS.join(',')}) and one row per ECU`);
  const header = splitCsvLine(lines[headerIndex]!);
  if (typeof header === 'string') throw new Error(`${file} line ${headerIndex + 1}: ${header}`);
  const names = header.map((h) => h.toLowerCase());
  const known: readonly string[] = [...CSV_COLUMNS, ...OPTIONAL_CSV_COLUMNS];
  const unknown = names.filter((n) => !known.includes(n));
  const missing = CSV_COLUMNS.filter((c) => !names.includes(c));
  if (unknown.length > 0 || missing.length > 0 || new Set(names).size !== names.length) {
    throw new Error(
      `${file} line ${headerIndex + 1}: the header must name the columns ${CSV_COLUMNS.join(',')} once each` +
        (missing.length > 0 ? `; missing ${missing.join(', ')}` : '') +
        (unknown.length > 0 ? `; unknown ${unknown.join(', ')}` : '') +
        ` (it may also name ${OPTIONAL_CSV_COLUMNS.join(',')})`,
    );
  }
  const column = Object.fromEntries([...CSV_COLUMNS, ...OPTIONAL_CSV_COLUMNS].map((c) => [c, names.indexOf(c)])) as Record<(typeof CSV_COLUMNS)[number] | (typeof OPTIONAL_CSV_COLUMNS)[number], number>;
  const vehicles = new Map<string, CsvVehicle>();
  const orphans: CsvVehicle[] = [];
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    if (index <= headerIndex || raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const fields = splitCsvLine(raw);
    const vin = typeof fields === 'string' ? '' : (fields[column.vin] ?? '');
    let vehicle = vin === '' ? undefined : vehicles.get(vin);
    if (vehicle === undefined) {
      vehicle = { vin, lines: [], ecus: [], ecuLines: [], problems: [], attributes: {} };
      if (vin === '') orphans.push(vehicle);
      else vehicles.set(vin, vehicle);
    }
    vehicle.lines.push(lineNo);
    const problem = (what: string) => vehicle.problems.push(`line ${lineNo}: ${what}`);
    if (typeof fields === 'string') return problem(fields);
    if (fields.length !== names.length) return problem(`${fields.length} fields, but the header names ${names.length} columns`);
    if (vin === '') return problem('no VIN');
    const serial = fields[column.ecu_serial]!;
    const hardwareId = fields[column.hardware_id]!;
    // Not lowercased: an ECDSA key is base64, where case matters (ecuKeyArgument reads hex in either case).
    const publicKeyText = fields[column.public_key]!;
    const primaryText = fields[column.primary]!.toLowerCase();
    // Empty (or no such column): the ECU has no encryption key, and images cannot be encrypted for it.
    const encryptionPublicKey = column.encryption_public_key === -1 ? '' : fields[column.encryption_public_key]!.toLowerCase();
    if (serial === '') return problem('no ecu_serial');
    if (hardwareId === '') return problem('no hardware_id');
    let publicKey: string;
    try {
      publicKey = ecuKeyArgument(publicKeyText, 'public_key');
    } catch (err) {
      return problem((err as Error).message);
    }
    if (!['', 'yes', 'no', 'true', 'false', '1', '0', 'primary'].includes(primaryText)) return problem(`primary is ${JSON.stringify(primaryText)}: write yes or leave it empty`);
    if (encryptionPublicKey !== '' && !HEX_KEY.test(encryptionPublicKey)) {
      return problem("encryption_public_key must be 64 hex characters (the ECU's X25519 public key) or empty");
    }
    // Empty (or no such column): standard, as for a registration that names no profile.
    const profileText = column.security_profile === -1 ? '' : fields[column.security_profile]!.trim();
    let securityProfile: SecurityProfile | undefined;
    if (profileText !== '') {
      try {
        securityProfile = profileArgument(profileText, 'security_profile');
      } catch (err) {
        return problem((err as Error).message);
      }
    }
    const attributesText = column.attributes === -1 ? '' : fields[column.attributes]!.trim();
    if (attributesText !== '') {
      if (vehicle.attributesText !== undefined && vehicle.attributesText !== attributesText) return problem(`attributes differ from an earlier row of ${vin}: give them once, or the same on every row`);
      try {
        vehicle.attributes = parseAttributePairs(attributesText.split(';').map((pair) => pair.trim()).filter((pair) => pair !== ''), 'attributes');
      } catch (err) {
        return problem((err as Error).message);
      }
      vehicle.attributesText = attributesText;
    }
    const ecu: EcuRegistration = {
      serial,
      hardwareId,
      publicKey,
      primary: ['yes', 'true', '1', 'primary'].includes(primaryText),
      ...(securityProfile === undefined ? {} : { securityProfile }),
    };
    vehicle.ecus.push(encryptionPublicKey === '' ? ecu : { ...ecu, encryptionPublicKey });
    vehicle.ecuLines.push(lineNo);
  });
  return [...orphans, ...vehicles.values()].sort((a, b) => a.lines[0]! - b.lines[0]!);
}

interface RegisterResult {
  readonly vin: string;
  readonly lines: readonly number[];
  readonly result: 'registered' | 'unchanged' | 'failed' | 'valid';
  readonly ecus: number;
  readonly error?: { readonly code: string; readonly message: string };
}

/** A request failure that will fail every other row too: stop instead of repeating it. */
const isFatal = (err: unknown) => err instanceof FetchError || (err instanceof OperatorRequestError && err.status === 401);

/** Runs one request of a file's run; a fatal failure stops the whole file, saying where and what went through. */
async function stopOnFatal<T>(request: () => Promise<T>, at: CsvVehicle, done: number): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (!isFatal(err)) throw err;
    throw new Error(`${(err as Error).message}\nstopped at line ${at.lines[0]}: ${plural(done, 'vehicle')} before it went through; run the file again once this is fixed (registered vehicles are reported unchanged)`, {
      cause: err,
    });
  }
}

async function registerCsv(io: CliEnvironment, args: RegisterArgs, file: string): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const vehicles = parseRegistrationCsv(text, file);
  if (vehicles.length === 0) throw new Error(`${file} has a header but no rows: add one row per ECU`);
  // A dry run asks the Director too (read-only), unless --offline: only it knows the serials taken.
  let client: OperatorClient | undefined;
  try {
    client = args.dryRun && args.offline ? undefined : OperatorClient.from(io, args);
  } catch (err) {
    if (!args.dryRun) throw err;
    throw new Error(`${(err as Error).message}; or check the file alone with --dry-run --offline`, { cause: err });
  }
  const results: RegisterResult[] = [];
  const report = (result: RegisterResult) => {
    results.push(result);
    if (args.json) return;
    const lines = `line${result.lines.length === 1 ? '' : 's'} ${lineRange(result.lines)}`;
    const label = result.vin === '' ? '(no VIN)' : result.vin;
    if (result.result !== 'failed') {
      io.print(`${lines}  ${label}  ${result.result === 'valid' ? 'valid' : result.result} (${plural(result.ecus, 'ECU')})`);
      return;
    }
    // The message's own lines (a failure, then its next step) are indented under the vehicle's line.
    const [first, ...more] = result.error!.message.split('\n');
    io.print(`${lines}  ${label}  FAILED: ${first}`);
    for (const line of more) io.print(`    ${line}`);
  };
  const repeats = repeatsInFile(vehicles.filter((v) => v.vin !== ''));
  const fine = vehicles.filter((v) => v.problems.length === 0 && !repeats.has(v) && v.ecus.filter((e) => e.primary).length === 1);
  // Read-only: a failure here (no token, no Director) says what to fix, and nothing was written.
  const verdicts = args.dryRun && client !== undefined ? await checkAgainstDirector(client, fine) : undefined;
  for (const vehicle of vehicles) {
    const base = { vin: vehicle.vin, lines: vehicle.lines, ecus: vehicle.ecus.length };
    const problems = [...vehicle.problems, ...(repeats.get(vehicle) ?? [])];
    if (problems.length > 0) {
      report({ ...base, result: 'failed', error: { code: 'bad_row', message: problems.join('; ') } });
      continue;
    }
    const primaries = vehicle.ecus.filter((e) => e.primary).length;
    if (primaries !== 1) {
      report({ ...base, result: 'failed', error: { code: 'bad_row', message: `a vehicle has exactly one primary ECU; these rows mark ${primaries}` } });
      continue;
    }
    if (args.dryRun) {
      const verdict = verdicts?.get(vehicle) ?? { result: 'valid' };
      report(verdict.result === 'failed' ? { ...base, result: 'failed', error: { code: 'conflict', message: verdict.message } } : { ...base, result: verdict.result });
      continue;
    }
    try {
      const { result } = await stopOnFatal(() => registerOnce(client!, { vin: vehicle.vin, attributes: vehicle.attributes, ecus: vehicle.ecus }), vehicle, results.filter((r) => r.result !== 'failed').length);
      report({ ...base, result });
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      report({ ...base, result: 'failed', error: { code: err instanceof OperatorRequestError ? err.remoteCode : err.code, message: err.message } });
    }
  }
  const count = (r: RegisterResult['result']) => results.filter((x) => x.result === r).length;
  const failed = count('failed');
  if (args.json) {
    printJson(io, { file, dryRun: args.dryRun, registered: count('registered'), unchanged: count('unchanged'), valid: count('valid'), failed, results });
  } else if (args.dryRun) {
    const checked = client === undefined ? 'the file alone was checked (--offline)' : 'checked against the Director; nothing was registered';
    io.print(`dry run: ${plural(count('valid'), 'vehicle')} valid, ${count('unchanged')} already registered, ${failed} failed; ${checked}`);
  } else {
    io.print(`${plural(count('registered'), 'vehicle')} registered, ${count('unchanged')} already registered, ${failed} failed`);
  }
  if (failed > 0) throw new Error(`${failed} of ${plural(results.length, 'vehicle')} in ${file} failed (see above); fix those rows and run the file again`);
}

function printVehicleEcus(io: CliEnvironment, status: VehicleStatus): void {
  printTable(
    io,
    ['SERIAL', 'HARDWARE', 'ROLE', 'PROFILE', 'KEYID', 'ENCRYPTION KEY', 'INSTALLED', 'REPORTED', 'ASSIGNMENT'],
    status.ecus.map((e) => [
      e.serial,
      e.hardwareId,
      e.primary ? 'primary' : 'secondary',
      // Older Directors answer without the field: every ECU of theirs is standard.
      e.securityProfile ?? DEFAULT_SECURITY_PROFILE,
      shortId(e.keyid),
      // Older Directors answer without the field: no key shown.
      e.encryptionKeyid === null || e.encryptionKeyid === undefined ? '-' : shortId(e.encryptionKeyid),
      e.installed === null ? '-' : `${e.installed.filename}${e.installed.releaseCounter === null ? '' : ` (release ${e.installed.releaseCounter})`}`,
      e.reportedAt ?? 'never',
      e.pending === null ? '-' : `#${e.pending.id} ${e.pending.state}: ${e.pending.filename}${e.pending.encryption ? ' (encrypted)' : ''}`,
    ]),
  );
}

const registerCommand = (io: CliEnvironment): CommandModule<object, RegisterArgs> => ({
  command: 'register',
  describe: 'register a vehicle and its ECUs (--vin and --ecu), or many vehicles from a CSV file (--csv)',
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('vin', { type: 'string', requiresArg: true, describe: 'the vehicle identification number' })
      .option('ecu', {
        type: 'string',
        array: true,
        requiresArg: true,
        describe: 'an ECU as serial:hardwareId:publicKey, with :primary on exactly one; the key 64 hex (Ed25519) or one line of base64 SPKI (ECDSA P-256/P-384); repeat for each ECU',
      })
      .option('encryption-key', {
        type: 'string',
        array: true,
        requiresArg: true,
        describe: "an ECU's X25519 image-encryption public key as serial:hex (64 hex characters); repeat per ECU that has one",
      })
      .option('ecu-profile', {
        type: 'string',
        array: true,
        requiresArg: true,
        describe: `an ECU's security profile as SERIAL=PROFILE, the profile one of ${SECURITY_PROFILES.join(', ')}; ECUs not named are standard; repeat per ECU`,
      })
      .option('attribute', {
        type: 'string',
        array: true,
        requiresArg: true,
        describe: 'a vehicle attribute as NAME=VALUE (model=sedan-2026, region=eu), which dynamic groups select on; repeat for each',
      })
      .option('csv', { type: 'string', requiresArg: true, describe: 'register every vehicle in this CSV file (columns below)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'with --csv: check every row, and ask the Director which VINs, ECU serials and keys are taken; register nothing' })
      .option('offline', { type: 'boolean', default: false, describe: 'with --dry-run: check the file alone, without asking the Director' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
      .conflicts('csv', ['vin', 'ecu', 'encryption-key', 'ecu-profile', 'attribute'])
      .check((argv) => {
        if (argv.csv === undefined) {
          if (typeof argv.vin !== 'string') throw new Error('give --vin VIN (once) and an --ecu for each ECU, or --csv FILE');
          if ((argv.ecu as string[] | undefined)?.length === undefined) throw new Error(`give an --ecu serial:hardwareId:publicKey[:primary] for each ECU of ${argv.vin}`);
          if (argv['dry-run'] === true) throw new Error('--dry-run applies to --csv; a single registration is checked by the Director');
        }
        if (argv.offline === true && argv['dry-run'] !== true) throw new Error('--offline applies to --dry-run: a registration needs the Director');
        return true;
      })
      .example('$0 director vehicle register --vin WVW123 --ecu WVW123-tcu:tcu-a:6a1f...c2:primary --ecu WVW123-ecm:ecm-x1:93be...0d', 'one vehicle, a primary and a secondary (each ECU under its own serial)')
      .example(
        '$0 director vehicle register --vin WVW124 --ecu WVW124-tcu:tcu-a:MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...:primary',
        'a primary whose key is ECDSA P-256 (the base64 of its public key, the PEM body on one line)',
      )
      .example('$0 director vehicle register --vin WVW125 --ecu WVW125-tcu:tcu-a:7b20...e4:primary --attribute model=sedan-2026 --attribute region=eu', 'with attributes for dynamic groups')
      .example('$0 director vehicle register --vin WVW126 --ecu WVW126-tcu:tcu-a:7b20...e4:primary --ecu WVW126-ecm:ecm-x1:93be...0d --ecu-profile WVW126-ecm=high', 'an ECU of the high security profile (the others standard)')
      .example('$0 director vehicle register --csv fleet.csv', 'many vehicles; prints a result per vehicle')
      .example('$0 director vehicle register --csv fleet.csv --dry-run', 'check the file first, and ask the Director which VINs, serials and keys are taken')
      .epilogue(
        [
          'CSV format: a header line naming the columns vin,ecu_serial,hardware_id,public_key,primary (any order), then one row per ECU.',
          "An optional column encryption_public_key holds an ECU's 64-hex X25519 encryption public key (empty for none), needed before `assign --encrypt`.",
          'An optional column attributes holds the vehicle\'s attributes as "model=sedan-2026;region=eu" (on one of its rows, or the same on each).',
          `An optional column security_profile holds the ECU's security profile, ${SECURITY_PROFILES.join(', ')} (empty for standard); the Director refuses to assign it an image whose minimum profile is higher.`,
          `Rows with the same VIN make one vehicle; public_key is ${ECU_KEY_FORMS}; primary is "yes" on exactly one ECU`,
          `of each vehicle and empty (or "no") on the others. Blank lines and lines starting with # are skipped; fields may be "quoted".`,
          'Example:\n  vin,ecu_serial,hardware_id,public_key,primary\n  WVW123,WVW123-tcu,tcu-a,6a1f...c2,yes\n  WVW123,WVW123-ecm,ecm-x1,93be...0d,\n  WVW124,WVW124-tcu,tcu-a,0c5d...71,yes\n',
          'ECU serials are unique across the whole fleet, not per vehicle (a real ECU\'s serial is its hardware serial): two vehicles never share one, and a row repeating a serial or a key of another row is refused.',
          'With --dry-run the Director is asked (read-only) which of the VINs, serials and keys are registered, and to which vehicle, so every row it would refuse is named before anything is registered.',
          '\nEach vehicle is registered on its own: a bad row fails only its vehicle, the others go on, and the exit status is 1 if any failed.',
          'A vehicle already registered with the same ECUs is reported "already registered", so the file can be run again after a fix.',
          `The operator token is read from the variable named by --token-env (default ${DEFAULT_TOKEN_ENV}).`,
        ].join(' '),
      ) as unknown as Argv<RegisterArgs>,
  handler: async (argv) => {
    if (argv.csv !== undefined) return registerCsv(io, argv, argv.csv);
    const registration: VehicleRegistration = {
      vin: argv.vin!,
      ...(argv.attribute === undefined ? {} : { attributes: parseAttributePairs(argv.attribute, '--attribute') }),
      ecus: withProfiles(withEncryptionKeys((argv.ecu ?? []).map(parseEcuSpec), argv.encryptionKey ?? []), argv.ecuProfile ?? []),
    };
    const client = OperatorClient.from(io, argv);
    const { result, status } = await registerOnce(client, registration);
    if (argv.json) {
      printJson(io, { result, vehicle: status });
      return;
    }
    io.print(`${result === 'registered' ? 'registered' : 'already registered (unchanged):'} vehicle ${status.vin} with ${plural(status.ecus.length, 'ECU')}`);
    printVehicleEcus(io, status);
  },
});

// --- vehicle list / show ----------------------------------------------------------------------

interface ListArgs extends RemoteArgs {
  readonly after?: string | undefined;
  readonly limit: number;
  readonly json: boolean;
}

const listCommand = (io: CliEnvironment): CommandModule<object, ListArgs> => ({
  command: 'list',
  describe: 'list registered vehicles in VIN order, a page at a time',
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('after', { type: 'string', requiresArg: true, describe: 'start after this VIN (the next page)' })
      .option('limit', { type: 'number', default: 100, describe: 'vehicles per page, 1 to 1000' })
      .option('json', { type: 'boolean', default: false, describe: 'print {total, vehicles} as JSON' })
      .check((argv) => {
        const limit = argv.limit as number;
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new Error(`--limit ${String(argv.limit)}: give a whole number from 1 to 1000`);
        return true;
      })
      .example('$0 director vehicle list', 'the first 100 vehicles')
      .example('$0 director vehicle list --after WVW123 --limit 500 --json', 'the next page, for scripts') as Argv<ListArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const answer = await client.send('GET /vehicles', 'list vehicles', { query: { limit: argv.limit, after: argv.after } });
    if (argv.json) {
      printJson(io, answer);
      return;
    }
    printTable(
      io,
      ['VIN', 'REGISTERED', 'ATTRIBUTES'],
      answer.vehicles.map((v) => [v.vin, v.registeredAt, Object.entries(v.attributes).map(([k, val]) => `${k}=${val}`).join(' ')]),
      argv.after === undefined ? 'no vehicles registered yet: `uptane director vehicle register --help` shows how' : `no vehicles after ${argv.after}`,
    );
    io.print(`${plural(answer.vehicles.length, 'vehicle')} shown, ${answer.total} registered in all`);
    const last = answer.vehicles[answer.vehicles.length - 1];
    if (answer.vehicles.length === argv.limit && last !== undefined) io.print(`next page: uptane director vehicle list --after ${last.vin} --limit ${argv.limit}`);
  },
});

interface ShowArgs extends RemoteArgs {
  readonly vin: string;
  readonly json: boolean;
}

const showCommand = (io: CliEnvironment): CommandModule<object, ShowArgs> => ({
  command: 'show <vin>',
  describe: "a vehicle's ECUs with their installed images and assignments, its assignment history, reported attacks and last manifests",
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('vin', { type: 'string', demandOption: true, describe: 'the vehicle identification number' })
      .option('json', { type: 'boolean', default: false, describe: 'print the full status as JSON' })
      .example('$0 director vehicle show WVW123', 'readable summary')
      .example('$0 director vehicle show WVW123 --json', 'everything, for scripts') as Argv<ShowArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    let status: VehicleStatus;
    try {
      status = await client.send('GET /vehicles/:vin', `show vehicle ${argv.vin}`, { params: { vin: argv.vin } });
    } catch (err) {
      if (err instanceof OperatorRequestError && err.status === 404) {
        throw new OperatorRequestError(`${err.message}\n\`uptane director vehicle list\` shows the registered VINs`, err.status, err.remoteCode);
      }
      throw err;
    }
    if (argv.json) {
      printJson(io, status);
      return;
    }
    const attributes = Object.entries(status.attributes).map(([k, v]) => `${k}=${v}`).join(' ');
    io.print(`vehicle        ${status.vin}`);
    io.print(`registered     ${status.registeredAt}`);
    io.print(`last manifest  ${status.lastManifestAt ?? 'never'}`);
    if (attributes !== '') io.print(`attributes     ${attributes}`);
    io.print('');
    io.print('ECUs');
    printVehicleEcus(io, status);
    // What each profile the vehicle's ECUs hold requires of them (docs/security-profiles.md).
    const held = SECURITY_PROFILES.filter((p) => status.ecus.some((e) => (e.securityProfile ?? DEFAULT_SECURITY_PROFILE) === p));
    for (const p of held) io.print(`profile ${p.padEnd(8)} ${describeRequirements(status.ecus.find((e) => e.securityProfile === p)?.profileRequirements ?? PROFILE_REQUIREMENTS[p])}`);
    io.print('');
    io.print(`assignments (latest ${status.assignments.length})`);
    printTable(
      io,
      ['ID', 'ECU', 'IMAGE', 'RELEASE', 'STATE', 'INSTALL BUNDLE', 'UPDATED', 'REASON'],
      status.assignments.map((a) => [String(a.id), a.ecuSerial, a.filename, String(a.releaseCounter), a.state, a.bundleId === undefined ? '-' : String(a.bundleId), a.updatedAt, a.reason ?? '']),
    );
    const bundles = [...new Set(status.assignments.flatMap((a) => (a.bundleId === undefined ? [] : [a.bundleId])))];
    if (bundles.length > 0) io.print(`\`uptane director install-bundle show ${bundles[0]}\` shows an install bundle's outcome`);
    io.print('');
    io.print('attacks reported');
    printTable(io, ['ECU', 'CODE', 'REPORTED', 'MESSAGE'], status.attacks.map((a) => [a.ecuSerial, a.code, a.reportedAt, a.message]));
    io.print('');
    io.print(`manifests (latest ${status.manifests.length})`);
    printTable(
      io,
      ['ID', 'RECEIVED', 'RESULT'],
      status.manifests.map((m) => [String(m.id), m.receivedAt, m.accepted ? 'accepted' : `rejected: ${m.errorCode ?? '?'}: ${m.errorMessage ?? ''}`]),
    );
  },
});

// --- assign / cancel --------------------------------------------------------------------------

interface AssignArgs extends RemoteArgs {
  readonly image?: string | undefined;
  readonly vin?: string[] | undefined;
  readonly vinsFile?: string | undefined;
  readonly ecu?: string | undefined;
  readonly hardwareId?: string | undefined;
  readonly dryRun: boolean;
  readonly encrypt: boolean;
  readonly atomic: boolean;
  readonly member?: string[] | undefined;
  readonly json: boolean;
}

/** The options of the one-image form that an install bundle (--atomic) does not take. */
const NOT_ATOMIC = ['image', 'ecu', 'hardware-id', 'vins-file', 'dry-run', 'encrypt'] as const;

const assignCommand = (io: CliEnvironment): CommandModule<object, AssignArgs> => ({
  command: 'assign',
  describe: "assign an image from the Image repository to an ECU of a vehicle, or to every ECU with a hardware id in many vehicles; with --atomic, images for several ECUs of one vehicle that install all or none",
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('image', { type: 'string', requiresArg: true, describe: 'the image, by its target name in the Image repository' })
      .option('vin', { type: 'string', array: true, requiresArg: true, describe: 'a vehicle; repeat for several (with --hardware-id)' })
      .option('vins-file', { type: 'string', requiresArg: true, describe: 'a file listing VINs, one per line (# comments allowed)' })
      .option('ecu', { type: 'string', requiresArg: true, describe: 'the ECU serial (one vehicle)' })
      .option('hardware-id', { type: 'string', requiresArg: true, describe: 'every ECU with this hardware id in each vehicle' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'show which ECU of which vehicle would get what; store nothing' })
      .option('encrypt', { type: 'boolean', default: false, describe: "encrypt the image for each ECU (each needs a registered encryption key)" })
      .option('atomic', {
        type: 'boolean',
        default: false,
        describe: 'an install bundle: the --member images install all or none on one vehicle (--vin); every member goes back to its previous image if one fails',
      })
      .option('member', { type: 'string', array: true, requiresArg: true, describe: 'with --atomic: ECU_SERIAL=IMAGE, one per ECU of the bundle (at least two)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the plan, the assignments or the install bundle as JSON' })
      .conflicts('ecu', 'hardware-id')
      .check((argv) => {
        const vins = (argv.vin as string[] | undefined) ?? [];
        if (argv.atomic === true) {
          const given = NOT_ATOMIC.filter((option) => argv[option] !== undefined && argv[option] !== false);
          if (given.length > 0) throw new Error(`--atomic names each ECU's image with --member ECU=IMAGE; it takes no ${given.map((o) => `--${o}`).join(', ')}`);
          if (vins.length !== 1) throw new Error('--atomic bundles ECUs of one vehicle: give exactly one --vin');
          parseMembers((argv.member as string[] | undefined) ?? []);
          return true;
        }
        if (argv.member !== undefined) throw new Error('--member names an ECU of an install bundle: add --atomic (or assign one image with --image and --ecu)');
        if (argv.image === undefined) throw new Error('name the image: --image NAME (or, for an install bundle, --atomic with --member ECU=IMAGE)');
        if (vins.length === 0 && argv['vins-file'] === undefined) throw new Error('name the vehicles: --vin VIN (with --ecu SERIAL), or --vins-file FILE (with --hardware-id HW)');
        if (argv.ecu === undefined && argv['hardware-id'] === undefined) throw new Error('name the ECUs: --ecu SERIAL for one vehicle, or --hardware-id HW for every matching ECU');
        if (argv.ecu !== undefined && (vins.length !== 1 || argv['vins-file'] !== undefined)) {
          throw new Error('--ecu names an ECU of one vehicle: give exactly one --vin; for many vehicles use --hardware-id');
        }
        return true;
      })
      .example('$0 director assign --image engine/ecm-2.0.bin --vin WVW123 --ecu WVW123-ecm --dry-run', 'what would change, nothing stored')
      .example('$0 director assign --image engine/ecm-2.0.bin --vin WVW123 --ecu WVW123-ecm', 'assign it')
      .example('$0 director assign --image brake/abs-7.bin --vins-file eu-fleet.txt --hardware-id abs-z', 'every abs-z ECU of the listed vehicles')
      .example('$0 director assign --image engine/ecm-2.0.bin --vin WVW123 --ecu WVW123-ecm --encrypt', 'encrypted for that ECU alone')
      .example(
        '$0 director assign --atomic --vin WVW127 --member WVW127-ecm=engine/ecm-2.1.bin --member WVW127-bcm=body/front.bin',
        'an install bundle: both ECUs get their new image, or both keep the old one',
      )
      .epilogue(
        'The Director checks that the Image repository signs the image, that its hardware ids include the ECU\'s, and that its release counter is not below the installed one. ' +
          'All the assignments of one command are stored together or not at all; an ECU with an active assignment is refused (cancel it first). ' +
          'With --encrypt the Director encrypts the image once and wraps its key for each ECU; an ECU without a registered encryption key refuses the whole command (no_encryption_key). ' +
          'With --atomic each member is checked as an assignment, and a vehicle has one pending install bundle at a time; `uptane director install-bundle show ID` shows its outcome ' +
          '(installed, or rolled_back naming the ECU that failed), and cancelling one member cancels them all.',
      ) as unknown as Argv<AssignArgs>,
  handler: async (argv) => {
    if (argv.atomic) {
      await assignInstallBundle(io, { ...argv, vin: argv.vin![0]!, members: parseMembers(argv.member ?? []) });
      return;
    }
    const image = argv.image!;
    const client = OperatorClient.from(io, argv);
    const listed = [...(argv.vin ?? []), ...(argv.vinsFile === undefined ? [] : readVinsFile(argv.vinsFile))];
    const vins = [...new Set(listed)];
    const body = {
      vins,
      image,
      ...(argv.ecu === undefined ? {} : { ecuSerial: argv.ecu }),
      ...(argv.hardwareId === undefined ? {} : { hardwareId: argv.hardwareId }),
      ...(argv.dryRun ? { dryRun: true } : {}),
      ...(argv.encrypt ? { encrypt: true } : {}),
    };
    const what = `${argv.dryRun ? 'plan' : 'make'} the assignment of ${image}`;
    const answer = await client.send('POST /assignments', what, { body });
    const vehicleCount = (rows: ReadonlyArray<{ vin: string }>) => new Set(rows.map((r) => r.vin)).size;
    if (argv.dryRun) {
      const { plan } = expectAnswer<AssignmentPlan>(answer, ['plan'], 'a dry run');
      if (argv.json) {
        printJson(io, { dryRun: true, image, plan });
        return;
      }
      io.print(`dry run, nothing stored: ${image} would go to ${plural(plan.length, 'ECU')} in ${plural(vehicleCount(plan), 'vehicle')}`);
      printTable(
        io,
        ['VIN', 'ECU', 'HARDWARE', 'INSTALLED NOW', 'NEW RELEASE'],
        plan.map((p) => [p.vin, p.ecuSerial, p.hardwareId, p.installed ?? 'unknown', String(p.releaseCounter)]),
      );
      if (listed.length !== vins.length) io.print(`(${plural(listed.length - vins.length, 'repeated VIN')} ignored)`);
      io.print('run the same command without --dry-run to assign');
      return;
    }
    const { assignments } = expectAnswer<AssignmentsCreated>(answer, ['assignments'], 'an assignment');
    if (argv.json) {
      printJson(io, { assignments });
      return;
    }
    io.print(`assigned ${image}${argv.encrypt ? ' encrypted' : ''} to ${plural(assignments.length, 'ECU')} in ${plural(vehicleCount(assignments), 'vehicle')}`);
    printTable(io, ['ID', 'VIN', 'ECU', 'RELEASE', 'STATE'], assignments.map((a) => [String(a.id), a.vin, a.ecuSerial, String(a.releaseCounter), a.state]));
    if (listed.length !== vins.length) io.print(`(${plural(listed.length - vins.length, 'repeated VIN')} ignored)`);
    io.print('vehicles get it at their next update check; cancel one with `uptane director cancel ID`');
  },
});

interface CancelArgs extends RemoteArgs, YesArgs {
  readonly id: number;
  readonly json: boolean;
}

const cancelCommand = (io: CliEnvironment): CommandModule<object, CancelArgs> => ({
  command: 'cancel <id>',
  describe: 'cancel a pending or in-flight assignment (its vehicle\'s targets stop listing the image)',
  builder: (yargs) =>
    withYes(withRemote(yargs, io))
      .positional('id', { type: 'number', demandOption: true, describe: 'the assignment id (`vehicle show VIN` lists them)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the cancelled assignment as JSON' })
      .check((argv) => {
        const id = argv.id as number;
        if (!Number.isSafeInteger(id) || id < 1) throw new Error(`assignment id ${String(argv.id)}: give the number \`uptane director vehicle show VIN\` lists`);
        return true;
      })
      .example('$0 director cancel 42', 'cancel assignment 42 (asks first on a terminal)')
      .example('$0 director cancel 42 --yes', 'the same from a script, without asking')
      .epilogue(
        'A vehicle that has not fetched its targets yet never sees the image. One that already did may still install it; its next manifest reports what it runs.',
      ) as Argv<CancelArgs>,
  handler: async (argv) => {
    await confirmDestructive(io, argv, `cancel assignment ${argv.id}`);
    const client = OperatorClient.from(io, argv);
    const answer = await client.send('DELETE /assignments/:id', `cancel assignment ${argv.id}`, { params: { id: String(argv.id) } });
    if (argv.json) {
      printJson(io, answer);
      return;
    }
    io.print(`cancelled assignment ${answer.id}: ${answer.filename} for ECU ${answer.ecuSerial} of ${answer.vin}`);
    io.print("the vehicle's targets no longer list it; a vehicle that already fetched them reports what it installed in its next manifest");
  },
});

// --- url-signing-key -------------------------------------------------------------------------

const urlSigningKeyCommand = (io: CliEnvironment): CommandModule<object, DataDirArgs> => ({
  command: 'url-signing-key',
  describe: "print the public key of the Director's URL-signing key (PEM), for the Image repository's --url-signing-key",
  builder: (yargs) =>
    withDataDir(yargs, io)
      .example('$0 director url-signing-key --data-dir /var/lib/uptane/director > director-url.pub', 'then `uptane image serve --url-signing-key director-url.pub`')
      .epilogue('The key lives in <data-dir>/keys/url-signing.pem and is created there if missing, as on the first `director serve`; docs/signed-urls.md describes what it signs.') as Argv<DataDirArgs>,
  handler: async (argv) => {
    const { loadUrlSigningKey } = await import('./server.js');
    const key = loadUrlSigningKey(resolve(argv.dataDir));
    for (const line of publicKeyPem(key.publicKey).trimEnd().split('\n')) io.print(line);
  },
});

// --- replace-ecu, online-keys, audit -----------------------------------------------

interface ReplaceArgs extends RemoteArgs {
  readonly vin: string;
  readonly oldSerial: string;
  readonly serial: string;
  readonly hardwareId: string;
  readonly publicKey: string;
  readonly encryptionPublicKey?: string | undefined;
  readonly securityProfile?: string | undefined;
  readonly json: boolean;
}

const replaceEcuCommand = (io: CliEnvironment): CommandModule<object, ReplaceArgs> => ({
  command: 'replace-ecu <vin> <old-serial>',
  describe: "replace an ECU of a vehicle (new serial and key), e.g. after a repair; its active assignments are cancelled",
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('vin', { type: 'string', demandOption: true, describe: 'the vehicle' })
      .positional('old-serial', { type: 'string', demandOption: true, describe: 'serial of the ECU taken out' })
      .option('serial', { type: 'string', demandOption: true, requiresArg: true, describe: 'serial of the new ECU (may equal the old one for a re-keyed ECU)' })
      .option('hardware-id', { type: 'string', demandOption: true, requiresArg: true, describe: 'hardware id of the new ECU' })
      .option('public-key', {
        type: 'string',
        demandOption: true,
        requiresArg: true,
        describe: "the new ECU's signing key: 64 hex (Ed25519), one line of base64 SPKI (ECDSA P-256/P-384), or @FILE (a PEM or TUF key JSON file)",
      })
      .option('encryption-public-key', { type: 'string', requiresArg: true, describe: "the new ECU's X25519 image-encryption public key, 64 hex characters (none: images cannot be encrypted for it)" })
      .option('security-profile', { type: 'string', requiresArg: true, describe: `the new ECU's security profile, one of ${SECURITY_PROFILES.join(', ')} (default: the replaced ECU's)` })
      .option('json', { type: 'boolean', default: false, describe: 'print the vehicle status as JSON' })
      .check((argv) => {
        ecuKeyArgument(String(argv['public-key']), '--public-key', { allowFile: true });
        if (argv['security-profile'] !== undefined) profileArgument(String(argv['security-profile']), '--security-profile');
        if (argv['encryption-public-key'] !== undefined && !HEX_KEY.test(String(argv['encryption-public-key']))) throw new Error('--encryption-public-key must be 64 lowercase hex characters');
        return true;
      })
      .example('$0 director replace-ecu WVW123 WVW123-ecm --serial ECM-88412 --hardware-id ecm-x1 --public-key 93be...0d', 'a new engine ECU after a repair, under its own serial')
      .example('$0 director replace-ecu WVW123 WVW123-abs --serial ABS-20931 --hardware-id abs-z --public-key @abs-20931.pub.pem', 'a new ECU whose key is ECDSA, from its public key PEM file')
      .epilogue(
        'A new key in a manifest is refused unless it was registered this way first (Uptane best practice: ECU replacement is an out-of-band operator action). ' +
          'ECU serials are unique across the fleet: an ECU moved into another vehicle is first replaced in the vehicle it left (by the ECU fitted there instead), then fitted in its new vehicle with replace-ecu.',
      ) as unknown as Argv<ReplaceArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const publicKey = ecuKeyArgument(argv.publicKey, '--public-key', { allowFile: true });
    const status = await client.send('POST /vehicles/:vin/ecus/:serial/replace', `replace ECU ${argv.oldSerial} of ${argv.vin}`, {
      params: { vin: argv.vin, serial: argv.oldSerial },
      body: {
        serial: argv.serial,
        hardwareId: argv.hardwareId,
        publicKey,
        ...(argv.encryptionPublicKey === undefined ? {} : { encryptionPublicKey: argv.encryptionPublicKey }),
        ...(argv.securityProfile === undefined ? {} : { securityProfile: profileArgument(argv.securityProfile, '--security-profile') }),
      },
    });
    if (argv.json) {
      printJson(io, status);
      return;
    }
    io.print(`replaced ECU ${argv.oldSerial} of ${status.vin} by ${argv.serial} (keyid ${ecuPublicKey(publicKey).keyid})`);
    printVehicleEcus(io, status);
  },
});

interface JsonArgs extends RemoteArgs {
  readonly json: boolean;
}

// --- vehicle set-profile ----------------------------------------------------------------------

interface SetProfileArgs extends JsonArgs {
  readonly vin: string;
  readonly serial: string;
  readonly profile: string;
}

/** What a profile requires of an ECU, in words (PROFILE_REQUIREMENTS; docs/security-profiles.md). */
export function describeRequirements(r: ProfileRequirements): string {
  return [
    r.verification === 'full' ? 'full verification' : 'partial verification',
    r.hardwareKey ? 'key in hardware (PKCS#11)' : r.asymmetricKey ? 'asymmetric key' : 'symmetric or asymmetric key',
    ...(r.perEcuEncryption ? ['images encrypted per ECU'] : []),
    ...(r.abSlots ? ['A/B slots'] : []),
    ...(r.secureTime ? ['secure time'] : []),
  ].join(', ');
}

const setProfileCommand = (io: CliEnvironment): CommandModule<object, SetProfileArgs> => ({
  command: 'set-profile <vin> <serial> <profile>',
  describe: `change an ECU's security profile (${SECURITY_PROFILES.join(' < ')}): the lowest image minimum it may be assigned`,
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('vin', { type: 'string', demandOption: true, describe: 'the vehicle' })
      .positional('serial', { type: 'string', demandOption: true, describe: 'the ECU serial (`uptane director vehicle show VIN` lists them)' })
      .positional('profile', { type: 'string', demandOption: true, describe: `the new profile: ${SECURITY_PROFILES.join(', ')}` })
      .option('json', { type: 'boolean', default: false, describe: 'print the vehicle status as JSON' })
      .check((argv) => {
        profileArgument(String(argv.profile), 'the profile');
        return true;
      })
      .example('$0 director vehicle set-profile WVW123 WVW123-ecm high', 'the ECU now keeps its key in hardware, has secure time and gets images encrypted for it')
      .epilogue(
        'The Director refuses to assign an ECU an image whose minimum profile (custom.minimumSecurityProfile in the Image repository) is above the ' +
          "ECU's profile; the ECU refuses to install one too. Raise a profile only once the ECU meets what the profile requires. The change is " +
          'recorded in the audit log (set_ecu_profile); assignments already made stand.',
      ) as unknown as Argv<SetProfileArgs>,
  handler: async (argv) => {
    const profile = profileArgument(argv.profile, 'the profile');
    const client = OperatorClient.from(io, argv);
    const status = await client.send('PUT /vehicles/:vin/ecus/:serial/profile', `set the security profile of ECU ${argv.serial} of ${argv.vin}`, {
      params: { vin: argv.vin, serial: argv.serial },
      body: { securityProfile: profile },
    });
    if (argv.json) {
      printJson(io, status);
      return;
    }
    io.print(`ECU ${argv.serial} of ${status.vin} is now ${profile}: ${describeRequirements(PROFILE_REQUIREMENTS[profile])}`);
    printVehicleEcus(io, status);
  },
});

interface AttributesArgs extends JsonArgs {
  readonly vin: string;
  readonly set?: string[] | undefined;
  readonly remove?: string[] | undefined;
}

const attributesCommand = (io: CliEnvironment): CommandModule<object, AttributesArgs> => ({
  command: 'attributes <vin>',
  describe: "show, set or remove a vehicle's attributes (model, region, ...), which dynamic groups select on",
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('vin', { type: 'string', demandOption: true, describe: 'the vehicle' })
      .option('set', { type: 'string', array: true, requiresArg: true, describe: 'NAME=VALUE to set or change; repeat for each' })
      .option('remove', { type: 'string', array: true, requiresArg: true, describe: 'NAME of an attribute to remove; repeat for each' })
      .option('json', { type: 'boolean', default: false, describe: 'print {vin, attributes} as JSON' })
      .example('$0 director vehicle attributes WVW123', 'show them')
      .example('$0 director vehicle attributes WVW123 --set model=sedan-2026 --set region=eu', 'a dynamic group `--filter-attribute model=sedan-2026` now takes it')
      .example('$0 director vehicle attributes WVW123 --remove region', 'remove one')
      .epilogue('A change is recorded in the audit log (set_attributes). A vehicle holds at most 32 attributes.') as unknown as Argv<AttributesArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const set = argv.set === undefined ? {} : parseAttributePairs(argv.set, '--set');
    const remove = argv.remove ?? [];
    const status =
      Object.keys(set).length === 0 && remove.length === 0
        ? await client.send('GET /vehicles/:vin', `show vehicle ${argv.vin}`, { params: { vin: argv.vin } })
        : await client.send('PATCH /vehicles/:vin/attributes', `change the attributes of ${argv.vin}`, { params: { vin: argv.vin }, body: { set, remove } });
    if (argv.json) {
      printJson(io, { vin: status.vin, attributes: status.attributes });
      return;
    }
    const entries = Object.entries(status.attributes);
    io.print(entries.length === 0 ? `vehicle ${status.vin} has no attributes (set some with --set NAME=VALUE)` : `vehicle ${status.vin}:`);
    for (const [name, value] of entries) io.print(`  ${name}=${value}`);
  },
});

interface AuditArgs extends JsonArgs {
  readonly limit: number;
}

const auditCommand = (io: CliEnvironment): CommandModule<object, AuditArgs> => ({
  command: 'audit',
  describe: 'the latest operator actions, newest first: registrations, assignments, cancellations, replacements, roots, refusals',
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('limit', { type: 'number', default: 100, describe: 'entries to show, 1 to 1000' })
      .option('json', { type: 'boolean', default: false, describe: 'print {entries} as JSON' })
      .check((argv) => {
        const limit = argv.limit as number;
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new Error(`--limit ${String(argv.limit)}: give a whole number from 1 to 1000`);
        return true;
      })
      .example('$0 director audit', 'the last 100 actions')
      .example('$0 director audit --limit 1000 --json', 'for a report') as Argv<AuditArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const { entries } = await client.send('GET /audit', 'show the audit log', { query: { limit: argv.limit } });
    if (argv.json) {
      printJson(io, { entries });
      return;
    }
    // The token id says which of an operator's tokens acted (docs/threat-model.md HR-10); '-' for actions on the host.
    printTable(
      io,
      ['AT', 'TOKEN ID', 'ACTOR', 'ACTION', 'DETAILS'],
      entries.map((e) => [e.at, e.tokenId ?? '-', e.actor, e.action, JSON.stringify(e.details)]),
      'no operator actions recorded yet',
    );
  },
});

// ---------------------------------------------------------------------------------------------
// The group.

function group(command: string, describe: string, example: [string, string], addSubcommands: (yargs: Argv) => Argv, demand: string): CommandModule<object, object> {
  return {
    command,
    describe,
    builder: (yargs) => addSubcommands(yargs).example(example[0], example[1]).demandCommand(1, demand),
    handler: () => undefined,
  };
}

/** The `director` command group, for the root CLI: `.command(directorCommand(io))`. */
export const directorCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'director',
  describe: 'the Director repository: server, operator tokens, vehicles, assignments, groups and campaigns, and its offline-signed root',
  builder: (yargs) =>
    yargs
      .command(serveCommand(io))
      .command(
        group(
          'operator',
          'create, list and revoke operator tokens (on the Director host, in its database)',
          ['$0 director operator add alice', 'a token for alice'],
          operatorTokenCommands(io, (y) => withDatabase(withDataDir(y, io), io)),
          'name an operator subcommand: add, list, revoke or remove',
        ),
      )
      .command(
        group(
          'vehicle',
          'register, list and show vehicles',
          ['$0 director vehicle show WVW123', 'one vehicle in detail'],
          (y) => y.command(registerCommand(io)).command(listCommand(io)).command(showCommand(io)).command(attributesCommand(io)).command(setProfileCommand(io)),
          'name a vehicle subcommand: register, list, show, attributes or set-profile',
        ),
      )
      .command(imagesCommand(io))
      .command(assignCommand(io))
      .command(cancelCommand(io))
      .command(replaceEcuCommand(io))
      .command(directorWorkspaceCommands(io))
      .command(groupCommand(io))
      .command(campaignCommand(io))
      .command(directorOnlineKeysCommand(io))
      .command(directorExpiryCommand(io, DEFAULT_DATA_DIR))
      .command(directorAlertsCommand(io))
      .command(directorDbCommand(io))
      .command(urlSigningKeyCommand(io))
      .command(auditCommand(io))
      .command(bundleCommand(io))
      .command(installBundleCommand(io))
      .example('$0 director serve --image-root image-1.root.json', 'run the Director')
      .example('$0 director vehicle register --csv fleet.csv', 'register a fleet')
      .example('$0 director assign --image engine/ecm-2.0.bin --vin WVW123 --ecu WVW123-ecm --dry-run', 'plan an update')
      .example('$0 director campaign create ecm-2.1 --group eu-sedans --image ecm-x1=engine/ecm-2.1.bin --stage 1% --stage 10% --stage 100%', 'a staged rollout')
      .example('$0 director init -w director-ws --server http://127.0.0.1:8082', 'a workspace for the offline root (then root create, sign, push)')
      .epilogue(
        `Commands that talk to a running Director take --url (env UPTANE_DIRECTOR_URL, default http://127.0.0.1:${DEFAULT_PORT}) and read the operator token ` +
          `from the environment variable named by --token-env (default ${DEFAULT_TOKEN_ENV}). ` +
          'init, root, sign, status, discard, sign-request, pull and push work on an offline workspace (--workspace, env UPTANE_WORKSPACE), as for the Image repository. ' +
          'Exit status: 0 on success, 1 on any failure.',
      )
      .demandCommand(1, 'name a director subcommand; run uptane director --help to list them'),
  handler: () => undefined,
});
