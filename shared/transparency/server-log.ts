// The transparency log as a repository server runs it (docs/transparency-log.md "Server routes"): a
// store, the log's signing key, the witnesses' public keys and a clock. It appends entries for the
// signed files its server publishes, signs a new tree head after each batch, accepts witnesses'
// cosignatures of the current head, and keeps that head (cosignatures included) in the store so a
// restart serves the same head. The routes in routes.ts only read from it and hand it cosignatures.
import type { Clock } from '../core/clock.js';
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import type { PublicKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { BadRequestError, LogEntryMissingError, LogTreeHeadSignatureError, LogTreeHeadSupersededError, LogWitnessPendingError, LogWitnessUnknownError, MalformedLogDataError } from '../core/errors.js';
import { canonicalBytes } from '../core/canonical.js';
import { join } from 'node:path';
import { encodeLogEntry, entryLeafHash, type LogEntryFields } from './entry.js';
import { TransparencyLog } from './log.js';
import { DEFAULT_LOG_STORE_OPTIONS, type LogEntry, type LogStore } from './log-store.js';
import { SqliteLogStore } from './sqlite-log-store.js';
import type { Hash } from './merkle.js';
import type { ConsistencyProof, InclusionProof } from './proofs.js';
import {
  DEFAULT_TREE_HEAD_LIMITS,
  encodeSignedTreeHead,
  parseSignedTreeHeadBytes,
  type SignedTreeHead,
  treeHeadBytes,
  type TreeHeadSignature,
  verifyTreeHead,
  withCosignature,
} from './tree-head.js';

export interface LogServerOptions {
  /** The log's name, signed into every head ("uptane-ts image log"). */
  readonly log: string;
  readonly store: LogStore;
  readonly signer: Signer;
  readonly clock: Clock;
  /** The witnesses whose cosignatures the server accepts and serves with its head. */
  readonly witnessKeys?: readonly PublicKey[];
  readonly backend?: Ed25519Backend;
}

/** The default names of the two repositories' logs. */
export const IMAGE_LOG_NAME = 'uptane-ts image log';
export const DIRECTOR_LOG_NAME = 'uptane-ts director log';
/** The log's SQLite file in a server's data folder, unless the operator names another. */
export const LOG_FILE = 'transparency-log.sqlite';

/** How a repository server keeps a log (`--log-key`, `--log-witness-key`, `--log-file`, `--log-name`). */
export interface ServerLogConfig {
  /** The log's signing key: its heads verify under this key's public half. */
  readonly signer: Signer;
  readonly witnessKeys?: readonly PublicKey[];
  /** The SQLite file; `<data folder>/transparency-log.sqlite` by default. */
  readonly file?: string;
  /** The log's name; the repository's default (IMAGE_LOG_NAME, DIRECTOR_LOG_NAME) otherwise. */
  readonly name?: string;
}

/** Opens the log a server keeps in its data folder (or the file `config` names). */
export function openServerLog(dataDir: string, defaultName: string, config: ServerLogConfig, clock: Clock): Promise<LogServer> {
  const store = SqliteLogStore.open(config.file ?? join(dataDir, LOG_FILE));
  return LogServer.open({ log: config.name ?? defaultName, store, signer: config.signer, clock, witnessKeys: config.witnessKeys }).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
}

export class LogServer {
  /** Set by open() before the server is handed out. */
  private head!: SignedTreeHead;
  /**
   * cosigned[k - 1]: the newest head that k or more witnesses have cosigned. A new head has no
   * cosignature until the witnesses poll, so a vehicle requiring k asks for this one instead of the
   * newest (witness lag; docs/transparency-log.md). Kept in memory: after a restart it starts from the
   * saved head's cosignatures.
   */
  private cosigned: SignedTreeHead[] = [];
  /** Appends, head signing and cosignatures one at a time, so heads only grow and none is lost. */
  private queue: Promise<unknown> = Promise.resolve();
  readonly log: TransparencyLog;
  private readonly witnessKeys: readonly PublicKey[];
  private readonly backend: Ed25519Backend;

  private constructor(private readonly options: LogServerOptions) {
    this.log = new TransparencyLog(options.store, { log: options.log, signer: options.signer, clock: options.clock });
    this.witnessKeys = options.witnessKeys ?? [];
    this.backend = options.backend ?? nodeBackend;
  }

  /**
   * Opens the log on `store`: the head saved there when it is still the log's (same name, same key,
   * same size), so its cosignatures are served again after a restart; otherwise a newly signed one.
   */
  static async open(options: LogServerOptions): Promise<LogServer> {
    const witnessKeys = options.witnessKeys ?? [];
    if (witnessKeys.length > DEFAULT_TREE_HEAD_LIMITS.maxCosignatures) throw new RangeError(`at most ${DEFAULT_TREE_HEAD_LIMITS.maxCosignatures} witness keys, got ${witnessKeys.length}`);
    // The log vouching for itself is no witness (verifyCosignatures would not count it either).
    if (witnessKeys.some((key) => key.sameKeyAs(options.signer.publicKey))) throw new RangeError('a witness key is the log\'s own key: a witness must hold a key of its own');
    const server = new LogServer(options);
    server.head = (await server.savedHead()) ?? (await server.signAndSave());
    server.noteCosigned(server.head);
    return server;
  }

  get name(): string {
    return this.options.log;
  }

  /**
   * The latest signed head, with every cosignature accepted for it; with `minCosignatures`, the newest
   * head at least that many witnesses cosigned (LogWitnessPendingError while there is none).
   */
  treeHead(minCosignatures = 0): SignedTreeHead {
    if (minCosignatures === 0) return this.head;
    if (!Number.isSafeInteger(minCosignatures) || minCosignatures < 0 || minCosignatures > this.witnessKeys.length) {
      throw new BadRequestError(`${this.options.log} has ${this.witnessKeys.length} witnesses; a head with ${minCosignatures} cosignatures cannot be asked for`);
    }
    const head = this.cosigned[minCosignatures - 1];
    if (head === undefined) throw new LogWitnessPendingError(`no head of ${this.options.log} carries ${minCosignatures} witness cosignatures yet; ask again once the witnesses have polled`);
    return head;
  }

  /** Records `head` as the newest head cosigned by as many witnesses as it carries (heads only grow). */
  private noteCosigned(head: SignedTreeHead): void {
    const count = new Set(head.cosignatures.map((c) => c.keyid).filter((keyid) => this.witnessKeys.some((key) => key.keyid === keyid))).size;
    for (let k = 1; k <= count; k++) this.cosigned[k - 1] = head;
  }

  size(): Promise<number> {
    return this.log.size();
  }

  private async savedHead(): Promise<SignedTreeHead | undefined> {
    const bytes = await this.options.store.latestTreeHead();
    if (bytes === undefined) return undefined;
    let saved: SignedTreeHead;
    try {
      saved = parseSignedTreeHeadBytes(bytes);
      verifyTreeHead(saved, this.options.signer.publicKey, this.options.log, this.backend);
    } catch (err) {
      // A head of another name or key (the operator changed either): sign a new one.
      if (err instanceof MalformedLogDataError || err instanceof LogTreeHeadSignatureError) return undefined;
      throw err;
    }
    if (saved.head.size !== (await this.log.size())) return undefined;
    if (Buffer.compare(saved.head.rootHash, await this.log.rootHash(saved.head.size)) !== 0) return undefined;
    return saved;
  }

  private async signAndSave(): Promise<SignedTreeHead> {
    const head = await this.log.signTreeHead();
    await this.options.store.saveTreeHead(canonicalBytes(encodeSignedTreeHead(head)));
    return head;
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends one entry per file version, in order, then signs and saves a new head; returns the index
   * of the first. Nothing is appended for an empty list.
   */
  append(entries: readonly LogEntryFields[]): Promise<number> {
    const bytes = entries.map(encodeLogEntry);
    return this.serially(async () => {
      if (bytes.length === 0) return this.log.size();
      const first = await this.log.append(bytes);
      this.head = await this.signAndSave();
      return first;
    });
  }

  /**
   * Appends those of `entries` the log does not hold yet (by leaf hash), in order, in batches the
   * store takes, each followed by a new head; returns how many were appended. The catch-up a server
   * runs on start, so a version published but not appended (a crash between the two) is logged then.
   */
  appendMissing(entries: readonly LogEntryFields[]): Promise<number> {
    return this.serially(async () => {
      const size = await this.log.size();
      const seen = new Set<string>();
      const missing: Uint8Array[] = [];
      for (const fields of entries) {
        const leafHash = entryLeafHash(fields);
        const key = Buffer.from(leafHash).toString('hex');
        if (seen.has(key)) continue;
        seen.add(key);
        if ((await this.options.store.findLeaf(leafHash, size)) === undefined) missing.push(encodeLogEntry(fields));
      }
      for (let at = 0; at < missing.length; at += DEFAULT_LOG_STORE_OPTIONS.maxAppendEntries) {
        await this.log.append(missing.slice(at, at + DEFAULT_LOG_STORE_OPTIONS.maxAppendEntries));
        this.head = await this.signAndSave();
      }
      return missing.length;
    });
  }

  /** Whether the first `size` entries (the whole log by default) hold one whose leaf hash is `leafHash`. */
  async contains(leafHash: Hash, size?: number): Promise<boolean> {
    return (await this.options.store.findLeaf(leafHash, size ?? (await this.log.size()))) !== undefined;
  }

  entries(start: number, end: number): Promise<LogEntry[]> {
    return this.options.store.entries(start, end);
  }

  /** The inclusion proof of the first entry with `leafHash` in the tree of `size`; LogEntryMissingError if none. */
  async inclusionProof(leafHash: Hash, size: number): Promise<InclusionProof> {
    const index = await this.options.store.findLeaf(leafHash, size);
    if (index === undefined) throw new LogEntryMissingError(`no entry with leaf hash ${Buffer.from(leafHash).toString('hex')} among the first ${size} entries of ${this.options.log}`);
    return this.log.proveInclusion(index, size);
  }

  consistencyProof(first: number, second: number): Promise<ConsistencyProof> {
    return this.log.proveConsistency(first, second);
  }

  /**
   * Accepts a witness's cosignature of `head` and serves it with the current head from then on.
   * Refused, with nothing changed: a keyid that is no configured witness (LogWitnessUnknownError), a
   * head this log did not sign or a cosignature that does not verify over it (LogTreeHeadSignatureError),
   * a head the log signed but has since replaced (LogTreeHeadSupersededError: cosign the new one).
   */
  addCosignature(head: SignedTreeHead, cosignature: TreeHeadSignature): Promise<SignedTreeHead> {
    return this.serially(async () => {
      const witness = this.witnessKeys.find((key) => key.keyid === cosignature.keyid);
      if (witness === undefined) throw new LogWitnessUnknownError(`key ${cosignature.keyid} is not a witness of ${this.options.log}`);
      verifyTreeHead(head, this.options.signer.publicKey, this.options.log, this.backend);
      const bytes = treeHeadBytes(head);
      if (!witness.verify(bytes, cosignature.sig, this.backend)) throw new LogTreeHeadSignatureError(`the cosignature of key ${cosignature.keyid} does not verify over the tree head of ${head.head.size} entries`);
      if (!Buffer.from(bytes).equals(Buffer.from(treeHeadBytes(this.head)))) {
        throw new LogTreeHeadSupersededError(
          `the tree head of ${head.head.size} entries (${head.head.timestamp}) is no longer ${this.options.log}'s latest (${this.head.head.size} entries, ${this.head.head.timestamp}): fetch GET /log/tree-head, check it and cosign that`,
        );
      }
      const next = withCosignature(this.head, cosignature);
      await this.options.store.saveTreeHead(canonicalBytes(encodeSignedTreeHead(next)));
      this.head = next;
      this.noteCosigned(next);
      return next;
    });
  }

  close(): Promise<void> {
    return this.serially(() => this.options.store.close());
  }
}

/**
 * What a repository server puts in its log: each publication as it is stored (`record`), and on start
 * every published version the log lacks (`catchUp`). The log is appended after the publication
 * commits, not in its transaction (the log is a file of its own, and on PostgreSQL the metadata is
 * not even on this host), so a crash between the two leaves a version unlogged until the next start;
 * a failed append is retried by `retryIfBehind`, which the server's timer calls
 * (docs/transparency-log.md "Appending and catching up").
 */
export class LogPublisher {
  private behind = false;

  constructor(
    readonly log: LogServer,
    /** Every version the repository has published, as log entries, oldest first. */
    private readonly published: () => Promise<LogEntryFields[]>,
    private readonly warn: (line: string) => void,
  ) {}

  /** Appends every published version the log lacks; returns how many. */
  async catchUp(): Promise<number> {
    const appended = await this.log.appendMissing(await this.published());
    this.behind = false;
    return appended;
  }

  /**
   * Appends one publication's entries, resolving once they are in the log; a failure is reported and
   * left to retryIfBehind, never thrown. Publications recorded while an append is under way go into
   * the next one together (a group commit): the Director signs targets for many vehicles at once,
   * and each append is a durable transaction and a signed head.
   */
  record(entries: readonly LogEntryFields[]): Promise<void> {
    return new Promise((resolve) => {
      const batch = (this.pending ??= { entries: [], waiters: [] });
      batch.entries.push(...entries);
      batch.waiters.push(resolve);
      this.flushing ??= this.flush();
    });
  }

  private pending: { entries: LogEntryFields[]; waiters: Array<() => void> } | undefined;
  private flushing: Promise<void> | undefined;

  private async flush(): Promise<void> {
    while (this.pending !== undefined) {
      const batch = this.pending;
      this.pending = undefined;
      for (let at = 0; at < batch.entries.length; at += DEFAULT_LOG_STORE_OPTIONS.maxAppendEntries) {
        const part = batch.entries.slice(at, at + DEFAULT_LOG_STORE_OPTIONS.maxAppendEntries);
        try {
          await this.log.append(part);
        } catch (err) {
          this.behind = true;
          this.warn(`transparency log: could not append ${part.slice(0, 10).map((e) => `${e.role} v${e.version}`).join(', ')}${part.length > 10 ? ` and ${part.length - 10} more` : ''} (${(err as Error).message}); retried at the next check`);
        }
      }
      for (const resolve of batch.waiters) resolve();
    }
    this.flushing = undefined;
  }

  /** Catches up if an append failed since the last catch-up. */
  async retryIfBehind(): Promise<void> {
    if (this.behind) await this.catchUp();
  }
}
