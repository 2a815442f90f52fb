// Where a transparency log keeps its leaves: an append-only store seam (docs/code-style.md R16) with
// an in-memory implementation here and a SQLite one in sqlite-log-store.ts, both passing the same
// contract tests. A store keeps every entry with its leaf hash and the hash of every perfect subtree
// as appends complete it, so a proof or root is O(log n) reads and nothing is ever recomputed
// (docs/transparency-log.md "Storage").
import { BadRequestError, LogRangeError } from '../core/errors.js';
import { Frontier, type Hash, hashLeaf, type SubtreeAddress, type SubtreeNode } from './merkle.js';

export interface LogEntry {
  readonly index: number;
  readonly data: Uint8Array;
  readonly leafHash: Hash;
}

/** Limits of a store; defaults in DEFAULT_LOG_STORE_OPTIONS. */
export interface LogStoreOptions {
  /** Largest entry accepted, bytes: an entry describes a signed file (its hashes), it is not the file. */
  readonly maxEntryBytes: number;
  /** Most entries one append may carry, so one call holds one transaction of bounded size. */
  readonly maxAppendEntries: number;
  /** Most entries one `entries` call returns, so an auditor pages through the log. */
  readonly maxReadEntries: number;
}

export const DEFAULT_LOG_STORE_OPTIONS: LogStoreOptions = {
  maxEntryBytes: 64 * 1024,
  maxAppendEntries: 10_000,
  maxReadEntries: 1_000,
};

/**
 * An append-only log of entries. Asynchronous, so a store on a database server can implement it; the
 * SQLite and in-memory stores answer at once. Nothing is ever changed or removed once appended.
 */
export interface LogStore {
  /** How many entries the log holds. */
  size(): Promise<number>;
  /** Appends `entries` in order, all or none; returns the index of the first. */
  append(entries: readonly Uint8Array[]): Promise<number>;
  /** Entries start (inclusive) to end (exclusive); LogRangeError past the log or over maxReadEntries. */
  entries(start: number, end: number): Promise<LogEntry[]>;
  /** The hash of each perfect subtree asked for, in order; LogRangeError for one the log has not completed. */
  subtreeHashes(nodes: readonly SubtreeAddress[]): Promise<Hash[]>;
  /**
   * The index of the first entry among the first `size` whose leaf hash is `leafHash`, or undefined:
   * what an inclusion proof asked by leaf hash starts from (GET /log/proof/inclusion). One indexed
   * read, whatever the size; LogRangeError for a size the log has not reached.
   */
  findLeaf(leafHash: Hash, size: number): Promise<number | undefined>;
  /** The latest signed tree head the log's server saved (its JSON bytes, cosignatures included), or undefined. */
  latestTreeHead(): Promise<Uint8Array | undefined>;
  /** Replaces the saved tree head: the server saves each head it signs and each cosignature it accepts. */
  saveTreeHead(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** LogRangeError unless `size` is a tree size the log of `current` entries has reached. */
export function checkFindSize(size: number, current: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > current) throw new LogRangeError(`a leaf asked for among the first ${size} entries of a log of ${current}`);
}

/** The checks every store makes before an append, so both refuse the same input the same way. */
export function checkAppend(entries: readonly Uint8Array[], options: LogStoreOptions): void {
  if (entries.length > options.maxAppendEntries) throw new BadRequestError(`an append carries at most ${options.maxAppendEntries} entries, got ${entries.length}`);
  entries.forEach((entry, i) => {
    if (!(entry instanceof Uint8Array)) throw new BadRequestError(`entry ${i} is not bytes`);
    if (entry.length > options.maxEntryBytes) throw new BadRequestError(`entry ${i} is ${entry.length} bytes, over the ${options.maxEntryBytes} the log takes`);
  });
}

/** The checks every store makes before a read of entries. */
export function checkEntriesRange(start: number, end: number, size: number, options: LogStoreOptions): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end) throw new LogRangeError(`entries ${start}..${end} is not a range`);
  if (end > size) throw new LogRangeError(`entries up to ${end} asked of a log of ${size}`);
  if (end - start > options.maxReadEntries) throw new LogRangeError(`at most ${options.maxReadEntries} entries a read, asked for ${end - start}`);
}

