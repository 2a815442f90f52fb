// The auditor behind `uptane log verify` (docs/transparency-log.md "Auditing: uptane log verify"):
// anyone can run it against a repository's log, with nothing but the log's public key. It
//
//   1. fetches the head and verifies the log's signature (and the witnesses' cosignatures, if asked);
//   2. checks the head extends the one it verified last time (a consistency proof from that size);
//   3. pages through every entry, recomputes the root from them and compares it with the head's;
//   4. given the repository's signed files (every version of every role the auditor could fetch),
//      checks each is an entry of the log.
//
// Every problem is a finding with a kind, the typed error's code and a message; the report is clean
// only with none. Network failures are not findings (nothing was proved wrong): they throw. Pure of
// files and of the network's details: the log is read through LogClient, the repository's files come
// from the caller (the CLI fetches them), and the caller keeps the head between runs.
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import type { PublicKey } from '../core/crypto/keys.js';
import { FetchError, LogEntryMissingError, LogInconsistentError, LogProofInvalidError, LogTreeHeadSignatureError, MalformedLogDataError, UptaneError } from '../core/errors.js';
import type { LogClient } from './client.js';
import { entryForFile, entryLeafHash, type LogRepository } from './entry.js';
import { Frontier } from './merkle.js';
import { hashHex } from './proofs.js';
import { type SignedTreeHead, type TreeHead, verifyCosignatures, verifyTreeHead } from './tree-head.js';

/** What an auditor found wrong. */
export type AuditFindingKind =
  /** A head not signed by the log's key, of another log, or without the cosignatures required. */
  | 'bad_signature'
  /** The head does not extend the one verified last time: a fork, a rewritten or shrunk log. */
  | 'inconsistent'
  /** The entries served do not make the head's root: one dropped, altered, added or reordered. */
  | 'dropped_entry'
  /** A signed file version the repository serves that the log holds no entry for. */
  | 'missing_version'
  /** An answer that is not the format's shape. */
  | 'malformed';

export interface AuditFinding {
  readonly kind: AuditFindingKind;
  /** The code of the typed error behind it (shared/core/errors.ts). */
  readonly code: string;
  readonly message: string;
}

/** One signed file version a repository serves, with its exact bytes. */
export interface PublishedFile {
  readonly repository: LogRepository;
  readonly role: string;
  readonly version: number;
  readonly bytes: Uint8Array;
}

export interface AuditOptions {
  readonly client: LogClient;
  /** The log's name, as its heads sign it. */
  readonly log: string;
  readonly logKey: PublicKey;
  readonly witnessKeys?: readonly PublicKey[];
  /** Cosignatures required of `witnessKeys`; 0 (the default) requires none. */
  readonly threshold?: number;
  /** The head verified last time, from the caller's state. */
  readonly previous?: TreeHead;
  /**
   * The repository's files to find in the log. Fetched before the head: a repository logs a version
   * when it publishes it, so a head taken after the files were served must hold every one of them.
   */
  readonly published?: () => Promise<readonly PublishedFile[]>;
  readonly backend?: Ed25519Backend;
  /** Progress for people (entries read so far). */
  readonly progress?: (line: string) => void;
}

export interface AuditReport {
  readonly log: string;
  /** The head checked; undefined when it could not be parsed. */
  readonly head: TreeHead | undefined;
  /** The signed head as served: what the caller keeps once the report is clean. */
  readonly signedHead: SignedTreeHead | undefined;
  readonly previousSize: number | undefined;
  readonly entriesChecked: number;
  readonly versionsChecked: number;
  readonly findings: readonly AuditFinding[];
  readonly ok: boolean;
}

const KIND_OF: ReadonlyArray<[new (...args: never[]) => UptaneError, AuditFindingKind]> = [
  [LogTreeHeadSignatureError, 'bad_signature'],
  [LogInconsistentError, 'inconsistent'],
  [LogProofInvalidError, 'inconsistent'],
  [LogEntryMissingError, 'missing_version'],
  [MalformedLogDataError, 'malformed'],
];

