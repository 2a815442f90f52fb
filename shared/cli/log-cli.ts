// `uptane log`: reading a repository's transparency log from outside (docs/transparency-log.md).
// `verify` audits it (shared/transparency/audit.ts) and `witness` runs a witness that cosigns its
// heads (shared/transparency/witness-process.ts). Both hold a head between runs in a --state file,
// written atomically; the auditor's only after a clean run, the witness's before each cosignature
// leaves.
import { existsSync, readFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import type { PublicKey } from '../core/crypto/keys.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import { RemoteNotFoundError, StorageError, UptaneError } from '../core/errors.js';
import { formatExpires } from '../core/metadata/parse.js';
import { roleFileName } from '../core/metadata/paths.js';
import { fetchBytes, HttpFetcher } from '../client/fetcher.js';
import { writeFileAtomic } from '../files/fs-atomic.js';
import { loadPublicKey } from '../files/key-files.js';
import { openSigner } from '../keys/key-source.js';
import { auditLog, type AuditReport, type PublishedFile } from '../transparency/audit.js';
import { LogClient } from '../transparency/client.js';
import { hashHex } from '../transparency/proofs.js';
import { IMAGE_LOG_NAME } from '../transparency/server-log.js';
import { encodeSignedTreeHead, parseSignedTreeHead, type SignedTreeHead } from '../transparency/tree-head.js';
import { runWitness, witnessRound, type WitnessRound, type WitnessStateStore } from '../transparency/witness-process.js';
import { printJson } from './cli-output.js';
import type { CliEnvironment } from './environment.js';
import type { VerdictCliEnvironment } from './expiry-cli.js';
import { caOption, clientTlsFromFiles } from './tls-args.js';

/** Largest metadata file the auditor reads from a repository. */
const MAX_METADATA_BYTES = 16 * 1024 * 1024;
/** Most file versions one audit fetches from a repository (every version of every role adds up). */
const MAX_PUBLISHED_FILES = 20_000;

/** A head kept in a --state file: the auditor's last verified one, or the witness's last cosigned one. */
export class HeadStateFile implements WitnessStateStore {
  constructor(
    readonly path: string,
    private readonly log: string,
  ) {}

  load(): SignedTreeHead | undefined {
    if (!existsSync(this.path)) return undefined;
    let sth: SignedTreeHead;
    try {
      sth = parseSignedTreeHead((JSON.parse(readFileSync(this.path, 'utf8')) as { head: unknown }).head);
    } catch (err) {
      throw new StorageError(`--state ${this.path} is not a state file this command wrote (${(err as Error).message}): restore it; never delete it to get past a refusal`, { cause: err });
    }
    if (sth.head.log !== this.log) throw new StorageError(`--state ${this.path} holds a head of log "${sth.head.log}", not "${this.log}": give each log its own state file`);
    return sth;
  }

  save(head: SignedTreeHead): void {
    writeFileAtomic(this.path, Buffer.from(`${JSON.stringify({ head: encodeSignedTreeHead(head), savedAt: formatExpires(new Date()) }, null, 2)}\n`));
  }
}

interface CommonArgs {
  readonly log: string;
  readonly logKey: string;
  readonly logName: string;
  readonly state?: string | undefined;
  readonly ca?: string | undefined;
  readonly json: boolean;
}

interface VerifyArgs extends CommonArgs {
  readonly witnessKey: string[];
  readonly threshold: number;
  readonly imageRepo?: string | undefined;
}

interface WitnessArgs extends CommonArgs {
  readonly key: string;
  readonly passphraseEnv?: string | undefined;
  readonly interval: number;
  readonly once: boolean;
}

function logUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--log ${JSON.stringify(value)} is not a URL: give the log's URL, the repository's followed by /log, like http://127.0.0.1:8081/log`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--log ${value}: use an http:// or https:// URL`);
  return value.replace(/\/+$/, '');
}

function readKey(path: string, option: string): PublicKey {
  try {
    return loadPublicKey(path);
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    throw new Error(`${option} ${path}: ${err.message}; give the public key file (PEM or TUF JSON) the log's operator publishes`, { cause: err });
  }
}

const setExitCode = (io: CliEnvironment, code: number) => ((io as VerdictCliEnvironment).setExitCode ?? ((c: number) => void (process.exitCode = c)))(code);

/**
 * Every signed file version the Image repository at `url` serves that an audit can name: the root
 * chain, the current timestamp, and every version still served of the snapshot and of each role the
 * snapshot lists (a repository with consistent snapshots keeps them; one that does not serves only
 * the current). Each as the exact bytes served.
 */
