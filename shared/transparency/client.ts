// A reader of a transparency log over HTTP: the auditor (audit.ts), the witness process
// (witness-process.ts) and a primary that requires inclusion proofs all read a log through this.
// Every answer is capped in size before it is parsed, parsed by the format's own parsers (a wrong
// answer is a typed MalformedLogDataError, never a crash), and nothing it returns is trusted: the
// caller verifies heads and proofs (docs/transparency-log.md "Auditing: uptane log verify",
// "Witnesses: uptane log witness", "Vehicles requiring inclusion proofs").
//
// The transport is handed in, so this folder stays on the core (the dependency rule): the project's
// HttpFetcher (shared/client/fetcher.ts) is one, with its byte caps, idle timeout and minimum speed
// against slow retrieval; its structural shape is all this file names.
import { FetchError, LogEntryMissingError, LogWitnessPendingError, MalformedLogDataError, RemoteNotFoundError } from '../core/errors.js';
import { decodeLogEntry, type LogEntryFields } from './entry.js';
import { type Hash, hashLeaf } from './merkle.js';
import { type ConsistencyProof, hashHex, type InclusionProof, parseConsistencyProof, parseInclusionProof } from './proofs.js';
import { checkConsistentHeads, DEFAULT_TREE_HEAD_LIMITS, encodeSignedTreeHead, parseSignedTreeHead, type SignedTreeHead, type TreeHead, type TreeHeadSignature } from './tree-head.js';

/** The GET side of shared/client/fetcher.ts's Fetcher: a capped body, 404 as RemoteNotFoundError. */
export interface LogFetcher {
  fetch(url: string, options: { readonly maxBytes: number; readonly headers?: Readonly<Record<string, string>> }): Promise<{ readonly body: AsyncIterable<Uint8Array> }>;
}

/** The POST side (shared/client/fetcher.ts's Poster): any status is an answer, read whole up to its cap. */
export interface LogPoster {
  post(url: string, options: { readonly body?: Uint8Array; readonly headers?: Readonly<Record<string, string>>; readonly maxBytes: number; readonly timeoutMs: number }): Promise<{ readonly status: number; readonly body: Uint8Array }>;
}

/** Caps on what a log may send; defaults in DEFAULT_LOG_CLIENT_LIMITS. */
export interface LogClientLimits {
  /** A tree head: its own parser's cap. */
  readonly maxTreeHeadBytes: number;
  /** An inclusion or consistency proof: at most 106 hashes of 64 hex characters, and the rest. */
  readonly maxProofBytes: number;
  /** One page of entries. */
  readonly maxEntriesPageBytes: number;
  /** Entries asked for per request (the servers answer at most 1,000). */
  readonly pageSize: number;
  /** The answer to a cosignature (empty, or an error). */
  readonly maxPostAnswerBytes: number;
  readonly postTimeoutMs: number;
}

export const DEFAULT_LOG_CLIENT_LIMITS: LogClientLimits = {
  maxTreeHeadBytes: DEFAULT_TREE_HEAD_LIMITS.maxBytes,
  maxProofBytes: 16 * 1024,
  // 1,000 entries of at most a few hundred bytes each, base64 and JSON around them.
  maxEntriesPageBytes: 4 * 1024 * 1024,
  pageSize: 1_000,
  maxPostAnswerBytes: 16 * 1024,
  postTimeoutMs: 15_000,
};

/** One entry as a log served it: its index, its bytes, and what they say. */
export interface FetchedEntry {
  readonly index: number;
  readonly data: Uint8Array;
  readonly leafHash: Hash;
  readonly fields: LogEntryFields;
}

/** What a cosignature POST came to: accepted, or the head is no longer the log's current one. */
export type CosignatureAnswer = 'accepted' | 'superseded';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

async function readCapped(body: AsyncIterable<Uint8Array>, url: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) throw new MalformedLogDataError(`${url} answers more than ${maxBytes} bytes`);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }
  return Buffer.concat(chunks, total);
}