/** LogRangeError unless the perfect subtree lies within the first `size` leaves. */
export function checkSubtree(node: SubtreeAddress, size: number): void {
  const width = 2 ** node.level;
  if (!Number.isSafeInteger(node.level) || !Number.isSafeInteger(node.index) || node.level < 0 || node.index < 0 || (node.index + 1) * width > size) {
    throw new LogRangeError(`subtree ${node.level}/${node.index} is not complete in a log of ${size}`);
  }
}

/** Leaf hashes and the subtrees each append completes, for a store to write. */
export function nodesForAppend(frontier: Frontier, entries: readonly Uint8Array[]): { leafHashes: Hash[]; nodes: SubtreeNode[] } {
  const leafHashes: Hash[] = [];
  const nodes: SubtreeNode[] = [];
  for (const entry of entries) {
    const leafHash = hashLeaf(entry);
    leafHashes.push(leafHash);
    nodes.push(...frontier.push(leafHash));
  }
  return { leafHashes, nodes };
}

/** A store in memory: tests, simulations, and the reference the SQLite store is held to. */
export class MemoryLogStore implements LogStore {
  private readonly data: Uint8Array[] = [];
  /** levels[l][i]: the hash of the perfect subtree l/i; level 0 holds the leaf hashes. */
  private readonly levels: Hash[][] = [[]];
  private readonly frontier = new Frontier();
  private readonly options: LogStoreOptions;
  /** Leaf hash (hex) to the index of its first entry. */
  private readonly firstByLeaf = new Map<string, number>();
  private treeHead: Uint8Array | undefined;

  constructor(options: Partial<LogStoreOptions> = {}) {
    this.options = { ...DEFAULT_LOG_STORE_OPTIONS, ...options };
  }

  async size(): Promise<number> {
    return this.data.length;
  }

  async append(entries: readonly Uint8Array[]): Promise<number> {
    checkAppend(entries, this.options);
    const first = this.data.length;
    // The frontier changes only once every check has passed, so a refused append leaves nothing behind.
    const { nodes } = nodesForAppend(this.frontier, entries);
    for (const entry of entries) this.data.push(Uint8Array.from(entry));
    for (const node of nodes) {
      if (node.level === 0) {
        const key = Buffer.from(node.hash).toString('hex');
        if (!this.firstByLeaf.has(key)) this.firstByLeaf.set(key, node.index);
      }
      const level = (this.levels[node.level] ??= []);
      level[node.index] = node.hash;
    }
    return first;
  }

  async entries(start: number, end: number): Promise<LogEntry[]> {
    checkEntriesRange(start, end, this.data.length, this.options);
    const out: LogEntry[] = [];
    for (let index = start; index < end; index++) out.push({ index, data: Uint8Array.from(this.data[index]!), leafHash: this.levels[0]![index]! });
    return out;
  }

  async subtreeHashes(nodes: readonly SubtreeAddress[]): Promise<Hash[]> {
    return nodes.map((node) => {
      checkSubtree(node, this.data.length);
      return this.levels[node.level]![node.index]!;
    });
  }

  async findLeaf(leafHash: Hash, size: number): Promise<number | undefined> {
    checkFindSize(size, this.data.length);
    const index = this.firstByLeaf.get(Buffer.from(leafHash).toString('hex'));
    return index !== undefined && index < size ? index : undefined;
  }

  async latestTreeHead(): Promise<Uint8Array | undefined> {
    return this.treeHead === undefined ? undefined : Uint8Array.from(this.treeHead);
  }

  async saveTreeHead(bytes: Uint8Array): Promise<void> {
    this.treeHead = Uint8Array.from(bytes);
  }

  async close(): Promise<void> {}
}