export async function fetchPublishedImageFiles(fetcher: HttpFetcher, url: string): Promise<PublishedFile[]> {
  const base = `${url.replace(/\/+$/, '')}/metadata`;
  const files: PublishedFile[] = [];
  const get = async (name: string): Promise<Buffer | undefined> => {
    if (files.length >= MAX_PUBLISHED_FILES) throw new Error(`the Image repository serves more than ${MAX_PUBLISHED_FILES} metadata versions: audit with a newer uptane, or raise the cap`);
    try {
      return await fetchBytes(fetcher, `${base}/${name}`, { maxBytes: MAX_METADATA_BYTES });
    } catch (err) {
      if (err instanceof RemoteNotFoundError) return undefined;
      throw err;
    }
  };
  const versionOf = (bytes: Buffer, name: string): { version: number; signed: Record<string, unknown> } => {
    let signed: Record<string, unknown>;
    try {
      signed = (JSON.parse(bytes.toString('utf8')) as { signed: Record<string, unknown> }).signed;
    } catch (err) {
      throw new Error(`the Image repository's ${name} is not metadata: ${(err as Error).message}`, { cause: err });
    }
    if (!Number.isSafeInteger(signed?.version)) throw new Error(`the Image repository's ${name} has no version`);
    return { version: signed.version as number, signed };
  };
  for (let version = 1; ; version++) {
    const bytes = await get(roleFileName('root', version));
    if (bytes === undefined) break;
    files.push({ repository: 'image', role: 'root', version, bytes });
  }
  const timestamp = await get('timestamp.json');
  if (timestamp === undefined) return files;
  const ts = versionOf(timestamp, 'timestamp.json');
  files.push({ repository: 'image', role: 'timestamp', version: ts.version, bytes: timestamp });
  const snapshotVersion = (ts.signed.meta as Record<string, { version: number }> | undefined)?.['snapshot.json']?.version;
  if (!Number.isSafeInteger(snapshotVersion)) return files;
  const everyVersion = async (role: string, current: number): Promise<Buffer | undefined> => {
    let latest: Buffer | undefined;
    for (let version = 1; version <= current; version++) {
      const bytes = (await get(roleFileName(role, version))) ?? (version === current ? await get(roleFileName(role)) : undefined);
      if (bytes === undefined) continue;
      files.push({ repository: 'image', role, version, bytes });
      if (version === current) latest = bytes;
    }
    return latest;
  };
  const snapshot = await everyVersion('snapshot', snapshotVersion!);
  if (snapshot === undefined) return files;
  const meta = (versionOf(snapshot, 'snapshot').signed.meta ?? {}) as Record<string, { version: number }>;
  for (const [name, entry] of Object.entries(meta)) {
    if (!Number.isSafeInteger(entry?.version)) continue;
    await everyVersion(decodeURIComponent(name.replace(/\.json$/, '')), entry.version);
  }
  return files;
}

function printAudit(io: CliEnvironment, url: string, report: AuditReport, witnessCount: number, threshold: number, stateNote: string): void {
  const head = report.head;
  if (head === undefined) {
    io.print(`log at ${url}: no head that verifies`);
  } else {
    io.print(`log "${report.log}" at ${url}: head of ${head.size} entries, root ${hashHex(head.rootHash).slice(0, 16)}..., signed ${head.timestamp}`);
    if (threshold > 0) io.print(`  cosignatures required: ${threshold} of ${witnessCount} witness keys`);
    io.print(report.previousSize === undefined ? '  no earlier head to check consistency with (first run)' : `  checked against the head of ${report.previousSize} entries verified last time`);
    io.print(`  ${report.entriesChecked} entries read and folded into the root`);
    if (report.versionsChecked > 0) io.print(`  ${report.versionsChecked} signed file versions of the repository looked for among them`);
  }
  if (report.ok) {
    io.print(`OK: no findings; ${stateNote}`);
    return;
  }
  io.print(`${report.findings.length} finding(s); ${stateNote}`);
  for (const f of report.findings) io.print(`  [${f.kind}] ${f.code}: ${f.message}`);
}

