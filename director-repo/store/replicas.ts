// What replicas of the Director on one database share besides its tables: nonces of signed requests,
// word that something others keep in memory changed, and leases on work only one replica does at a
// time. Only a store that replicas can share (PostgreSQL) provides them; on SQLite one process holds
// the data folder (shared/server/server-folder.ts) and needs none of it (docs/decisions.md "Replicas").
import type { SharedNonceRecord } from '../../shared/uptane/vehicle-auth.js';

/** The shared record of signed-request nonces, pruned of expired ones in bounded batches. */
export interface SignedRequestNonces extends SharedNonceRecord {
  /** Removes at most `limit` nonces expired at `nowMs`; how many it removed. */
  prune(nowMs: number, limit: number): Promise<number>;
}

/** What one replica changes that every replica may keep in memory. */
export type ChangeTopic = 'primary-keys' | 'dashboard-events';

/** Word between replicas that a topic changed (PostgreSQL LISTEN/NOTIFY). */
export interface ChangeFeed {
  /** Tells every replica, this one included, that `topic` changed; call it once the change committed. */
  announce(topic: ChangeTopic): Promise<void>;
  /**
   * Calls `listener` on every announcement of `topic`, and whenever announcements may have been
   * missed (the listening connection was lost, or came back).
   */
  subscribe(topic: ChangeTopic, listener: () => void): void;
  /** Announces `topic` with a payload every replica's subscribeMessages listeners get (the dashboard's live events). */
  announceMessage(topic: ChangeTopic, payload: string): Promise<void>;
  subscribeMessages(topic: ChangeTopic, listener: (payload: string) => void): void;
  /** Whether announcements reach this replica now; while they do not, nothing of a topic may be kept in memory. */
  readonly listening: boolean;
}

/** Work only one replica does at a time (campaign rounds, pruning); the others stand by. */
export interface Lease {
  /**
   * Whether this replica holds the lease now: confirmed with the database when held, tried for when
   * not. False, never a rejection, while the database cannot be reached.
   */
  held(): Promise<boolean>;
}
