// Workspace commands every repository's CLI group shares: init, root changes, sign, status,
// discard, air-gapped signing requests and pull. A component's cli.ts mounts them (`uptane image
// ...`, `uptane director ...`) and adds its own (targets, push). Output and environment come from
// the CliEnvironment the root cli.ts hands over (docs/code-style.md R3); progress goes to standard
// error.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../cli/cli-output.js';
import { confirmDestructive, withYes, type YesArgs } from '../cli/confirm.js';
import type { Clock } from '../core/clock.js';
import { loadPublicKey } from '../files/key-files.js';
import { type PublicKey } from '../core/crypto/keys.js';
import { StorageError, WorkspaceError } from '../core/errors.js';
import { HttpFetcher, type Fetcher } from '../client/fetcher.js';
import type { CliEnvironment } from '../cli/environment.js';
import { isPkcs11Uri } from '../keys/pkcs11-uri.js';
import { DEFAULT_PIN_ENV, MODULE_ENV, openSigner, type KeySourceOptions, type OpenedSigner } from '../keys/key-source.js';
import { caOption, clientTlsFromFiles } from '../cli/tls-args.js';
import type { ClientTlsConfig } from '../client/tls-client.js';
import { TOP_LEVEL_ROLES, type TopLevelRole } from '../core/metadata/types.js';
import { formatDiff } from './diff.js';
import { formatStatus, statusVerdict } from './status.js';
import { describeExpiry } from './duration.js';
import { shortKeyId } from './hints.js';
import { describeSigned, readSigningRequest, signSigningRequest } from './signing-request.js';
import type { AuthorityProgress } from './signatures.js';
import type { StageResult } from './staging.js';
import { Workspace } from './workspace.js';

/** The process environment a workspace command needs, handed over by the root cli.ts. */
export interface WorkspaceCliEnvironment extends CliEnvironment {
  /** Progress lines while hashing or uploading; default: standard error (io.warn). */
  readonly progress?: (line: string) => void;
  /** Time used for expiry and checks; default: the system clock. */
  readonly clock?: Clock;
  /** Sets the exit status of a command that succeeded with a verdict (`status`); default: process.exitCode. */
  readonly setExitCode?: (code: number) => void;
}

function setProcessExitCode(code: number): void {
  process.exitCode = code;
}

/** The server's online public keys, by role (at least those of WorkspaceCommandOptions.onlineRoles). */
export type OnlineKeySet = Readonly<Partial<Record<TopLevelRole, PublicKey>>>;

/** The roles whose keys an Image repository server holds online; the Director holds targets too. */
export const DEFAULT_ONLINE_ROLES: readonly TopLevelRole[] = ['timestamp', 'snapshot'];

export interface WorkspaceCommandOptions {
  /** 'image' or 'director': the CLI group, and the repository named in every file. */
  readonly repository: string;
  /** Roles the server signs online: root create fills their keys from the server (default timestamp and snapshot). */
  readonly onlineRoles?: readonly TopLevelRole[];
  /**
   * Fetches the server's online keys (root create, root add-key --from-server); `tokenEnv` is the
   * variable named by --token-env when the repository's lookup needs a token (onlineKeysTokenEnv).
   */
  readonly fetchOnlineKeys?: (serverUrl: string, tokenEnv: string | undefined, tls: ClientTlsConfig | undefined) => Promise<OnlineKeySet>;
  /** When set, root create and root add-key take --token-env with this default, for fetchOnlineKeys. */
  readonly onlineKeysTokenEnv?: string;
  /** More subcommands of the `root` group (the Director's `root push`). */
  readonly rootCommands?: readonly CommandModule<object, object>[];
  /** Replaces the default `pull` (the Director serves only its root chain without a vehicle's key). */
  readonly pull?: CommandModule<object, object>;
  /**
   * When set, `pull` takes --token-env with this default and sends that token (Bearer) with every
   * read: an Image repository that serves only to credentials lets uploaders read (docs/signed-urls.md).
   */
  readonly pullTokenEnv?: string;
}

export interface WorkspaceArgs {
  readonly workspace: string;
}

