// The audit log on PostgreSQL (schema.ts). Details are kept as JSON text, read back as written.
import type { AuditEntry, AuditLog } from '../audit.js';
import { currentTokenId } from '../../token-context.js';
import { limitParam, run, type Queryable } from './sql.js';

export class PostgresAuditLog implements AuditLog {
  constructor(private readonly q: Queryable) {}

  async record(actor: string, action: string, details: unknown, now: Date, tokenId: string | null = currentTokenId() ?? null): Promise<void> {
    await run(this.q, 'INSERT INTO audit_log (at, actor, action, details, token_id) VALUES ($1, $2, $3, $4, $5)', [now.toISOString(), actor, action, JSON.stringify(details), tokenId]);
  }

  async entries(limit: number): Promise<AuditEntry[]> {
    const rows = await run<{ at: string; actor: string; token_id: string | null; action: string; details: string }>(
      this.q,
      'SELECT at, actor, token_id, action, details FROM audit_log ORDER BY id DESC LIMIT $1',
      [limitParam(limit)],
    );
    return rows.map((r) => ({ at: r.at, actor: r.actor, tokenId: r.token_id, action: r.action, details: JSON.parse(r.details) as unknown }));
  }
}
