// The expiry guardian's judgement (issue 19, part 6): every role a repository publishes, with its
// version, expiry, keys and threshold, judged ok, warning or expired against a reference time. Pure:
// the readers beside each repository (image-repo/role-expiry-reader.ts, director-repo/
// repository-health.ts) load the bytes, this module reads the `signed` parts and decides.
//
// Offline roles (root, the Image repository's targets and its delegations) are re-signed by people,
// so they are warned about weeks ahead (a key ceremony takes time). Online roles (snapshot,
// timestamp, the Director's per-vehicle targets) are re-signed by the server once half their
// lifetime is gone; one that comes within hours of expiring means the re-signing timer is failing,
// so their window is hours, not days.
import { MalformedMetadataError } from '../core/errors.js';
import { parseExpires } from '../core/metadata/parse.js';
import { succinctRoleName } from '../core/metadata/paths.js';

export type ExpiryState = 'ok' | 'warning' | 'expired';
export type ExpiryRepository = 'image' | 'director';

/** What a repository's metadata says about one role, before any judgement. */
export interface RoleFacts {
  readonly repository: ExpiryRepository;
  readonly role: string;
  readonly version: number;
  /** `YYYY-MM-DDTHH:MM:SSZ`, as signed. */
  readonly expires: string;
  readonly threshold: number;
  readonly keyids: readonly string[];
  /** Signed by a key the server holds (re-signed automatically), not by people with offline keys. */
  readonly online: boolean;
}

export interface RoleExpiry extends RoleFacts {
  /** Whole seconds until `expires` (negative once expired). */
  readonly secondsLeft: number;
  readonly state: ExpiryState;
}

/** How far ahead of expiry a role is in its warning window. */
export interface ExpiryWarnings {
  /** Offline-signed roles: days. */
  readonly offlineDays: number;
  /** Online-signed roles: hours (they are re-signed at half their lifetime: 12 h of a 1-day timestamp). */
  readonly onlineHours: number;
}

/**
 * 30 days for offline roles: time to gather root key holders. 6 hours for online ones: a 1-day
 * timestamp is re-signed with 12 h left, so 6 h left means several re-signing rounds failed.
 */
export const DEFAULT_EXPIRY_WARNINGS: ExpiryWarnings = { offlineDays: 30, onlineHours: 6 };

/** Exit status of the `expiry` commands, for cron and CI: the worst state of any role. 1 stays "the command failed". */
export const EXPIRY_EXIT = { ok: 0, warning: 10, expired: 11 } as const;

const STATE_ORDER: readonly ExpiryState[] = ['ok', 'warning', 'expired'];

export function judgeRole(facts: RoleFacts, now: Date, warnings: ExpiryWarnings = DEFAULT_EXPIRY_WARNINGS): RoleExpiry {
  const left = parseExpires(facts.expires).getTime() - now.getTime();
  const window = facts.online ? warnings.onlineHours * 3_600_000 : warnings.offlineDays * 86_400_000;
  // Expired at the instant itself, as the verifiers judge it (trusted-metadata-set.ts isExpired).
  const state: ExpiryState = left <= 0 ? 'expired' : left <= window ? 'warning' : 'ok';
  return { ...facts, secondsLeft: Math.floor(left / 1000), state };
}

export function judgeRoles(facts: readonly RoleFacts[], now: Date, warnings: ExpiryWarnings = DEFAULT_EXPIRY_WARNINGS): RoleExpiry[] {
  return facts.map((f) => judgeRole(f, now, warnings));
}

/** The worst state among `roles`: what a cron job acts on. */
export function worstState(roles: readonly { readonly state: ExpiryState }[]): ExpiryState {
  return roles.reduce<ExpiryState>((worst, r) => (STATE_ORDER.indexOf(r.state) > STATE_ORDER.indexOf(worst) ? r.state : worst), 'ok');
}

export function expiryExitCode(state: ExpiryState): number {
  return EXPIRY_EXIT[state];
}

// --- Reading the facts out of metadata ---------------------------------------------------------

/** Loads a role's latest bytes (a server's store, a client's verified folder, a workspace's published folder). */
export type RoleLoader = (role: string) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

interface SignedPart {
  readonly version: number;
  readonly expires: string;
  readonly roles?: Readonly<Record<string, { keyids?: readonly string[]; threshold?: number }>>;
  readonly delegations?: {
    readonly roles?: ReadonlyArray<{ name: string; keyids?: readonly string[]; threshold?: number }>;
    readonly succinct_roles?: { keyids?: readonly string[]; threshold?: number; bit_length?: number; name_prefix?: string };
  };
}