interface PassphraseArgs {
  readonly passphraseEnv?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Helpers the component CLIs use too.

export function withWorkspace<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & WorkspaceArgs> {
  return yargs.option('workspace', {
    alias: 'w',
    type: 'string',
    default: io.env.UPTANE_WORKSPACE ?? '.',
    describe: 'workspace folder (env UPTANE_WORKSPACE)',
  }) as unknown as Argv<T & WorkspaceArgs>;
}

function withPassphrase<T>(yargs: Argv<T>): Argv<T & PassphraseArgs> {
  return yargs.option('passphrase-env', {
    type: 'string',
    requiresArg: true,
    describe: 'environment variable holding the key file passphrase (never pass it as an argument; without it, an encrypted key asks on a terminal, without echo)',
  }) as unknown as Argv<T & PassphraseArgs>;
}

interface TokenArgs {
  readonly pinEnv?: string | undefined;
  readonly pkcs11Module?: string | undefined;
}

/** --pin-env and --pkcs11-module, for a --key that may be a PKCS#11 URI (docs/decisions.md "PKCS#11"). */
function withTokenOptions<T>(yargs: Argv<T>): Argv<T & TokenArgs> {
  return yargs
    .option('pin-env', {
      type: 'string',
      requiresArg: true,
      describe: `environment variable holding the token PIN for a pkcs11: --key (default ${DEFAULT_PIN_ENV}; else asked on a terminal)`,
    })
    .option('pkcs11-module', {
      type: 'string',
      requiresArg: true,
      describe: `PKCS#11 module (.so) for a pkcs11: --key (default: the URI's module-path, else env ${MODULE_ENV})`,
    }) as unknown as Argv<T & TokenArgs>;
}

/** What --key, --passphrase-env, --pin-env and --pkcs11-module say, for shared/keys/key-source.ts. */
function keySourceOptions(io: WorkspaceCliEnvironment, argv: PassphraseArgs & TokenArgs): KeySourceOptions {
  return { env: io.env, passphraseEnv: argv.passphraseEnv, pinEnv: argv.pinEnv, pkcs11Module: argv.pkcs11Module, promptSecret: io.promptSecret };
}

/** Opens the signer a --key value names (key file or token key) and says what the operator should know about it. */
async function openSigningKey(io: WorkspaceCliEnvironment, key: string, argv: PassphraseArgs & TokenArgs): Promise<OpenedSigner> {
  const opened = await openSigner(key, keySourceOptions(io, argv));
  for (const warning of opened.warnings) io.warn(`warning: ${warning}`);
  return opened;
}

/** A public key named by --key: a key file, or the public half of a token key (read from the token; the private key stays there). */
async function loadPublicKeyOrToken(io: WorkspaceCliEnvironment, key: string, argv: TokenArgs): Promise<PublicKey> {
  if (!isPkcs11Uri(key)) return loadPublicKey(key);
  const opened = await openSigningKey(io, key, argv);
  try {
    return opened.signer.publicKey;
  } finally {
    opened.close();
  }
}

const KEY_DESCRIBE = "private key file (PKCS#8 PEM), or a token key as a PKCS#11 URI: 'pkcs11:token=LABEL;object=LABEL' (PIN from --pin-env, module from --pkcs11-module)";

/** Opens the workspace; with `repository`, refuses one that signs for another repository. */
export function openWorkspace(io: WorkspaceCliEnvironment, args: WorkspaceArgs, repository?: string): Workspace {
  const ws = Workspace.open(args.workspace, io.clock);
  if (repository !== undefined && ws.repository !== repository) {
    throw new WorkspaceError(`${ws.dir} is a workspace of the ${ws.repository} repository, not the ${repository}: use \`uptane ${ws.repository} ...\` with it, or point --workspace at a ${repository} workspace`, {
      repository,
    });
  }
  return ws;
}

const onlineRolesOf = (options: WorkspaceCommandOptions) => options.onlineRoles ?? DEFAULT_ONLINE_ROLES;
/**
 * The role the examples sign, stage and discard: targets where release engineers sign it offline
 * (the Image repository), else root (the Director signs targets online, so its workspace stages root
 * alone, and an example naming targets there would fail).
 */
const offlineRoleOf = (options: WorkspaceCommandOptions): 'targets' | 'root' => (onlineRolesOf(options).includes('targets') ? 'root' : 'targets');

/** `a, b and c` (or `a, b or c`). */
const wordList = (words: readonly string[], last = 'and') => (words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} ${last} ${words[words.length - 1]}`);

interface TokenEnvArgs {
  readonly tokenEnv?: string | undefined;
}

/** --token-env, when the repository's online-key lookup needs a token. */
function withOnlineKeysToken<T>(yargs: Argv<T>, options: WorkspaceCommandOptions): Argv<T & TokenEnvArgs> {
  if (options.onlineKeysTokenEnv === undefined) return yargs as Argv<T & TokenEnvArgs>;
  return yargs.option('token-env', {
    type: 'string',
    default: options.onlineKeysTokenEnv,
    requiresArg: true,
    describe: 'environment variable holding the token for fetching the online keys (never pass a token as an argument)',
  }) as unknown as Argv<T & TokenEnvArgs>;
}

function readBytesFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new StorageError(`cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function readTextFile(path: string, what: string): string {
  return readBytesFile(path, what).toString('utf8');
}

/** Writes a new file; never overwrites one (a signing request or signature is evidence, not scratch). */
export function writeNewFile(path: string, text: string): void {
  try {
    writeFileSync(path, text, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    throw new StorageError(`cannot write ${path}: ${(err as Error).message}${(err as NodeJS.ErrnoException).code === 'EEXIST' ? ' (choose another --out)' : ''}`, { cause: err });
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Progress of one long operation as `label: done / total (p%)` lines: one at least every 10% or
 * second, and always the last, so logs of large images stay short but never look stuck.
 */
export function progressPrinter(io: WorkspaceCliEnvironment, label: string): (done: number, total: number) => void {
  const print = io.progress ?? io.warn;
  let lastPercent = -100;
  let lastTime = 0;
  return (done, total) => {
    const percent = total === 0 ? 100 : Math.floor((done * 100) / total);
    const now = Date.now();
    if (done < total && percent < lastPercent + 10 && now - lastTime < 1000) return;
    lastPercent = percent;
    lastTime = now;
    print(`${label}: ${formatBytes(done)} / ${formatBytes(total)} (${percent}%)`);
  };
}

/** The server URL from --server, else the workspace's; a clear error when neither is set. */
export function serverUrlOf(ws: Workspace, override: string | undefined): string {
  if (override !== undefined) return override.replace(/\/+$/, '');
  if (ws.config.serverUrl !== undefined) return ws.config.serverUrl;
  throw new WorkspaceError(`no server URL: pass --server http://host:port, or store one with \`${ws.hint('init --server URL')}\` in a new workspace`, {
    repository: ws.repository,
  });
}

export function printProgress(io: CliEnvironment, progress: readonly AuthorityProgress[]): void {
  for (const p of progress) {
    io.print(`  ${p.label}: ${p.signed.length}/${p.threshold} signed${p.met ? ' (threshold met)' : `; ${p.threshold - p.signed.length} more from: ${p.missing.map(shortKeyId).join(', ')}`}`);
  }
}

export interface JsonArgs {
  readonly json?: boolean | undefined;
}

/** --json, for a command whose result scripts read. */
export function withJson<T>(yargs: Argv<T>): Argv<T & JsonArgs> {
  return yargs.option('json', { type: 'boolean', default: false, describe: 'print the result as JSON, for scripts' }) as unknown as Argv<T & JsonArgs>;
}

/** Reports a staged edit: what changed, the version, dropped signatures, and what to do next; with `json`, as one JSON object. */
export function printStage(io: CliEnvironment, ws: Workspace, result: StageResult, change: string, json = false): void {
  const { role, signed } = result;
  if (json) {
    printJson(io, {
      role,
      change: result.changed ? change : null,
      version: signed.version,
      expires: signed.expires,
      changed: result.changed,
      started: result.started,
      publishedVersion: result.publishedVersion,
      droppedSignatures: result.droppedSignatures,
    });
    return;
  }
  if (!result.changed) {
    io.print(`${role} v${signed.version}: nothing changed; signatures collected so far are kept`);
    return;
  }
  io.print(change);
  const from = result.publishedVersion === 0 ? 'never published' : `published v${result.publishedVersion}`;
  io.print(`staged ${role} v${signed.version} (${from}), expires ${signed.expires} (${describeExpiry(signed.expires, ws.now)})`);
  if (result.droppedSignatures.length > 0) {
    io.print(
      `the signed part of ${role} v${signed.version} changed, so ${result.droppedSignatures.length} signature(s) no longer cover it and were dropped (${result.droppedSignatures.map(shortKeyId).join(', ')}): they must sign again`,
    );
  }
  io.print(`next: more changes, then \`${ws.hint(`sign --role ${role} --key FILE`)}\` (\`${ws.hint('status')}\` shows who must sign)`);
}

function printReadiness(io: CliEnvironment, ws: Workspace, role: string): void {
  const problems = ws.readinessProblems(role);
  if (problems.length === 0) io.print(`${role} is ready to push: \`${ws.hint('push')}\``);
  else if (problems.every((p) => p.code === 'unmet_threshold')) io.print(`${role} needs more signatures before it can be pushed`);
  else for (const p of problems) io.print(`not ready: ${p.message}`);
}

function topLevelRole(value: string): TopLevelRole {
  if (!(TOP_LEVEL_ROLES as readonly string[]).includes(value)) throw new WorkspaceError(`--role must be one of ${TOP_LEVEL_ROLES.join(', ')}, got ${value}`);
  return value as TopLevelRole;
}

/** A keyid, or an unambiguous prefix of one (status prints 12-character prefixes), among `keyids`. */
function resolveKeyId(keyids: readonly string[], given: string, role: string): string {
  const matches = keyids.filter((k) => k.startsWith(given.toLowerCase()));
  if (matches.length === 1 && (given.length >= 8 || matches[0] === given)) return matches[0]!;
  if (matches.length > 1) throw new WorkspaceError(`keyid prefix ${given} matches ${matches.length} ${role} keys; give more characters`);
  throw new WorkspaceError(`no ${role} key has keyid ${given}${given.length < 8 ? ' (give at least 8 characters)' : ''}; the ${role} keys are ${keyids.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// init

interface InitArgs extends WorkspaceArgs, JsonArgs {
  readonly server?: string | undefined;
  readonly trustedRoot?: string | undefined;
}

function initCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, InitArgs> {
  const group = `$0 ${options.repository}`;
  return {
    command: 'init',
    describe: `create an offline signing workspace for the ${options.repository} repository (a folder; nothing is sent anywhere)`,
    builder: (yargs) =>
      withJson(withWorkspace(yargs, io))
        .option('server', { type: 'string', requiresArg: true, describe: 'repository server URL, used by push, pull and root create' })
        .option('trusted-root', {
          type: 'string',
          requiresArg: true,
          describe: 'root metadata file to trust (a second engineer or a supplier starts from the published root, then pulls)',
        })
        .example(`${group} init --workspace release --server http://127.0.0.1:8081`, 'a new workspace for the OEM release engineers')
        .example(`${group} init -w acme-ws --server http://repo:8081 --trusted-root 1.root.json`, 'a supplier workspace that trusts the published root') as Argv<InitArgs>,
    handler: (argv) => {
      // The exact bytes: a trust anchor is never re-encoded on its way in.
      const trustedRoot = argv.trustedRoot === undefined ? undefined : readBytesFile(argv.trustedRoot, 'root metadata');
      const ws = Workspace.init(
        argv.workspace,
        { repository: options.repository, ...(argv.server !== undefined ? { serverUrl: argv.server } : {}), ...(trustedRoot ? { trustedRoot } : {}) },
        io.clock,
      );
      if (argv.json) {
        printJson(io, { workspace: ws.dir, repository: ws.repository, serverUrl: ws.config.serverUrl ?? null, trustedRootVersion: ws.files.loadPublishedRoot()?.signed.version ?? null });
        return;
      }
      io.print(`created ${options.repository} workspace ${ws.dir}`);
      if (ws.config.serverUrl !== undefined) io.print(`server: ${ws.config.serverUrl}`);
      io.print(
        trustedRoot !== undefined
          ? `trusting root v${ws.files.loadPublishedRoot()!.signed.version}; next: \`${ws.hint('pull')}\``
          : `next: \`${ws.hint('root create --root-key FILE --targets-key FILE')}\``,
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// root

interface RootCreateArgs extends WorkspaceArgs, TokenEnvArgs, TokenArgs, JsonArgs {
  readonly rootKey: string[];
  readonly rootThreshold: number;
  readonly targetsKey?: string[] | undefined;
  readonly targetsThreshold: number;
  readonly timestampKey?: string[] | undefined;
  readonly snapshotKey?: string[] | undefined;
  readonly expires?: string | undefined;
  readonly server?: string | undefined;
  readonly ca?: string | undefined;
}

function rootCreateCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, RootCreateArgs> {
  const group = `$0 ${options.repository}`;
  const online = onlineRolesOf(options);
  const onlineText = wordList(online);
  const keyOption = (role: TopLevelRole, offline: string) =>
    online.includes(role) ? `public ${role} key file; default: the server's online ${role} key` : offline;
  const example: [string, string] = online.includes('targets')
    ? [`${group} root create --root-key root-1.pub.json --root-key root-2.pub.json --root-threshold 2`, `2-of-2 offline root; ${onlineText} keys from the server`]
    : [
        `${group} root create --root-key root-1.pub.json --root-key root-2.pub.json --root-threshold 2 --targets-key t1.pub.json --targets-key t2.pub.json --targets-key t3.pub.json --targets-threshold 2`,
        '2-of-2 root, 2-of-3 targets; online keys from the server',
      ];
  return {
    command: 'create',
    describe: `stage root version 1: offline root${online.includes('targets') ? '' : ' and targets'} keys, the server's online ${onlineText} keys`,
    builder: (yargs) =>
      withTokenOptions(withOnlineKeysToken(withJson(withWorkspace(yargs, io)), options))
        .option('root-key', { type: 'string', array: true, demandOption: true, describe: 'public key file of a root key, or a token key\'s pkcs11: URI (its public half is read from the token); repeat for several' })
        .option('root-threshold', { type: 'number', default: 1, describe: 'root signatures required' })
        .option('targets-key', {
          type: 'string',
          array: true,
          demandOption: !online.includes('targets'),
          describe: keyOption('targets', 'public key file of a targets key (repeat)'),
        })
        .option('targets-threshold', { type: 'number', default: 1, describe: 'targets signatures required' })
        .option('timestamp-key', { type: 'string', array: true, describe: keyOption('timestamp', 'public timestamp key file (repeat)') })
        .option('snapshot-key', { type: 'string', array: true, describe: keyOption('snapshot', 'public snapshot key file (repeat)') })
        .option('expires', { type: 'string', requiresArg: true, describe: 'duration (365d, 1y) or date; default from the workspace policy (365d)' })
        .option('server', { type: 'string', requiresArg: true, describe: 'server to fetch online keys from; default: the workspace\'s' })
        .option('ca', caOption(io))
        .example(example[0], example[1]) as unknown as Argv<RootCreateArgs>,
    handler: async (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const load = async (files: readonly string[] | undefined) => {
        const loaded: PublicKey[] = [];
        for (const f of files ?? []) loaded.push(await loadPublicKeyOrToken(io, f, argv));
        return loaded;
      };
      const keys: Record<TopLevelRole, PublicKey[]> = {
        root: await load(argv.rootKey),
        targets: await load(argv.targetsKey),
        snapshot: await load(argv.snapshotKey),
        timestamp: await load(argv.timestampKey),
      };
      const missing = TOP_LEVEL_ROLES.filter((role) => keys[role].length === 0);
      const offline = missing.filter((role) => !online.includes(role));
      if (offline.length > 0) throw new WorkspaceError(`give ${offline.map((role) => `--${role}-key`).join(' and ')}`, { repository: options.repository, role: 'root' });
      if (missing.length > 0) {
        if (options.fetchOnlineKeys === undefined) throw new WorkspaceError(`give ${missing.map((role) => `--${role}-key`).join(' and ')}`);
        const url = serverUrlOf(ws, argv.server);
        const fetched = await options.fetchOnlineKeys(url, argv.tokenEnv, clientTlsFromFiles({ ca: argv.ca }));
        for (const role of missing) {
          const key = fetched[role];
          if (key === undefined) throw new WorkspaceError(`${url} offers no online ${role} key: give --${role}-key`, { repository: options.repository, role: 'root' });
          keys[role] = [key];
        }
        (argv.json === true ? io.warn : io.print)(`online keys from ${url}: ${missing.map((role) => `${role} ${shortKeyId(keys[role][0]!.keyid)}`).join(', ')}`);
      }
      const result = ws.createRoot({
        keys,
        thresholds: { root: argv.rootThreshold, targets: argv.targetsThreshold, timestamp: 1, snapshot: 1 },
        ...(argv.expires !== undefined ? { expires: argv.expires } : {}),
      });
      if (argv.json) {
        printJson(io, { role: 'root', version: result.signed.version, expires: result.signed.expires, roles: result.signed.roles });
        return;
      }
      for (const line of describeSigned(result.signed)) io.print(line);
      io.print(`staged root v1; next: sign it with ${argv.rootThreshold} root key(s): \`${ws.hint('sign --role root --key FILE')}\``);
    },
  };
}

interface RootKeyArgs extends WorkspaceArgs, TokenEnvArgs, JsonArgs {
  readonly role: string;
  readonly key?: string | undefined;
  readonly keyid?: string | undefined;
  readonly fromServer?: boolean | undefined;
  readonly server?: string | undefined;
  readonly ca?: string | undefined;
}

function rootAddKeyCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, RootKeyArgs & TokenArgs> {
  const group = `$0 ${options.repository}`;
  const offline = offlineRoleOf(options);
  return {
    command: 'add-key',
    describe: 'stage a root change adding a key to a role (the next root version; old and new root keys must sign it)',
    builder: (yargs) =>
      withTokenOptions(withOnlineKeysToken(withJson(withWorkspace(yargs, io)), options))
        .option('role', { type: 'string', choices: [...TOP_LEVEL_ROLES], demandOption: true, describe: 'role to give the key to' })
        .option('key', { type: 'string', requiresArg: true, describe: "public key file (TUF key JSON or PEM), or a token key as 'pkcs11:token=LABEL;object=LABEL' (its public half is read from the token)" })
        .option('from-server', { type: 'boolean', describe: `${wordList(onlineRolesOf(options), 'or')}: the server's current online key` })
        .option('server', { type: 'string', requiresArg: true, describe: 'server for --from-server; default: the workspace\'s' })
        .option('ca', caOption(io))
        .example(`${group} root add-key --role root --key root-2.pub.json`, 'start a root rotation: add the new root key')
        .example(`${group} root add-key --role ${offline} --key ${offline}-4.pub.json`, `one more ${offline} key`)
        .example(`${group} root add-key --role root --key 'pkcs11:token=release;object=root-2'`, 'add a key held in a hardware token (PIN from UPTANE_PKCS11_PIN)') as Argv<RootKeyArgs & TokenArgs>,
    handler: async (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const role = topLevelRole(argv.role);
      let key: PublicKey;
      if (argv.fromServer === true) {
        const online = onlineRolesOf(options);
        if (!online.includes(role)) throw new WorkspaceError(`--from-server is for the online roles: ${wordList(online)}`);
        if (options.fetchOnlineKeys === undefined) throw new WorkspaceError('this repository offers no online keys; give --key');
        const url = serverUrlOf(ws, argv.server);
        const fetched = (await options.fetchOnlineKeys(url, argv.tokenEnv, clientTlsFromFiles({ ca: argv.ca })))[role];
        if (fetched === undefined) throw new WorkspaceError(`${url} offers no online ${role} key: give --key`);
        key = fetched;
      } else if (argv.key !== undefined) {
        key = await loadPublicKeyOrToken(io, argv.key, argv);
      } else {
        throw new WorkspaceError(`give the key to add: --key FILE (or --from-server for ${wordList(onlineRolesOf(options))})`);
      }
      printStage(io, ws, ws.addRootKey(role, key), `added ${role} key ${key.keyid}`, argv.json);
    },
  };
}

function rootRemoveKeyCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, RootKeyArgs> {
  const group = `$0 ${options.repository}`;
  return {
    command: 'remove-key',
    describe: 'stage a root change removing a key from a role (revocation: clients stop trusting it at the next root)',
    builder: (yargs) =>
      withJson(withWorkspace(yargs, io))
        .option('role', { type: 'string', choices: [...TOP_LEVEL_ROLES], demandOption: true, describe: 'role to take the key from' })
        .option('keyid', { type: 'string', requiresArg: true, describe: 'keyid (or a prefix of 8+ characters, as status prints)' })
        .option('key', { type: 'string', requiresArg: true, describe: 'or the public key file' })
        .example(`${group} root remove-key --role root --keyid 3f9a61c2d0b4`, 'finish a root rotation: drop the old root key') as Argv<RootKeyArgs>,
    handler: (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const role = topLevelRole(argv.role);
      const root = ws.files.loadStagedRoot() ?? ws.files.loadPublishedRoot();
      if (root === undefined) throw new WorkspaceError(`this workspace has no root: \`${ws.hint('root create')}\``);
      let keyid: string;
      if (argv.key !== undefined) keyid = loadPublicKey(argv.key).keyid;
      else if (argv.keyid !== undefined) keyid = resolveKeyId(root.signed.roles[role].keyids, argv.keyid, role);
      else throw new WorkspaceError('name the key to remove: --keyid ID or --key FILE');
      printStage(io, ws, ws.removeRootKey(role, keyid), `removed ${role} key ${keyid}`, argv.json);
    },
  };
}

interface ThresholdArgs extends WorkspaceArgs, JsonArgs {
  readonly role: string;
  readonly threshold: number;
}

function rootThresholdCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, ThresholdArgs> {
  return {
    command: 'threshold <threshold>',
    describe: 'stage a root change setting how many of a role\'s keys must sign',
    builder: (yargs) =>
      withJson(withWorkspace(yargs, io))
        .positional('threshold', { type: 'number', demandOption: true, describe: 'signatures required (1 up to the role\'s key count)' })
        .option('role', { type: 'string', choices: [...TOP_LEVEL_ROLES], demandOption: true, describe: 'role whose threshold to set' })
        .example(`$0 ${options.repository} root threshold 2 --role ${offlineRoleOf(options)}`, `require 2 ${offlineRoleOf(options)} signatures`) as Argv<ThresholdArgs>,
    handler: (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const role = topLevelRole(argv.role);
      printStage(io, ws, ws.setRootThreshold(role, argv.threshold), `set the ${role} threshold to ${argv.threshold}`, argv.json);
    },
  };
}

interface ExpiresArgs extends WorkspaceArgs, JsonArgs {
  readonly when: string;
}

function rootExpiresCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, ExpiresArgs> {
  return {
    command: 'expires <when>',
    describe: 'stage a root change setting its expiry (also how to re-sign a root before it expires)',
    builder: (yargs) =>
      withJson(withWorkspace(yargs, io))
        .positional('when', { type: 'string', demandOption: true, describe: 'duration from now (365d, 1y, 2w) or a date (2027-06-30)' })
        .example(`$0 ${options.repository} root expires 1y`, 'root valid for one more year') as Argv<ExpiresArgs>,
    handler: (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      printStage(io, ws, ws.setExpires('root', argv.when), `set the root expiry`, argv.json);
    },
  };
}

function rootCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, object> {
  return {
    command: 'root',
    describe: 'create the root metadata, or stage root changes: keys, thresholds, expiry (rotation)',
    builder: (yargs) =>
      yargs
        .command(rootCreateCommand(io, options))
        .command(rootAddKeyCommand(io, options))
        .command(rootRemoveKeyCommand(io, options))
        .command(rootThresholdCommand(io, options))
        .command(rootExpiresCommand(io, options))
        .command((options.rootCommands ?? []) as CommandModule<object, object>[])
        .example(`$0 ${options.repository} root add-key --role root --key new-root.pub.json`, 'rotate root: add the new key, then remove the old one')
        .demandCommand(1, `name a root subcommand: ${wordList(['create', 'add-key', 'remove-key', 'threshold', 'expires', ...(options.rootCommands ?? []).map((c) => String(c.command).split(' ')[0]!)], 'or')}`),
    handler: () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// sign, status, discard

interface SignArgs extends WorkspaceArgs, PassphraseArgs, TokenArgs, JsonArgs {
  readonly role: string;
  readonly key: string;
}

function signCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, SignArgs> {
  const group = `$0 ${options.repository}`;
  const offline = offlineRoleOf(options);
  return {
    command: 'sign',
    describe: 'add one key\'s signature to a staged role, keeping the signatures already collected',
    builder: (yargs) =>
      withTokenOptions(
        withPassphrase(
          withWorkspace(yargs, io)
            .option('role', { type: 'string', demandOption: true, describe: 'root, targets, or a delegated role' })
            .option('key', { type: 'string', demandOption: true, describe: KEY_DESCRIBE }),
        ),
      )
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON (keyid, version, each authority\'s progress, readiness), for scripts' })
        .example(`${group} sign --role ${offline} --key ${offline}-1.pem`, `the first of the ${offline} signatures`)
        .example(`${group} sign --role root --key root-1.pem --passphrase-env ROOT_PASS`, 'with an encrypted key')
        .example(`${group} sign --role root --key 'pkcs11:token=release;object=root-1' --pin-env ROOT_PIN --pkcs11-module /usr/lib/softhsm/libsofthsm2.so`, 'with a key that never leaves its hardware token') as Argv<SignArgs>,
    handler: async (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const signer = await openSigningKey(io, argv.key, argv);
      let result: ReturnType<Workspace['sign']>;
      try {
        result = ws.sign(argv.role, signer.signer);
      } finally {
        signer.close();
      }
      if (argv.json) {
        const problems = ws.readinessProblems(argv.role);
        printJson(io, { ...result, ready: problems.length === 0, problems: problems.map((p) => ({ code: p.code, message: p.message })) });
        return;
      }
      io.print(
        result.alreadySigned
          ? `${argv.role} v${result.version} already carries a valid signature by ${result.keyid}; nothing changed`
          : `signed ${argv.role} v${result.version} with ${result.keyid}`,
      );
      printProgress(io, result.progress);
      printReadiness(io, ws, argv.role);
    },
  };
}

interface StatusArgs extends WorkspaceArgs {
  readonly json: boolean;
  readonly check: boolean;
}

function statusCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, StatusArgs> {
  return {
    command: 'status',
    describe: 'per role: staged version against published, expiry, who signed, who is still missing, ready to push',
    builder: (yargs) =>
      withWorkspace(yargs, io)
        .option('json', { type: 'boolean', default: false, describe: 'print the status as JSON (full keyids), with "verdict" and its "exitCode"' })
        .option('check', { type: 'boolean', default: false, describe: 'exit with the verdict\'s status (below) instead of 0, for scripts and scheduled jobs' })
        .example(`$0 ${options.repository} status`, 'what is staged and what it still needs')
        .example(`$0 ${options.repository} status --check || echo "not ready: $?"`, 'fail unless everything staged can be pushed')
        .example(`$0 ${options.repository} status --json`, 'the same, for scripts')
        .epilogue(
          'Exit status with --check: 0 ready to push (or nothing staged and nothing expired), 3 signatures missing, 4 a staged or published role has expired, 5 a staged role cannot be pushed for another reason; 1 when the command itself fails (without --check too).',
        ) as Argv<StatusArgs>,
    handler: (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const status = ws.status();
      const { verdict, exitCode } = statusVerdict(status);
      if (argv.json) printJson(io, { ...status, verdict, exitCode });
      else for (const line of formatStatus(status)) io.print(line);
      if (argv.check) (io.setExitCode ?? setProcessExitCode)(exitCode);
    },
  };
}

interface RoleArgs extends WorkspaceArgs {
  readonly role: string;
}

interface DiffArgs extends WorkspaceArgs {
  readonly role?: string | undefined;
  readonly json: boolean;
}

function diffCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, DiffArgs> {
  return {
    command: 'diff',
    describe: 'what a signature would approve: each staged role against the published one (version, expiry, keys and thresholds, delegations, images with lengths, hashes and custom fields)',
    builder: (yargs) =>
      withWorkspace(yargs, io)
        .option('role', { type: 'string', requiresArg: true, describe: 'only this role (default: every staged role)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the diff as JSON (full keyids and hashes)' })
        .example(`$0 ${options.repository} diff`, 'review before `sign`: + added, - removed, ~ changed')
        .example(`$0 ${options.repository} diff --role ${offlineRoleOf(options)} --json`, 'the same for scripts') as Argv<DiffArgs>,
    handler: (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const diff = ws.diff(argv.role);
      if (argv.role !== undefined && diff.roles.length === 0) {
        throw new WorkspaceError(`nothing is staged for ${argv.role}`, { repository: ws.repository, role: argv.role });
      }
      if (argv.json) printJson(io, diff);
      else for (const line of formatDiff(diff)) io.print(line);
    },
  };
}

function discardCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, RoleArgs & JsonArgs & YesArgs> {
  return {
    command: 'discard',
    describe: 'throw away the staged change of a role (and its signatures)',
    builder: (yargs) =>
      withYes(withJson(withWorkspace(yargs, io)))
        .option('role', { type: 'string', demandOption: true, describe: 'root, targets, or a delegated role' })
        .example(`$0 ${options.repository} discard --role ${offlineRoleOf(options)}`, `asks first on a terminal, then starts the ${offlineRoleOf(options)} change over from the published version`)
        .example(`$0 ${options.repository} discard --role ${offlineRoleOf(options)} --yes`, 'the same from a script, without asking') as Argv<RoleArgs & JsonArgs & YesArgs>,
    handler: async (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      if (ws.stagedRoles().includes(argv.role)) await confirmDestructive(io, argv, `discard the staged ${argv.role} and the signatures collected on it`);
      ws.discard(argv.role);
      if (argv.json) printJson(io, { role: argv.role, discarded: true });
      else io.print(`discarded the staged ${argv.role}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Air-gapped signing requests

interface ExportArgs extends RoleArgs, JsonArgs {
  readonly out?: string | undefined;
}

function requestExportCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, ExportArgs> {
  const group = `$0 ${options.repository}`;
  return {
    command: 'export',
    describe: 'write a signing request for a staged role, to carry to an offline signer',
    builder: (yargs) =>
      withJson(withWorkspace(yargs, io))
        .option('role', { type: 'string', demandOption: true, describe: 'root, targets, or a delegated role' })
        .option('out', { type: 'string', requiresArg: true, describe: 'file to write; default <role>-v<version>.request.json' })
        .example(`${group} sign-request export --role ${offlineRoleOf(options)} --out /media/usb/${offlineRoleOf(options)}.request.json`, 'for a signer on an air-gapped machine') as Argv<ExportArgs>,
    handler: (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const request = ws.exportSigningRequest(argv.role);
      const out = argv.out ?? `${argv.role}-v${request.version}.request.json`;
      writeNewFile(out, `${JSON.stringify(request, null, 2)}\n`);
      if (argv.json) {
        printJson(io, { file: out, role: request.role, version: request.version, keyids: request.keyids, sha256: request.sha256 });
        return;
      }
      io.print(`wrote signing request ${out} for ${request.role} v${request.version}`);
      io.print(`keys asked to sign: ${request.keyids.join(', ')}`);
      io.print(`SHA-256 of the bytes to sign: ${request.sha256}`);
      io.print('tell the signer this SHA-256 by another channel; they check it before signing (--expect-sha256)');
      io.print(`signer runs: \`${ws.hint(`sign-request sign ${basename(out)} --key FILE`)}\`; then \`${ws.hint('sign-request import SIGNATURE-FILE')}\` here`);
    },
  };
}

interface RequestSignArgs extends PassphraseArgs, TokenArgs, JsonArgs {
  readonly request: string;
  readonly key: string;
  readonly out?: string | undefined;
  readonly expectSha256?: string | undefined;
}

function requestSignCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, RequestSignArgs> {
  const group = `$0 ${options.repository}`;
  return {
    command: 'sign <request>',
    describe: 'sign a signing request with one key file; needs no workspace and no network (for the air-gapped machine)',
    builder: (yargs) =>
      withTokenOptions(
        withPassphrase(
          withJson(yargs)
            .positional('request', { type: 'string', demandOption: true, describe: 'signing request file' })
            .option('key', { type: 'string', demandOption: true, describe: KEY_DESCRIBE })
          .option('out', { type: 'string', requiresArg: true, describe: 'signature file to write; default <request>.<keyid>.sig.json' })
            .option('expect-sha256', { type: 'string', requiresArg: true, describe: 'refuse unless the request\'s bytes have this SHA-256 (as the workspace printed it)' }),
        ),
      )
        .example(`${group} sign-request sign ${offlineRoleOf(options)}-v3.request.json --key ${offlineRoleOf(options)}-2.pem --expect-sha256 9c1e...`, 'review, check the hash, sign')
        .example(`${group} sign-request sign root-v2.request.json --key 'pkcs11:token=release;object=root-2' --pin-env ROOT_PIN --expect-sha256 9c1e...`, 'sign with a hardware token key (module from UPTANE_PKCS11_MODULE)') as Argv<RequestSignArgs>,
    handler: async (argv) => {
      const verified = readSigningRequest(readTextFile(argv.request, 'signing request'));
      const { request } = verified;
      // With --json the review still reaches the signer, on standard error; standard output holds the JSON.
      const say = argv.json === true ? io.warn : io.print;
      say(`${request.repository} repository, role ${request.role}; you are signing:`);
      for (const line of describeSigned(verified.signed)) say(`  ${line}`);
      say(`SHA-256 of the bytes: ${request.sha256}`);
      if (argv.expectSha256 !== undefined && argv.expectSha256.toLowerCase() !== request.sha256) {
        throw new WorkspaceError(`the request's SHA-256 is ${request.sha256}, not the ${argv.expectSha256} you were given: do not sign it; ask for a new request`);
      }
      const signer = await openSigningKey(io, argv.key, argv);
      let signature: ReturnType<typeof signSigningRequest>;
      try {
        signature = signSigningRequest(verified, signer.signer);
      } finally {
        signer.close();
      }
      const out = argv.out ?? `${argv.request.replace(/(\.request)?\.json$/, '')}.${signature.keyid.slice(0, 12)}.sig.json`;
      writeNewFile(out, `${JSON.stringify(signature, null, 2)}\n`);
      if (argv.json) {
        printJson(io, { file: out, keyid: signature.keyid, role: request.role, version: request.version, sha256: request.sha256 });
        return;
      }
      io.print(`wrote signature ${out} by ${signature.keyid}; carry it back and run \`uptane ${request.repository} sign-request import ${basename(out)}\``);
    },
  };
}

interface ImportArgs extends WorkspaceArgs, JsonArgs {
  readonly signature: string;
}

function requestImportCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, ImportArgs> {
  return {
    command: 'import <signature>',
    describe: 'add a signature made from a signing request, after checking it against the staged bytes and the role\'s keys',
    builder: (yargs) =>
      withJson(withWorkspace(yargs, io))
        .positional('signature', { type: 'string', demandOption: true, describe: 'signature file written by `sign-request sign`' })
        .example(`$0 ${options.repository} sign-request import ${offlineRoleOf(options)}-v3.1a2b3c4d5e6f.sig.json`, 'count the offline signature') as Argv<ImportArgs>,
    handler: (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const result = ws.importSignature(readTextFile(argv.signature, 'signature file'));
      if (argv.json) {
        const problems = ws.readinessProblems(result.role);
        printJson(io, { ...result, ready: problems.length === 0, problems: problems.map((p) => ({ code: p.code, message: p.message })) });
        return;
      }
      io.print(`imported the signature of ${result.keyid} on ${result.role} v${result.version}`);
      printProgress(io, result.progress);
      printReadiness(io, ws, result.role);
    },
  };
}

function signRequestCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, object> {
  return {
    command: 'sign-request',
    describe: 'air-gapped signing: export a request, sign it elsewhere with only the key, import the signature',
    builder: (yargs) =>
      yargs
        .command(requestExportCommand(io, options))
        .command(requestSignCommand(io, options))
        .command(requestImportCommand(io, options))
        .example(`$0 ${options.repository} sign-request export --role ${offlineRoleOf(options)}`, 'then sign it on the offline machine and import the result')
        .demandCommand(1, 'name a sign-request subcommand: export, sign or import'),
    handler: () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// pull

interface PullArgs extends WorkspaceArgs, JsonArgs {
  readonly server?: string | undefined;
  readonly ca?: string | undefined;
  readonly tokenEnv?: string | undefined;
}

/** `fetcher` with the uploader's token on every request (pull from a repository that serves only to credentials). */
function withBearerToken(fetcher: Fetcher, token: string): Fetcher {
  return { fetch: (url, options) => fetcher.fetch(url, { ...options, headers: { ...options.headers, authorization: `Bearer ${token}` } }) };
}

function pullCommand(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, PullArgs> {
  return {
    command: 'pull',
    describe: 'fetch the published metadata as a verifying client, from the root this workspace trusts',
    builder: (yargs) =>
      withJson(withWorkspace(yargs, io))
        .option('server', { type: 'string', requiresArg: true, describe: 'server URL; default: the workspace\'s' })
        .option('ca', caOption(io))
        .option('token-env', {
          type: 'string',
          requiresArg: true,
          hidden: options.pullTokenEnv === undefined,
          default: options.pullTokenEnv,
          describe: 'environment variable holding the uploader token sent with reads (a repository that serves only to credentials)',
        })
        .example(`$0 ${options.repository} pull`, 'bring published/ up to date before staging changes') as Argv<PullArgs>,
    handler: async (argv) => {
      const ws = openWorkspace(io, argv, options.repository);
      const url = serverUrlOf(ws, argv.server);
      const fetcher = new HttpFetcher({ tls: clientTlsFromFiles({ ca: argv.ca }) });
      let result: Awaited<ReturnType<Workspace['pull']>>;
      try {
        const token = options.pullTokenEnv === undefined || argv.tokenEnv === undefined ? undefined : io.env[argv.tokenEnv];
        result = await ws.pull({ metadataUrl: `${url}/metadata`, fetcher: token === undefined || token === '' ? fetcher : withBearerToken(fetcher, token) });
      } finally {
        fetcher.close();
      }
      if (argv.json) {
        printJson(io, { server: url, ...result });
        return;
      }
      io.print(`pulled from ${url}: root v${result.rootVersion}, timestamp v${result.timestampVersion}, targets v${result.targetsVersion}`);
      for (const [role, version] of Object.entries(result.delegated)) io.print(`  delegated ${role} v${version}`);
      for (const role of result.overtaken) {
        io.print(`warning: staged ${role} is not above the published version any more; \`${ws.hint(`discard --role ${role}`)}\` and stage it again`);
      }
    },
  };
}

/** The shared workspace commands, for a component's command group. */
export function workspaceCommands(io: WorkspaceCliEnvironment, options: WorkspaceCommandOptions): CommandModule<object, object>[] {
  return [
    initCommand(io, options),
    rootCommand(io, options),
    signCommand(io, options),
    statusCommand(io, options),
    diffCommand(io, options),
    discardCommand(io, options),
    signRequestCommand(io, options),
    options.pull ?? pullCommand(io, options),
  ] as unknown as CommandModule<object, object>[];
}