function parseJson(bytes: Buffer, url: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new MalformedLogDataError(`${url} answered what is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

export class LogClient {
  private readonly limits: LogClientLimits;
  private readonly base: string;

  /** `baseUrl` is where the log is mounted: a repository's URL followed by /log. */
  constructor(
    baseUrl: string,
    private readonly fetcher: LogFetcher & Partial<LogPoster>,
    limits: Partial<LogClientLimits> = {},
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.limits = { ...DEFAULT_LOG_CLIENT_LIMITS, ...limits };
  }

  get url(): string {
    return this.base;
  }

  private async getJson(path: string, maxBytes: number): Promise<unknown> {
    const url = `${this.base}${path}`;
    const { body } = await this.fetcher.fetch(url, { maxBytes, headers: { accept: 'application/json' } });
    return parseJson(await readCapped(body, url, maxBytes), url);
  }

  /**
   * The log's latest head with the cosignatures it holds, or with `minCosignatures` the newest head
   * that many witnesses cosigned (LogWitnessPendingError when the log has none yet); not verified here.
   */
  async treeHead(minCosignatures = 0): Promise<SignedTreeHead> {
    if (minCosignatures === 0) return parseSignedTreeHead(await this.getJson('/tree-head', this.limits.maxTreeHeadBytes));
    try {
      return parseSignedTreeHead(await this.getJson(`/tree-head?min_cosignatures=${minCosignatures}`, this.limits.maxTreeHeadBytes));
    } catch (err) {
      if (!(err instanceof RemoteNotFoundError)) throw err;
      throw new LogWitnessPendingError(`the log at ${this.base} has no head with ${minCosignatures} witness cosignatures yet`, { cause: err });
    }
  }

  /**
   * Entries start..end (end exclusive), in as many requests as the page size needs. Each must come
   * at its own index, in order, none missing: a log that skips or repeats one is refused.
   */
  async entries(start: number, end: number): Promise<FetchedEntry[]> {
    const out: FetchedEntry[] = [];
    let next = start;
    while (next < end) {
      const pageEnd = Math.min(end, next + this.limits.pageSize);
      const page = await this.entriesPage(next, pageEnd);
      if (page.length === 0) throw new MalformedLogDataError(`the log answered no entries for ${next}..${pageEnd}`);
      out.push(...page);
      next += page.length;
    }
    return out;
  }

  /** One request's worth: a prefix of start..end, at least one entry, each at its index. */
  async entriesPage(start: number, end: number): Promise<FetchedEntry[]> {
    const json = await this.getJson(`/entries?start=${start}&end=${end}`, this.limits.maxEntriesPageBytes);
    if (typeof json !== 'object' || json === null || !Array.isArray((json as { entries?: unknown }).entries)) {
      throw new MalformedLogDataError('an entries answer must be {"entries": [...]}');
    }
    const list = (json as { entries: unknown[] }).entries;
    if (list.length > end - start) throw new MalformedLogDataError(`${list.length} entries answered for ${end - start} asked`);
    return list.map((item, i) => {
      if (typeof item !== 'object' || item === null) throw new MalformedLogDataError(`entries[${i}] must be an object`);
      const { index, entry } = item as Record<string, unknown>;
      if (index !== start + i) throw new MalformedLogDataError(`entries[${i}] is at index ${String(index)}, where ${start + i} was due`);
      if (typeof entry !== 'string' || !BASE64.test(entry)) throw new MalformedLogDataError(`entries[${i}].entry must be base64`);
      const data = new Uint8Array(Buffer.from(entry, 'base64'));
      return { index, data, leafHash: hashLeaf(data), fields: decodeLogEntry(data) };
    });
  }

  /**
   * The proof that the entry with `leafHash` is in the tree of `treeSize` entries; LogEntryMissingError
   * when the log answers it holds no such entry among them (404).
   */
  async inclusionProof(leafHash: Hash, treeSize: number): Promise<InclusionProof> {
    // The empty tree includes nothing; there is nothing to ask.
    if (treeSize === 0) throw new LogEntryMissingError(`the log at ${this.base} is empty: it holds no entry with leaf hash ${hashHex(leafHash)}`);
    let json: unknown;
    try {
      json = await this.getJson(`/proof/inclusion?leaf_hash=${hashHex(leafHash)}&tree_size=${treeSize}`, this.limits.maxProofBytes);
    } catch (err) {
      if (!(err instanceof RemoteNotFoundError)) throw err;
      throw new LogEntryMissingError(`the log at ${this.base} holds no entry with leaf hash ${hashHex(leafHash)} among its first ${treeSize}`, { cause: err });
    }
    const proof = parseInclusionProof(json);
    if (proof.treeSize !== treeSize) throw new MalformedLogDataError(`an inclusion proof for tree size ${proof.treeSize}, where ${treeSize} was asked`);
    return proof;
  }

  async consistencyProof(first: number, second: number): Promise<ConsistencyProof> {
    const proof = parseConsistencyProof(await this.getJson(`/proof/consistency?first=${first}&second=${second}`, this.limits.maxProofBytes));
    if (proof.firstSize !== first || proof.secondSize !== second) {
      throw new MalformedLogDataError(`a consistency proof from ${proof.firstSize} to ${proof.secondSize}, where ${first} to ${second} was asked`);
    }
    return proof;
  }

  /**
   * Throws unless `newer` extends `older` (tree-head.ts checkConsistentHeads), asking the log for the
   * proof only when one is needed: from the empty tree or between equal sizes the proof is empty.
   */
  async checkExtends(older: TreeHead, newer: TreeHead): Promise<void> {
    const trivial = older.size === 0 || older.size === newer.size || newer.size < older.size;
    const proof = trivial ? { firstSize: older.size, secondSize: newer.size, hashes: [] } : await this.consistencyProof(older.size, newer.size);
    checkConsistentHeads(older, newer, proof);
  }

  /** Hands the log a witness's cosignature of `sth`. */
  async postCosignature(sth: SignedTreeHead, cosignature: TreeHeadSignature): Promise<CosignatureAnswer> {
    if (this.fetcher.post === undefined) throw new TypeError('this log client was given no way to POST');
    const url = `${this.base}/tree-head/cosignature`;
    const body = Buffer.from(JSON.stringify({ tree_head: encodeSignedTreeHead(sth), cosignature }));
    const answer = await this.fetcher.post(url, { body, headers: { 'content-type': 'application/json' }, maxBytes: this.limits.maxPostAnswerBytes, timeoutMs: this.limits.postTimeoutMs });
    if (answer.status === 204 || answer.status === 200) return 'accepted';
    if (answer.status === 409) return 'superseded';
    throw new FetchError(`${url} answered HTTP ${answer.status}: ${Buffer.from(answer.body).toString('utf8').slice(0, 300)}`);
  }
}
