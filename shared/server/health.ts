// GET /healthz (the process answers) and GET /readyz (it can serve: its database answers a trivial
// query within a short timeout and its online signing keys sign), for load balancers and
// orchestrators. A server that is not ready answers 503 with a typed error and Retry-After.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ServerNotReadyError } from '../core/errors.js';
import type { PrivateKey } from '../core/crypto/keys.js';
import { nodeBackend } from '../core/crypto/ed25519.js';
import { sendRawError, sendRawJson } from './http-errors.js';

export interface ReadinessChecks {
  /** A trivial read of one of the server's tables; rejects when the database is away. */
  readonly database: () => Promise<unknown>;
  /** The online keys the server signs with now; each must sign a probe its public key verifies. */
  readonly signingKeys: () => readonly PrivateKey[];
  /** How long the database may take before the server counts as not ready (DEFAULT_READINESS_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Retry-After of a 503 (DEFAULT_NOT_READY_RETRY_SECONDS). */
  readonly retryAfterSeconds?: number;
}

/** Well above a healthy database's answer, well below a load balancer's usual probe timeout. */
export const DEFAULT_READINESS_TIMEOUT_MS = 2_000;
export const DEFAULT_NOT_READY_RETRY_SECONDS = 5;

const PROBE = Buffer.from('uptane readiness probe');

/** Throws ServerNotReadyError saying what is not ready. */
export async function checkReadiness(checks: ReadinessChecks): Promise<void> {
  const retryAfter = checks.retryAfterSeconds ?? DEFAULT_NOT_READY_RETRY_SECONDS;
  const timeoutMs = checks.timeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  try {
    const answer = await Promise.race([checks.database().then(() => 'ok' as const), late]);
    if (answer === 'late') throw new ServerNotReadyError(`the database did not answer within ${timeoutMs} ms`, retryAfter);
  } catch (err) {
    if (err instanceof ServerNotReadyError) throw err;
    // Whatever the database said (a refused connection, a missing table), only its kind leaves: the
    // message may name the server's files or hosts (docs/threat-model.md HR-9g).
    throw new ServerNotReadyError(`the database did not answer (${(err as { code?: unknown }).code ?? (err as Error).name})`, retryAfter);
  } finally {
    clearTimeout(timer);
  }
  for (const key of checks.signingKeys()) {
    let signs: boolean;
    try {
      signs = key.publicKey.verify(PROBE, key.sign(PROBE), nodeBackend);
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      signs = false; // a key token that went away throws; that is exactly "not usable"
    }
    if (!signs) throw new ServerNotReadyError(`the online signing key ${key.keyid.slice(0, 8)}... does not sign`, retryAfter);
  }
}

/** GET /healthz: the process is alive and its event loop turns. */
export function serveHealthz(_req: IncomingMessage, res: ServerResponse): void {
  sendRawJson(res, 200, { status: 'ok' }, { 'Cache-Control': 'no-store' });
}

/** GET /readyz: 200 {status: 'ready'}, or 503 {error: {code: 'not_ready', message}} with Retry-After. */
export async function serveReadyz(checks: ReadinessChecks, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    await checkReadiness(checks);
  } catch (err) {
    sendRawError(res, err);
    return;
  }
  sendRawJson(res, 200, { status: 'ready' }, { 'Cache-Control': 'no-store' });
}
