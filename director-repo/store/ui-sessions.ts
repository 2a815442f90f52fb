// Signed-out dashboard sessions (docs/dashboard.md "Signing out"). A dashboard cookie is stateless
// (dashboard/ui-session.ts), so signing out records its session id until the cookie would have
// expired anyway; every replica reads the record, so a copy of the cookie stops working everywhere.
// The table stays small: a record is useless once its cookie has expired (8 hours at most), and each
// sign-out removes a batch of those before it adds its own.

export interface UiSessionRevocations {
  /**
   * Records `sessionId` as signed out until `expiresAt` (its cookie's expiry), after removing up to
   * `pruneLimit` records whose cookies expired before `now`. Recording the same id twice keeps one.
   */
  revoke(sessionId: string, expiresAt: Date, now: Date, pruneLimit: number): Promise<void>;
  /** Whether `sessionId` was signed out (and its record not yet pruned). */
  isRevoked(sessionId: string): Promise<boolean>;
  /** How many records are kept (the table's size, for tests and /metrics). */
  count(): Promise<number>;
}

/** Expired records each sign-out removes before adding its own: more than it adds, so the table cannot grow past its live sessions. */
export const REVOCATION_PRUNE_BATCH = 100;
