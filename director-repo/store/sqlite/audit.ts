// The audit log's SQL (schema.ts, migrations 1 and 5).
import type { Db } from '../../../shared/server/sqlite.js';
import type { AuditEntry, AuditLog } from '../audit.js';
import { currentTokenId } from '../../token-context.js';
import type { Synchronous } from './transaction-gate.js';

export class SqliteAuditLog implements Synchronous<AuditLog> {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare('INSERT INTO audit_log (at, actor, action, details, token_id) VALUES (?, ?, ?, ?, ?)'),
      entries: db.prepare('SELECT at, actor, token_id, action, details FROM audit_log ORDER BY id DESC LIMIT ?'),
    };
  }

  record(actor: string, action: string, details: unknown, now: Date, tokenId: string | null = currentTokenId() ?? null): void {
    this.s.insert.run(now.toISOString(), actor, action, JSON.stringify(details), tokenId);
  }

  entries(limit: number): AuditEntry[] {
    return (this.s.entries.all(limit) as Array<{ at: string; actor: string; token_id: string | null; action: string; details: string }>).map((r) => ({
      at: r.at,
      actor: r.actor,
      tokenId: r.token_id,
      action: r.action,
      details: JSON.parse(r.details) as unknown,
    }));
  }
}
