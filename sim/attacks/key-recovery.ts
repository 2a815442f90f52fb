// The OEM's side of recovering from a key compromise (docs/uptane-conformance.md 9.2): new online
// key files put on a stopped repository server, and a new root, signed by a threshold of the old
// root keys and of its own, that lists the new keys and so revokes the stolen ones (#check_root
// 2.3).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateKey, type PublicKey, type TufKey } from '../../shared/core/crypto/keys.js';
import { savePrivateKey } from '../../shared/files/key-files.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned, TargetsSigned, TopLevelRole } from '../../shared/core/metadata/types.js';
import type { OnlineKeys } from './attacker.js';
import { FIXTURE_EXPIRES, OPERATOR_TOKEN, UPLOADER_TOKEN, type Repositories } from '../harness/fleet-fixtures.js';

/** Root N+1: `current` with the keys of the roles in `roles` replaced (threshold 1, as the fixtures). */
export function nextRoot(current: RootSigned, roles: Partial<Record<TopLevelRole, readonly PublicKey[]>>): RootSigned {
  const nextRoles = { ...current.roles };
  for (const [role, keys] of Object.entries(roles) as Array<[TopLevelRole, readonly PublicKey[]]>) {
    nextRoles[role] = { keyids: keys.map((k) => k.keyid), threshold: 1 };
  }
  const known = new Map<string, TufKey>(Object.entries(current.keys));
  for (const keys of Object.values(roles)) for (const key of keys) known.set(key.keyid, key.tuf);
  // Only keys some role still names stay listed: a revoked key disappears from root altogether.
  const used = new Set(Object.values(nextRoles).flatMap((r) => r.keyids));
  const keys = Object.fromEntries([...known].filter(([keyid]) => used.has(keyid)));
  return { ...current, version: current.version + 1, expires: FIXTURE_EXPIRES, keys, roles: nextRoles };
}

/** Replaces online key files in a stopped server's key folder (`<dataDir>/keys/<role>.pem`). */
function replaceKeyFiles(dataDir: string, keys: Readonly<Record<string, PrivateKey>>): void {
  for (const [role, key] of Object.entries(keys)) {
    const path = join(dataDir, 'keys', `${role}.pem`);
    rmSync(path, { force: true });
    savePrivateKey(path, key);
  }
}

async function put(url: string, token: string, body: Uint8Array): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, { method: 'PUT', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } });
  return { status: response.status, json: await response.json() };
}

async function expectCreated(response: Promise<{ status: number; json: unknown }>): Promise<void> {
  const { status, json } = await response;
  if (status !== 201) throw new Error(`refused (${status}): ${JSON.stringify(json)}`);
}

// -------------------------------------------------------------------------------------------------
// Director.

export interface DirectorRecovery {
  /** The new offline root key (root v2 is signed by it and by the old one). */
  readonly rootKey: PrivateKey;
  /** The new online keys, now on the Director's disk. */
  readonly online: OnlineKeys;
}

/**
 * docs/uptane-conformance.md 9.2, Director compromise (its online keys stolen, root safe): the
 * operator stops the Director, replaces keys/targets.pem, snapshot.pem and timestamp.pem, starts
 * it, and pushes a root that lists only the new keys and a new root key, signed by the old and the
 * new root keys.
 */
export async function rotateDirectorKeys(repos: Repositories, label: string): Promise<DirectorRecovery> {
  const online: OnlineKeys = {
    targets: PrivateKey.fromLabel(`${label}/director-targets`),
    snapshot: PrivateKey.fromLabel(`${label}/director-snapshot`),
    timestamp: PrivateKey.fromLabel(`${label}/director-timestamp`),
  };
  await repos.restartDirector((dataDir) => replaceKeyFiles(dataDir, { ...online }));
  const rootKey = PrivateKey.fromLabel(`${label}/director-root`);
  const latest = (await repos.director.storage.roots.latestRoot())!;
  const root = nextRoot(parseMetadata(latest.bytes, 'root').signed, {
    root: [rootKey.publicKey],
    targets: [online.targets.publicKey],
    snapshot: [online.snapshot.publicKey],
    timestamp: [online.timestamp.publicKey],
  });
  await expectCreated(put(`${repos.director.url}/api/v1/metadata/root`, OPERATOR_TOKEN, serializeMetadata(signMetadata(root, [repos.directorRootKey, rootKey]))));
  return { rootKey, online };
}

// -------------------------------------------------------------------------------------------------
// Image repository.

/** The Image repository's latest root, as it serves it. */
export async function imageRootNow(repos: Repositories): Promise<RootSigned> {
  const response = await fetch(`${repos.image.url}/metadata/root.json`);
  return parseMetadata(Buffer.from(await response.arrayBuffer()), 'root').signed;
}

async function putImageRoot(repos: Repositories, root: RootSigned): Promise<void> {
  await expectCreated(put(`${repos.image.url}/api/v1/metadata/root`, UPLOADER_TOKEN, serializeMetadata(signMetadata(root, [repos.imageRootKey]))));
}

/**
 * docs/uptane-conformance.md 9.2, Image repository timestamp and snapshot keys stolen. The server
 * signs only with keys root authorizes and refuses a root that drops the key it holds, so the
 * rotation takes two roots: N+1 lists the old and the new keys; the new key files go in while the
 * server is stopped; N+2 lists only the new keys, and the server re-signs snapshot and timestamp
 * with them. Vehicles walk both.
 */
export async function rotateImageOnlineKeys(repos: Repositories, label: string): Promise<Pick<OnlineKeys, 'timestamp' | 'snapshot'>> {
  const old = repos.image.repository.onlineKeys();
  const next = { timestamp: PrivateKey.fromLabel(`${label}/image-timestamp`), snapshot: PrivateKey.fromLabel(`${label}/image-snapshot`) };
  const overlap = nextRoot(await imageRootNow(repos), {
    timestamp: [old.timestamp, next.timestamp.publicKey],
    snapshot: [old.snapshot, next.snapshot.publicKey],
  });
  await putImageRoot(repos, overlap);
  await repos.restartImage((dataDir) => replaceKeyFiles(dataDir, next));
  await putImageRoot(repos, nextRoot(overlap, { timestamp: [next.timestamp.publicKey], snapshot: [next.snapshot.publicKey] }));
  return next;
}

/**
 * docs/uptane-conformance.md 9.2, Image repository targets key stolen: root N+1 names a new
 * (offline) targets key, and the targets metadata is re-signed with it at the next version, listing
 * what it listed before.
 */
export async function rotateImageTargetsKey(repos: Repositories, label: string): Promise<PrivateKey> {
  const key = PrivateKey.fromLabel(`${label}/image-targets`);
  await putImageRoot(repos, nextRoot(await imageRootNow(repos), { targets: [key.publicKey] }));
  const current = parseMetadata(Buffer.from(await (await fetch(`${repos.image.url}/metadata/targets.json`)).arrayBuffer()), 'targets').signed;
  const targets: TargetsSigned = { ...current, version: current.version + 1 };
  await expectCreated(put(`${repos.image.url}/api/v1/metadata/targets/targets`, UPLOADER_TOKEN, serializeMetadata(signMetadata(targets, [key]))));
  return key;
}
