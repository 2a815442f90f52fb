// Online keys of a repository server: loaded from the server's key folder, created on first start,
// and rotated through a pending key (docs/decisions.md "Online key rotation"). Any other key file in
// that folder means an offline key (root, Image targets, supplier) was put on the server, and the
// server refuses to start (docs/decisions.md Keys). A rotation's new key waits in keys/pending/ until
// a root that lists it is published; OnlineKeyRing switches to it in the step that stores that root.
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrivateKey, savePrivateKey } from '../files/key-files.js';
import { PrivateKey } from '../core/crypto/keys.js';
import { serializeMetadata, signMetadata } from '../core/metadata/sign.js';
import type { AnySigned } from '../core/metadata/types.js';
import type { SignedRoleFile } from './snapshot-timestamp.js';
import { BadRequestError, OfflineKeyOnServerError, PendingOnlineKeyError, RepositoryStateError, RotationPendingError, UptaneError } from '../core/errors.js';

/** The folder inside the key folder where a rotation's new keys wait for their root. */
export const PENDING_KEY_FOLDER = 'pending';

/**
 * How long, after the root that lists a new key is published, the server also signs with the key it
 * replaced: a vehicle that read the root chain just before the publication still verifies the rest
 * of its cycle (docs/decisions.md "Online key rotation"). 0 switches without any overlap.
 */
export const DEFAULT_KEY_HANDOVER_MS = 5 * 60_000;

/**
 * The online keys of `roles` in `keyDir` (`<role>.pem`), made if missing. `otherFiles` names the
 * server's own non-key secrets that may sit beside them (the Director's session secret).
 */
export function loadOnlineKeys<R extends string>(keyDir: string, roles: readonly R[], repository: string, otherFiles: readonly string[] = []): Record<R, PrivateKey> {
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const allowed = new Set([...roles.map((role) => `${role}.pem`), ...otherFiles]);
  for (const file of readdirSync(keyDir)) {
    if (file === PENDING_KEY_FOLDER && lstatSync(join(keyDir, file)).isDirectory()) continue; // checked by loadPendingOnlineKeys
    if (!allowed.has(file)) {
      throw new OfflineKeyOnServerError(
        `${join(keyDir, file)} is not an online key of this ${repository} repository; offline keys never live on the server. Remove it to start.`,
        { repository },
      );
    }
  }
  const keys = {} as Record<R, PrivateKey>;
  for (const role of roles) {
    const path = join(keyDir, `${role}.pem`);
    if (!existsSync(path)) savePrivateKey(path, PrivateKey.generate());
    keys[role] = loadPrivateKey(path);
  }
  return keys;
}

/**
 * The keys waiting in `<keyDir>/pending/` for `rotatable` roles. Refuses, before anything is served,
 * a file that is no pending key of a rotatable role (OfflineKeyOnServerError, as in the key folder),
 * and a pending key file that is not a regular owner-only file, not a private key, or the same key as
 * one in `inUse` (PendingOnlineKeyError): such a file was put there by hand, not by a rotation.
 */
export function loadPendingOnlineKeys<R extends string>(
  keyDir: string,
  rotatable: readonly R[],
  inUse: readonly PrivateKey[],
  repository: string,
): Partial<Record<R, PrivateKey>> {
  const dir = join(keyDir, PENDING_KEY_FOLDER);
  if (!existsSync(dir)) return {};
  const allowed = new Map(rotatable.map((role) => [`${role}.pem`, role]));
  const pending: Partial<Record<R, PrivateKey>> = {};
  const seen = new Set(inUse.map((key) => key.keyid));
  for (const file of readdirSync(dir).sort()) {
    const path = join(dir, file);
    const role = allowed.get(file);
    if (role === undefined) {
      throw new OfflineKeyOnServerError(`${path} is not a pending online key of this ${repository} repository (only ${[...allowed.keys()].join(', ')}); remove it to start.`, {
        repository,
      });
    }
    const stat = lstatSync(path);
    if (!stat.isFile()) throw new PendingOnlineKeyError(`${path} is not a regular file; remove it to start (then \`online-keys rotate\` again).`, { repository, role });
    if ((stat.mode & 0o077) !== 0) {
      throw new PendingOnlineKeyError(`${path} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); a rotation writes it 0600. Remove it to start, then rotate again.`, {
        repository,
        role,
      });
    }
    let key: PrivateKey;
    try {
      key = loadPrivateKey(path);
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      throw new PendingOnlineKeyError(`${path} is not a private key (${err.message}); remove it to start, then rotate again.`, { repository, role, cause: err });
    }
    if (seen.has(key.keyid)) {
      throw new PendingOnlineKeyError(`${path} holds key ${key.keyid}, which the server already uses; remove it to start, then rotate again.`, { repository, role });
    }
    seen.add(key.keyid);
    pending[role] = key;
  }
  return pending;
}

/** What a root says about the online keys: for each role, the keyids it lists. */
export type RootRoleKeyids = Readonly<Record<string, { readonly keyids: readonly string[] } | undefined>>;