/** Most delegated roles read per delegator: the report is a health check, not a crawl of a hostile tree. */
const MAX_DELEGATIONS_PER_ROLE = 1_000;
/** Hash-bin delegations can hold 2^16 bins; only those published are reported, up to this many. */
const MAX_BINS = 4_096;

/**
 * The `signed` part of stored metadata. The bytes come from the repository's own store or from a
 * folder the client wrote only after verifying them; this only reads the fields the report needs and
 * names the role whose file is malformed.
 */
export function signedPart(bytes: Uint8Array, repository: ExpiryRepository, role: string): SignedPart {
  let envelope: unknown;
  try {
    envelope = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw malformed(repository, role, 'is not JSON');
  }
  const signed = (envelope as { signed?: unknown } | null)?.signed as Partial<SignedPart> | undefined;
  if (typeof signed !== 'object' || signed === null || typeof signed.version !== 'number' || typeof signed.expires !== 'string') {
    throw malformed(repository, role, 'has no signed.version and signed.expires');
  }
  parseExpires(signed.expires);
  return signed as SignedPart;
}

const malformed = (repository: ExpiryRepository, role: string, what: string) =>
  new MalformedMetadataError(`the ${repository} repository's stored ${role} metadata ${what}`, { repository, role });

/**
 * Every published role of a repository, walking root, timestamp, snapshot, targets and the
 * delegations of targets (one level of named delegations and published hash bins; deeper ones are
 * walked too, breadth first, within the caps). `online` names the roles the server signs.
 */
export async function readRoleFacts(repository: ExpiryRepository, load: RoleLoader, online: ReadonlySet<string>): Promise<RoleFacts[]> {
  const rootBytes = await load('root');
  if (rootBytes === undefined) return [];
  const root = signedPart(rootBytes, repository, 'root');
  const topKeys = (role: string) => ({ keyids: [...(root.roles?.[role]?.keyids ?? [])], threshold: root.roles?.[role]?.threshold ?? 1 });
  const facts: RoleFacts[] = [];
  const push = (role: string, signed: SignedPart, keys: { keyids: readonly string[]; threshold: number }) =>
    facts.push({ repository, role, version: signed.version, expires: signed.expires, threshold: keys.threshold, keyids: [...keys.keyids], online: online.has(role) });
  push('root', root, topKeys('root'));
  for (const role of ['targets', 'snapshot', 'timestamp']) {
    const bytes = await load(role);
    if (bytes !== undefined) push(role, signedPart(bytes, repository, role), topKeys(role));
  }
  // Delegated targets: signed offline by whoever holds the delegated keys.
  const queue: Array<{ name: string; signed: SignedPart }> = [];
  const targetsBytes = await load('targets');
  if (targetsBytes !== undefined) queue.push({ name: 'targets', signed: signedPart(targetsBytes, repository, 'targets') });
  const seen = new Set<string>(['root', 'targets', 'snapshot', 'timestamp']);
  while (queue.length > 0) {
    const { signed } = queue.shift()!;
    const delegated: Array<{ name: string; keyids: readonly string[]; threshold: number }> = [];
    for (const d of (signed.delegations?.roles ?? []).slice(0, MAX_DELEGATIONS_PER_ROLE)) delegated.push({ name: d.name, keyids: d.keyids ?? [], threshold: d.threshold ?? 1 });
    const bins = signed.delegations?.succinct_roles;
    if (bins !== undefined && typeof bins.bit_length === 'number' && typeof bins.name_prefix === 'string') {
      const count = Math.min(2 ** bins.bit_length, MAX_BINS);
      const succinct = { keyids: bins.keyids ?? [], threshold: bins.threshold ?? 1, bit_length: bins.bit_length, name_prefix: bins.name_prefix };
      for (let bin = 0; bin < count; bin++) delegated.push({ name: succinctRoleName(succinct, bin), keyids: succinct.keyids, threshold: succinct.threshold });
    }
    for (const d of delegated) {
      if (seen.has(d.name)) continue;
      seen.add(d.name);
      const bytes = await load(d.name);
      if (bytes === undefined) continue;
      const part = signedPart(bytes, repository, d.name);
      push(d.name, part, d);
      queue.push({ name: d.name, signed: part });
    }
  }
  return facts;
}
