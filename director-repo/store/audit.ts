// The Director's audit log: who changed what, and which operator requests were refused.

import type { AuditEntry } from '../api/operator-api.js';

export type { AuditEntry };

export interface AuditLog {
  /**
   * One entry. The token id is that of the operator request being served (token-context.ts) unless
   * given, so every service that audits names the token without passing it along; null for the CLI
   * on the host and for the campaign timer.
   */
  record(actor: string, action: string, details: unknown, now: Date, tokenId?: string | null): Promise<void>;
  /** The newest `limit` entries, newest first. */
  entries(limit: number): Promise<AuditEntry[]>;
}