/** How a root stands to a ring's keys (OnlineKeyRing.judgeRoot). */
export interface RootJudgement<R extends string> {
  /** Roles whose pending key the root lists: the server switches to it when the root is stored. */
  readonly switching: R[];
  /** Roles for which the root lists neither the key in use nor the pending one: the root is refused. */
  readonly unauthorized: R[];
}

/** Put back what OnlineKeyRing.switchTo changed in memory, when the root could not be stored. */
export type UndoSwitch = () => void;

/**
 * The online keys a server signs with, per rotatable role: the key in use, a pending key created by
 * a rotation (on disk in keys/pending/), and during a handover the key just replaced. Not shared
 * between processes: each server folder has one serving process (shared/server/server-folder.ts).
 */
export class OnlineKeyRing<R extends string> {
  private readonly current: Map<R, PrivateKey>;
  private readonly pending: Map<R, PrivateKey>;
  private readonly retired = new Map<R, { readonly key: PrivateKey; readonly untilMs: number }>();

  constructor(
    readonly roles: readonly R[],
    current: Readonly<Record<R, PrivateKey>>,
    pending: Partial<Record<R, PrivateKey>>,
    private readonly options: { readonly keyDir?: string | undefined; readonly repository: string; readonly handoverMs?: number | undefined },
  ) {
    this.current = new Map(roles.map((role) => [role, current[role]]));
    this.pending = new Map(roles.flatMap((role) => (pending[role] === undefined ? [] : [[role, pending[role]] as const])));
  }

  /** Keys held in memory only (tests of a service alone): a rotation is refused, there is no folder to keep it. */
  static inMemory<R extends string>(keys: Readonly<Record<R, PrivateKey>>, repository: string): OnlineKeyRing<R> {
    return new OnlineKeyRing(Object.keys(keys) as R[], keys, {}, { repository });
  }

  /** The key in use for `role`. */
  key(role: R): PrivateKey {
    return this.current.get(role)!;
  }

  pendingKey(role: R): PrivateKey | undefined {
    return this.pending.get(role);
  }

  /** The keys new `role` metadata is signed with at `now`: the key in use, then the replaced one while its handover lasts. */
  signingKeys(role: R, now: Date): PrivateKey[] {
    const retired = this.retired.get(role);
    return retired !== undefined && now.getTime() < retired.untilMs ? [this.key(role), retired.key] : [this.key(role)];
  }

  /** Forgets replaced keys whose handover is over at `now`; the roles whose metadata must be re-signed without them. */
  endHandovers(now: Date): R[] {
    const ended = [...this.retired].filter(([, { untilMs }]) => untilMs <= now.getTime()).map(([role]) => role);
    for (const role of ended) this.retired.delete(role);
    return ended;
  }

  /**
   * Makes a new pending key for each of `roles`, written 0600 in keys/pending/. A role with a key
   * already pending is refused (RotationPendingError, nothing written) unless `replace`: then its
   * pending key is thrown away, and a root staged for it can no longer be published.
   */
  createPending(roles: readonly R[], replace: boolean): Record<string, PrivateKey> {
    const { keyDir, repository } = this.options;
    if (keyDir === undefined) throw new RepositoryStateError(`this ${repository} server keeps its online keys in memory only; it cannot rotate them`, { repository });
    const waiting = roles.filter((role) => this.pending.has(role));
    if (waiting.length > 0 && !replace) {
      throw new RotationPendingError(
        `a new ${waiting.join(' and ')} key is already pending (${waiting.map((role) => this.pending.get(role)!.keyid.slice(0, 12)).join(', ')}): ` +
          'sign and push the root that lists it, or rotate again with replace to make another',
        { repository, role: waiting[0] },
      );
    }
    const dir = join(keyDir, PENDING_KEY_FOLDER);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const made: Record<string, PrivateKey> = {};
    for (const role of roles) {
      const path = join(dir, `${role}.pem`);
      if (existsSync(path)) unlinkSync(path); // replace: only reached with a pending key, checked above
      const key = PrivateKey.generate();
      savePrivateKey(path, key);
      this.pending.set(role, key);
      made[role] = key;
    }
    syncFolder(dir);
    return made;
  }

  /**
   * Reads a root against the ring: a role switches when the root lists its pending key; a role is
   * unauthorized when the root lists neither that nor the key in use.
   */
  judgeRoot(roles: RootRoleKeyids): RootJudgement<R> {
    const listed = (role: R, key: PrivateKey | undefined) => key !== undefined && (roles[role]?.keyids.includes(key.keyid) ?? false);
    return {
      switching: this.roles.filter((role) => listed(role, this.pending.get(role))),
      unauthorized: this.roles.filter((role) => !listed(role, this.current.get(role)) && !listed(role, this.pending.get(role))),
    };
  }

  /** Every key the ring holds, in use or pending: none of them may be an offline role's key. */
  allKeys(): PrivateKey[] {
    return [...this.current.values(), ...this.pending.values()];
  }