function findingOf(err: unknown, fallback: AuditFindingKind): AuditFinding {
  if (!(err instanceof UptaneError) || err.kind !== 'attack') throw err;
  const kind = KIND_OF.find(([type]) => err instanceof type)?.[1] ?? fallback;
  return { kind, code: err.code, message: err.message };
}

export async function auditLog(options: AuditOptions): Promise<AuditReport> {
  const backend = options.backend ?? nodeBackend;
  const findings: AuditFinding[] = [];
  const report = (head: TreeHead | undefined, signedHead: SignedTreeHead | undefined, entriesChecked: number, versionsChecked: number): AuditReport => ({
    log: options.log,
    head,
    signedHead,
    previousSize: options.previous?.size,
    entriesChecked,
    versionsChecked,
    findings,
    ok: findings.length === 0,
  });

  const published = options.published === undefined ? undefined : await options.published();

  // 1. The head.
  let sth: SignedTreeHead;
  let head: TreeHead;
  try {
    sth = await options.client.treeHead();
    head = verifyTreeHead(sth, options.logKey, options.log, backend);
  } catch (err) {
    findings.push(findingOf(err, 'bad_signature'));
    return report(undefined, undefined, 0, 0);
  }
  if ((options.threshold ?? 0) > 0) {
    try {
      verifyCosignatures(sth, options.logKey, options.witnessKeys ?? [], options.threshold!, backend);
    } catch (err) {
      findings.push(findingOf(err, 'bad_signature'));
    }
  }

  // 2. Consistency with the head verified last time.
  if (options.previous !== undefined) {
    try {
      await options.client.checkExtends(options.previous, head);
      if (head.timestamp < options.previous.timestamp) throw new LogInconsistentError(`a head of ${head.timestamp}, older than the one of ${options.previous.timestamp} verified last time`);
    } catch (err) {
      findings.push(findingOf(err, 'inconsistent'));
    }
  }

  // 3. Every entry, folded into the root, which must be the head's.
  const frontier = new Frontier();
  const leaves = new Set<string>();
  try {
    let next = 0;
    while (next < head.size) {
      const page = await options.client.entriesPage(next, Math.min(head.size, next + 1_000));
      if (page.length === 0) throw new LogRangeShortError(`the log serves no entry at index ${next}, below its head's size ${head.size}`);
      for (const entry of page) {
        frontier.push(entry.leafHash);
        leaves.add(hashHex(entry.leafHash));
      }
      next += page.length;
      if (next % 100_000 < page.length) options.progress?.(`${next} of ${head.size} entries read`);
    }
    const root = frontier.root();
    if (Buffer.compare(root, head.rootHash) !== 0) {
      findings.push({
        kind: 'dropped_entry',
        code: 'log_inconsistent',
        message: `the ${head.size} entries the log serves make the root ${hashHex(root)}, not the ${hashHex(head.rootHash)} its head signs: an entry was dropped, altered, added or reordered`,
      });
    }
  } catch (err) {
    if (err instanceof LogRangeShortError) findings.push({ kind: 'dropped_entry', code: 'log_inconsistent', message: err.message });
    // 416: the log refuses a range below the size its own head signs (the routes' log_range answer).
    else if (err instanceof FetchError && err.kind !== 'attack' && /HTTP 416\b/.test(err.message)) {
      findings.push({ kind: 'dropped_entry', code: 'log_inconsistent', message: `the log refuses entries below the ${head.size} its head signs: ${err.message}` });
    } else findings.push(findingOf(err, 'malformed'));
  }

  // 4. Every version the repository serves, among the entries.
  let versionsChecked = 0;
  if (published !== undefined && findings.length === 0) {
    for (const file of published) {
      versionsChecked++;
      const leaf = hashHex(entryLeafHash(entryForFile(file, file.bytes)));
      if (!leaves.has(leaf)) {
        findings.push({
          kind: 'missing_version',
          code: 'log_entry_missing',
          message: `the ${file.repository} repository serves ${file.role} version ${file.version} (${file.bytes.length} bytes), which the log's ${head.size} entries do not hold`,
        });
      }
    }
  }
  return report(head, sth, frontier.size, versionsChecked);
}

/** Internal: the log served fewer entries than its head counts. */
class LogRangeShortError extends Error {}
