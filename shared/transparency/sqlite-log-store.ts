// The transparency log in a SQLite file of its own (docs/transparency-log.md "Storage"): one row per
// entry with its leaf hash, and one row per perfect subtree of two or more leaves, written in the
// transaction that appends the leaf completing it. A proof reads one row per subtree it needs; an
// append reads nothing, the right edge of the tree being kept in memory and reloaded on open.
import type { Statement } from 'better-sqlite3';
import { StorageError } from '../core/errors.js';
import { type Db, openDatabase } from '../server/sqlite.js';
import { Frontier, type Hash, perfectSubtreesOf, type SubtreeAddress } from './merkle.js';
import { checkAppend, checkEntriesRange, checkSubtree, DEFAULT_LOG_STORE_OPTIONS, type LogEntry, type LogStore, type LogStoreOptions, nodesForAppend } from './log-store.js';

/** Schema versions of the log's own file; append only, as every migration list here. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE log_leaves (
     idx INTEGER PRIMARY KEY,
     leaf_hash BLOB NOT NULL,
     data BLOB NOT NULL
   );
   CREATE TABLE log_subtrees (
     level INTEGER NOT NULL,
     idx INTEGER NOT NULL,
     hash BLOB NOT NULL,
     PRIMARY KEY (level, idx)
   ) WITHOUT ROWID;`,
];

interface Statements {
  readonly size: Statement<[], { size: number }>;
  readonly insertLeaf: Statement<[number, Uint8Array, Uint8Array]>;
  readonly insertSubtree: Statement<[number, number, Uint8Array]>;
  readonly leafHash: Statement<[number], { leaf_hash: Buffer }>;
  readonly subtreeHash: Statement<[number, number], { hash: Buffer }>;
  readonly entries: Statement<[number, number], { idx: number; leaf_hash: Buffer; data: Buffer }>;
}

export class SqliteLogStore implements LogStore {
  private readonly statements: Statements;
  private frontier: Frontier;

  private constructor(
    private readonly db: Db,
    private readonly options: LogStoreOptions,
  ) {
    this.statements = {
      size: db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS size FROM log_leaves'),
      insertLeaf: db.prepare('INSERT INTO log_leaves (idx, leaf_hash, data) VALUES (?, ?, ?)'),
      insertSubtree: db.prepare('INSERT INTO log_subtrees (level, idx, hash) VALUES (?, ?, ?)'),
      leafHash: db.prepare('SELECT leaf_hash FROM log_leaves WHERE idx = ?'),
      subtreeHash: db.prepare('SELECT hash FROM log_subtrees WHERE level = ? AND idx = ?'),
      entries: db.prepare('SELECT idx, leaf_hash, data FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx'),
    };
    this.frontier = this.loadFrontier();
  }

  /** Opens (creating) the log file at `path`; `:memory:` for a throwaway one. */
  static open(path: string, options: Partial<LogStoreOptions> = {}): SqliteLogStore {
    return new SqliteLogStore(openDatabase(path, MIGRATIONS), { ...DEFAULT_LOG_STORE_OPTIONS, ...options });
  }

  private currentSize(): number {
    return this.statements.size.get()!.size;
  }

  private readHash(node: SubtreeAddress): Hash | undefined {
    const row = node.level === 0 ? this.statements.leafHash.get(node.index)?.leaf_hash : this.statements.subtreeHash.get(node.level, node.index)?.hash;
    return row === undefined ? undefined : new Uint8Array(row);
  }

  /** The right edge of the tree as the file holds it: what appends continue from. */
  private loadFrontier(): Frontier {
    const size = this.currentSize();
    const edge = size === 0 ? [] : perfectSubtreesOf({ start: 0, end: size }).map((node) => {
      const hash = this.readHash(node);
      // Every subtree left of the last leaf was written with the leaf that completed it.
      if (hash === undefined) throw new StorageError(`the log file lacks subtree ${node.level}/${node.index} of its ${size} leaves`);
      return hash;
    });
    return new Frontier(size, edge);
  }

  async size(): Promise<number> {
    return this.currentSize();
  }

  async append(entries: readonly Uint8Array[]): Promise<number> {
    checkAppend(entries, this.options);
    let first = 0;
    let committed = false;
    try {
      this.db
        .transaction(() => {
          // Another process may have appended to the same file since: continue from what it holds.
          if (this.currentSize() !== this.frontier.size) this.frontier = this.loadFrontier();
          first = this.frontier.size;
          const { leafHashes, nodes } = nodesForAppend(this.frontier, entries);
          entries.forEach((entry, i) => this.statements.insertLeaf.run(first + i, leafHashes[i]!, entry));
          for (const node of nodes) if (node.level > 0) this.statements.insertSubtree.run(node.level, node.index, node.hash);
        })
        .immediate();
      committed = true;
    } finally {
      // A rolled-back append must not leave its leaves in the in-memory edge.
      if (!committed) this.frontier = this.loadFrontier();
    }
    return first;
  }

  async entries(start: number, end: number): Promise<LogEntry[]> {
    checkEntriesRange(start, end, this.currentSize(), this.options);
    return this.statements.entries.all(start, end).map((row) => ({ index: row.idx, data: new Uint8Array(row.data), leafHash: new Uint8Array(row.leaf_hash) }));
  }

  async subtreeHashes(nodes: readonly SubtreeAddress[]): Promise<Hash[]> {
    const size = this.currentSize();
    return nodes.map((node) => {
      checkSubtree(node, size);
      const hash = this.readHash(node);
      if (hash === undefined) throw new StorageError(`the log file lacks subtree ${node.level}/${node.index} of its ${size} leaves`);
      return hash;
    });
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