  /**
   * Switches `roles` to their pending keys in memory; the replaced keys keep signing beside the new
   * ones until the handover ends. The caller signs, stores the root, then persistSwitch; if storing
   * fails it calls the returned undo.
   */
  switchTo(roles: readonly R[], now: Date, handover = true): UndoSwitch {
    const before = roles.map((role) => ({ role, current: this.current.get(role)!, pending: this.pending.get(role)!, retired: this.retired.get(role) }));
    const handoverMs = handover ? (this.options.handoverMs ?? DEFAULT_KEY_HANDOVER_MS) : 0;
    for (const { role, current, pending } of before) {
      this.current.set(role, pending);
      this.pending.delete(role);
      if (handoverMs > 0) this.retired.set(role, { key: current, untilMs: now.getTime() + handoverMs });
      else this.retired.delete(role);
    }
    return () => {
      for (const { role, current, pending, retired } of before) {
        this.current.set(role, current);
        this.pending.set(role, pending);
        if (retired === undefined) this.retired.delete(role);
        else this.retired.set(role, retired);
      }
    };
  }

  /**
   * Moves each switched role's key file from keys/pending/ over keys/<role>.pem, after the root that
   * lists it is stored. A crash before this leaves the key pending beside a root that lists it, and
   * the next start completes the switch (completeSwitchOnStart).
   */
  persistSwitch(roles: readonly R[]): void {
    const { keyDir } = this.options;
    if (keyDir === undefined || roles.length === 0) return;
    for (const role of roles) renameSync(join(keyDir, PENDING_KEY_FOLDER, `${role}.pem`), join(keyDir, `${role}.pem`));
    syncFolder(keyDir);
    syncFolder(join(keyDir, PENDING_KEY_FOLDER));
  }

  /**
   * At start: a pending key that the published root already lists was switched to when that root
   * was stored, and only the file move was lost (a crash). Completes it; returns the roles.
   */
  completeSwitchOnStart(root: RootRoleKeyids, now: Date): R[] {
    const { switching } = this.judgeRoot(root);
    if (switching.length > 0) {
      this.switchTo(switching, now, false);
      this.persistSwitch(switching);
    }
    return switching;
  }

  /** keyids in use and pending, per role, for the online-keys answers. */
  describe(): { current: Record<R, PrivateKey>; pending: Partial<Record<R, PrivateKey>> } {
    return {
      current: Object.fromEntries(this.current) as Record<R, PrivateKey>,
      pending: Object.fromEntries(this.pending) as Partial<Record<R, PrivateKey>>,
    };
  }
}

/**
 * `file` (built and signed by its first key) signed by every key in `keys`: during a handover the
 * snapshot and timestamp carry the new key's signature and the replaced key's.
 */
export function signedByAll(file: SignedRoleFile, keys: readonly PrivateKey[]): SignedRoleFile {
  if (keys.length <= 1) return file;
  const { signed } = JSON.parse(file.bytes.toString('utf8')) as { signed: AnySigned };
  return { ...file, bytes: serializeMetadata(signMetadata(signed, keys)) };
}

/** A rotation request as both servers take it: the roles to rotate (default: every online role) and whether a pending key may be replaced. */
export interface RotationRequest<R extends string> {
  readonly roles: R[];
  readonly replace: boolean;
}

/** Largest rotation request body read. */
export const MAX_ROTATION_REQUEST_BYTES = 4096;

/**
 * Parses the JSON body of a rotation request, `{"roles"?: [...], "replace"?: boolean}`, naming the
 * first wrong field (BadRequestError); no other field is accepted, so a misspelt one is not ignored.
 */
export function parseRotationRequest<R extends string>(body: Uint8Array, allowed: readonly R[]): RotationRequest<R> {
  let json: unknown;
  try {
    json = body.length === 0 ? {} : JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new BadRequestError(`the rotation request is not JSON: ${err.message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BadRequestError('the rotation request must be a JSON object {"roles": [...], "replace": false}');
  const { roles, replace, ...rest } = json as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new BadRequestError(`unknown field ${JSON.stringify(unknown[0])} in the rotation request (fields: roles, replace)`);
  if (replace !== undefined && typeof replace !== 'boolean') throw new BadRequestError('replace must be true or false');
  if (roles !== undefined && (!Array.isArray(roles) || roles.length === 0 || roles.length > allowed.length * 2)) {
    throw new BadRequestError(`roles must be a non-empty list of ${allowed.join(', ')}`);
  }
  const picked = (roles ?? allowed) as unknown[];
  for (const role of picked) {
    if (typeof role !== 'string' || !(allowed as readonly string[]).includes(role)) {
      throw new BadRequestError(`${JSON.stringify(role)} is not an online role of this server: rotate ${allowed.join(', ')}`);
    }
  }
  return { roles: allowed.filter((role) => picked.includes(role)), replace: replace ?? false };
}

/** fsync a folder, so a file created or renamed in it survives a crash. */
function syncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