async function verify(io: CliEnvironment, args: VerifyArgs): Promise<void> {
  const url = logUrl(args.log);
  const logKey = readKey(args.logKey, '--log-key');
  const witnessKeys = args.witnessKey.map((k) => readKey(k, '--witness-key'));
  if (!Number.isSafeInteger(args.threshold) || args.threshold < 0 || args.threshold > witnessKeys.length) {
    throw new Error(`--threshold ${args.threshold}: between 0 and the ${witnessKeys.length} --witness-key given`);
  }
  const state = args.state === undefined ? undefined : new HeadStateFile(args.state, args.logName);
  const previous = state?.load();
  const tls = clientTlsFromFiles({ ca: args.ca });
  const fetcher = new HttpFetcher(tls === undefined ? {} : { tls });
  try {
    const report = await auditLog({
      client: new LogClient(url, fetcher),
      log: args.logName,
      logKey,
      witnessKeys,
      threshold: args.threshold,
      previous: previous?.head,
      published: args.imageRepo === undefined ? undefined : () => fetchPublishedImageFiles(fetcher, args.imageRepo!),
      backend: nodeBackend,
      progress: (line) => io.warn(line),
    });
    // Only a clean run moves the reference: a head with findings must never become what the next run trusts.
    const saved = report.ok && state !== undefined && report.signedHead !== undefined;
    if (saved) state.save(report.signedHead!);
    const stateNote = state === undefined ? 'no --state: consistency across runs is not checked' : saved ? `head saved to ${state.path}` : `${state.path} left as it was`;
    if (args.json) {
      printJson(io, {
        log: report.log,
        url,
        head: report.head === undefined ? null : { size: report.head.size, root_hash: hashHex(report.head.rootHash), timestamp: report.head.timestamp },
        previousSize: report.previousSize ?? null,
        entriesChecked: report.entriesChecked,
        versionsChecked: report.versionsChecked,
        findings: report.findings,
        ok: report.ok,
        stateSaved: saved,
      });
    } else {
      printAudit(io, url, report, witnessKeys.length, args.threshold, stateNote);
    }
    setExitCode(io, report.ok ? 0 : 1);
  } finally {
    fetcher.close();
  }
}

function roundLine(round: WitnessRound | { status: 'failed'; message: string }): string {
  switch (round.status) {
    case 'cosigned':
      return `cosigned the head of ${round.head.size} entries (${round.head.timestamp})${round.answer === 'superseded' ? '; the log has a newer head already' : ''}`;
    case 'unchanged':
      return `no new head (${round.head.size} entries, cosigned)`;
    case 'refused':
      return `REFUSED ${round.code}: ${round.message}${round.last === undefined ? '' : ` (last cosigned: ${round.last.size} entries, ${round.last.timestamp})`}`;
    case 'failed':
      return `could not poll: ${round.message}; trying again`;
  }
}

const roundJson = (round: WitnessRound | { status: 'failed'; message: string }) => ({
  ...round,
  ...('head' in round && round.head !== undefined ? { head: { size: round.head.size, root_hash: hashHex(round.head.rootHash), timestamp: round.head.timestamp } } : {}),
  ...('last' in round && round.last !== undefined ? { last: { size: round.last.size, root_hash: hashHex(round.last.rootHash), timestamp: round.last.timestamp } } : {}),
});

