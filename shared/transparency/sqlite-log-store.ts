// The transparency log in a SQLite file of its own (docs/transparency-log.md "Storage"): one row per
// entry with its leaf hash, and one row per perfect subtree of two or more leaves, written in the
// transaction that appends the leaf completing it. A proof reads one row per subtree it needs; an
// append reads nothing, the right edge of the tree being kept in memory and reloaded on open.
import type { Statement } from 'better-sqlite3';
import { StorageError } from '../core/errors.js';
import { type Db, openDatabase } from '../server/sqlite.js';
import { Frontier, type Hash, perfectSubtreesOf, type SubtreeAddress } from './merkle.js';
import { checkAppend, checkEntriesRange, checkFindSize, checkSubtree, DEFAULT_LOG_STORE_OPTIONS, type LogEntry, type LogStore, type LogStoreOptions, nodesForAppend } from './log-store.js';

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
  // The server routes (docs/transparency-log.md "Server routes"): an inclusion proof is asked by leaf
  // hash, so leaves are found by it in one indexed read; and the latest signed head, cosignatures
  // included, survives a restart. The index holds (leaf_hash, idx), so the first entry of a hash is its first row.
  `CREATE INDEX IF NOT EXISTS log_leaves_by_hash ON log_leaves (leaf_hash, idx);
   CREATE TABLE IF NOT EXISTS log_tree_head (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     head BLOB NOT NULL
   );`,
];

/** Subtrees read by one query, well under SQLite's 32,766 bound parameters. */
const MAX_NODES_A_QUERY = 500;

interface Statements {
  readonly size: Statement<[], { size: number }>;
  readonly insertLeaf: Statement<[number, Uint8Array, Uint8Array]>;
  readonly insertSubtree: Statement<[number, number, Uint8Array]>;
  readonly leafHash: Statement<[number], { leaf_hash: Buffer }>;
  readonly subtreeHash: Statement<[number, number], { hash: Buffer }>;
  readonly entries: Statement<[number, number], { idx: number; leaf_hash: Buffer; data: Buffer }>;
  readonly findLeaf: Statement<[Uint8Array, number], { idx: number }>;
  readonly treeHead: Statement<[], { head: Buffer }>;
  readonly saveTreeHead: Statement<[Uint8Array]>;
}

export class SqliteLogStore implements LogStore {
  private readonly statements: Statements;
  /** Batch reads by the number of subtrees asked, prepared on first use (a proof asks for at most 2 x 53). */
  private readonly leafBatches = new Map<number, Statement<number[], { idx: number; leaf_hash: Buffer }>>();
  private readonly subtreeBatches = new Map<number, Statement<number[], { level: number; idx: number; hash: Buffer }>>();
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
      findLeaf: db.prepare('SELECT idx FROM log_leaves WHERE leaf_hash = ? AND idx < ? ORDER BY idx LIMIT 1'),
      treeHead: db.prepare('SELECT head FROM log_tree_head WHERE id = 1'),
      saveTreeHead: db.prepare('INSERT INTO log_tree_head (id, head) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET head = excluded.head'),
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

  /**
   * One query for the leaves and one for the larger subtrees a proof needs, not one per subtree: on
   * a loaded host that read a proof at a third to a half of the time (bench figure 23).
   */
  async subtreeHashes(nodes: readonly SubtreeAddress[]): Promise<Hash[]> {
    for (const node of nodes) checkSubtree(node, Number.MAX_SAFE_INTEGER);
    const found = new Map<string, Hash>();
    const leaves = nodes.filter((n) => n.level === 0).map((n) => n.index);
    const subtrees = nodes.filter((n) => n.level > 0);
    for (let at = 0; at < leaves.length; at += MAX_NODES_A_QUERY) {
      const part = leaves.slice(at, at + MAX_NODES_A_QUERY);
      for (const row of this.leafHashesStatement(part.length).all(...part)) found.set(`0/${row.idx}`, new Uint8Array(row.leaf_hash));
    }
    for (let at = 0; at < subtrees.length; at += MAX_NODES_A_QUERY) {
      const part = subtrees.slice(at, at + MAX_NODES_A_QUERY);
      for (const row of this.subtreeHashesStatement(part.length).all(...part.flatMap((n) => [n.level, n.index]))) found.set(`${row.level}/${row.idx}`, new Uint8Array(row.hash));
    }
    return nodes.map((node) => {
      const hash = found.get(`${node.level}/${node.index}`);
      if (hash !== undefined) return hash;
      // Missing: beyond the log is the caller's request; within it, the file lost a row.
      const size = this.currentSize();
      checkSubtree(node, size);
      throw new StorageError(`the log file lacks subtree ${node.level}/${node.index} of its ${size} leaves`);
    });
  }

  private leafHashesStatement(count: number): Statement<number[], { idx: number; leaf_hash: Buffer }> {
    let statement = this.leafBatches.get(count);
    if (statement === undefined) {
      statement = this.db.prepare(`SELECT idx, leaf_hash FROM log_leaves WHERE idx IN (${Array.from({ length: count }, () => '?').join(', ')})`);
      this.leafBatches.set(count, statement);
    }
    return statement;
  }

  private subtreeHashesStatement(count: number): Statement<number[], { level: number; idx: number; hash: Buffer }> {
    let statement = this.subtreeBatches.get(count);
    if (statement === undefined) {
      statement = this.db.prepare(`SELECT level, idx, hash FROM log_subtrees WHERE (level, idx) IN (VALUES ${Array.from({ length: count }, () => '(?, ?)').join(', ')})`);
      this.subtreeBatches.set(count, statement);
    }
    return statement;
  }

  async findLeaf(leafHash: Hash, size: number): Promise<number | undefined> {
    checkFindSize(size, this.currentSize());
    return this.statements.findLeaf.get(leafHash, size)?.idx;
  }

  async latestTreeHead(): Promise<Uint8Array | undefined> {
    const row = this.statements.treeHead.get();
    return row === undefined ? undefined : new Uint8Array(row.head);
  }

  async saveTreeHead(bytes: Uint8Array): Promise<void> {
    this.statements.saveTreeHead.run(bytes);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