async function witness(io: CliEnvironment, args: WitnessArgs): Promise<void> {
  const url = logUrl(args.log);
  const logKey = readKey(args.logKey, '--log-key');
  if (!(args.interval >= 1)) throw new Error(`--interval ${args.interval}: at least 1 second between polls`);
  const state = new HeadStateFile(args.state!, args.logName);
  state.load(); // a damaged state file fails before the key is opened
  const opened = await openSigner(args.key, { env: io.env, passphraseEnv: args.passphraseEnv, promptSecret: io.promptSecret });
  if (opened.signer.publicKey.sameKeyAs(logKey)) throw new Error('--key is the log\'s own key (--log-key): a witness needs a key of its own');
  const tls = clientTlsFromFiles({ ca: args.ca });
  const fetcher = new HttpFetcher(tls === undefined ? {} : { tls });
  const options = { client: new LogClient(url, fetcher), log: args.logName, logKey, signer: opened.signer, state, backend: nodeBackend };
  const say = (round: WitnessRound | { status: 'failed'; message: string }) => {
    if (args.json) printJson(io, roundJson(round), { compact: true });
    else io.print(`${formatExpires(new Date())} ${roundLine(round)}`);
  };
  try {
    if (args.once) {
      const round = await witnessRound(options);
      say(round);
      setExitCode(io, round.status === 'refused' ? 1 : 0);
      return;
    }
    io.warn(`witnessing ${url} every ${args.interval} s as key ${opened.signer.keyid.slice(0, 12)}...; state ${state.path}; Ctrl-C stops`);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let refused = false;
    try {
      await runWitness({
        ...options,
        intervalSeconds: args.interval,
        signal: stop.signal,
        report: (round) => {
          if (round.status === 'refused') refused = true;
          say(round);
        },
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    setExitCode(io, refused ? 1 : 0);
  } finally {
    opened.close();
    fetcher.close();
  }
}

function commonOptions<T>(io: CliEnvironment, yargs: Argv<T>) {
  return yargs
    .option('log', { type: 'string', demandOption: true, requiresArg: true, describe: "the log's URL: the repository's URL followed by /log" })
    .option('log-key', { type: 'string', demandOption: true, requiresArg: true, describe: "the log's public key file (PEM or TUF JSON), as its operator publishes it" })
    .option('log-name', { type: 'string', default: IMAGE_LOG_NAME, requiresArg: true, describe: 'the name the log signs into its heads ("uptane-ts director log" for the Director\'s)' })
    .option('ca', caOption(io, 'the log'))
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' });
}

export const logCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'log',
  describe: "audit a repository's transparency log, or witness it (docs/transparency-log.md)",
  builder: (yargs) =>
    yargs
      .command({
        command: 'verify',
        describe: 'audit a log: its head, consistency with the head verified last time, every entry against the root, and (with --image-repo) every published metadata version present',
        builder: (y) =>
          commonOptions(io, y)
            .option('witness-key', { type: 'string', array: true, default: [] as string[], requiresArg: true, describe: "a witness's public key file; repeat for each" })
            .option('threshold', { type: 'number', default: 0, describe: 'cosignatures of --witness-key required on the head (0: none)' })
            .option('state', { type: 'string', requiresArg: true, describe: 'file keeping the head verified last time; the next run checks the log only grew from it (saved only after a run without findings)' })
            .option('image-repo', { type: 'string', requiresArg: true, describe: "the Image repository's URL: every root, timestamp, snapshot and targets version it serves must be in the log" })
            .example(
              '$0 log verify --log http://127.0.0.1:8081/log --log-key image-log.pub --image-repo http://127.0.0.1:8081 --state audit-image.json',
              'audit the Image repository\'s log and check every metadata version it serves is logged; exit 1 on any finding',
            )
            .example(
              '$0 log verify --log http://127.0.0.1:8081/log --log-key image-log.pub --witness-key witness-a.pub --witness-key witness-b.pub --threshold 2 --json',
              'require both witnesses to have cosigned the head; print the report as JSON',
            )
            .example('$0 log verify --log http://127.0.0.1:8082/log --log-key director-log.pub --log-name "uptane-ts director log" --state audit-director.json', "audit the Director's log") as unknown as Argv<VerifyArgs>,
        handler: (argv) => verify(io, argv as unknown as VerifyArgs),
      })
      .command({
        command: 'witness',
        describe: "witness a log: poll its head, check it extends the last one cosigned, persist it, post a cosignature; refuse a fork or a dropped entry",
        builder: (y) =>
          commonOptions(io, y)
            .option('key', { type: 'string', demandOption: true, requiresArg: true, describe: "the witness's private key: a PKCS#8 PEM file, or pkcs11:token=...;object=..." })
            .option('passphrase-env', { type: 'string', requiresArg: true, describe: "environment variable holding --key's passphrase (never an argument)" })
            .option('state', { type: 'string', demandOption: true, requiresArg: true, describe: 'file keeping the last head cosigned (written before each cosignature is posted); start it from a head obtained out of band' })
            .option('interval', { type: 'number', default: 60, describe: 'seconds between polls' })
            .option('once', { type: 'boolean', default: false, describe: 'poll once; exit 1 if the head was refused' })
            .example(
              '$0 log witness --log http://127.0.0.1:8081/log --log-key image-log.pub --key witness.pem --state witness-image.json --interval 30',
              'cosign the Image log\'s heads every 30 s, refusing any that does not extend the last one cosigned',
            )
            .example('$0 log witness --log http://127.0.0.1:8081/log --log-key image-log.pub --key witness.pem --state witness-image.json --once --json', 'one round, as a JSON line (for cron)') as unknown as Argv<WitnessArgs>,
        handler: (argv) => witness(io, argv as unknown as WitnessArgs),
      })
      .demandCommand(1, 'name a log command: verify or witness'),
  handler: () => {
    // Not reached: demandCommand(1) requires a subcommand.
  },
});
