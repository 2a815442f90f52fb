// The Director's root through the offline signing workflow: a workspace (shared/workspace) stages and
// collects signatures exactly as for the Image repository; this module does the Director's side of
// it: fetch its online keys (targets, snapshot and timestamp), push the staged root after every check
// made locally, and pull the published root chain (the only metadata the Director serves without a
// vehicle's key) as a verifying client.
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { PublicKey } from '../shared/core/crypto/keys.js';
import { FetchError, RemoteNotFoundError, UnsupportedKeyError, WorkspaceError } from '../shared/core/errors.js';
import { fetchBytes, type Fetcher } from '../shared/client/fetcher.js';
import type { RootSigned } from '../shared/core/metadata/types.js';
import { TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';
import { DEFAULT_UPDATER_CONFIG } from '../shared/client/updater.js';
import type { Workspace } from '../shared/workspace/workspace.js';
import { isRecord, type OperatorClient } from './operator-client.js';

export const REPOSITORY = 'director';

/** The roles the Director signs online, per vehicle; root alone is offline. */
export const DIRECTOR_ONLINE_ROLES = ['targets', 'snapshot', 'timestamp'] as const;
export type DirectorOnlineRole = (typeof DIRECTOR_ONLINE_ROLES)[number];
export type DirectorOnlineKeys = Readonly<Record<DirectorOnlineRole, PublicKey>> & {
  /** Keys a rotation made that wait for a root listing them (docs/decisions.md "Online key rotation"). */
  readonly pending?: Readonly<Partial<Record<DirectorOnlineRole, PublicKey>>>;
};

/** Root versions one pull walks at most; a longer chain continues at the next pull. */
const MAX_ROOT_WALK = 1024;

/** GET /api/v1/online-keys, each key checked to be the one its keyid names. */
export async function fetchOnlineKeys(client: OperatorClient): Promise<DirectorOnlineKeys> {
  // Typed OnlineKeys, read as unknown: each key is checked before it is trusted.
  const json: Readonly<Record<string, unknown>> = await client.send('GET /online-keys', 'show its online keys');
  const read = (role: DirectorOnlineRole, from: Readonly<Record<string, unknown>> = json): PublicKey => {
    const entry = from[role];
    const key = isRecord(entry) ? entry.key : undefined;
    const keyval = isRecord(key) ? key.keyval : undefined;
    if (!isRecord(entry) || !isRecord(key) || typeof key.keytype !== 'string' || typeof key.scheme !== 'string' || !isRecord(keyval) || typeof keyval.public !== 'string') {
      throw new FetchError(`the Director's online ${role} key is not a TUF key object; is --url a Director?`);
    }
    const publicKey = PublicKey.fromTuf({ keytype: key.keytype, scheme: key.scheme, keyval: { public: keyval.public } });
    if (entry.keyid !== publicKey.keyid) throw new UnsupportedKeyError(`the Director's ${role} keyid ${String(entry.keyid)} is not the digest of its key`, { repository: REPOSITORY, role });
    return publicKey;
  };
  const pendingJson = isRecord(json.pending) ? json.pending : {};
  const pending: Partial<Record<DirectorOnlineRole, PublicKey>> = {};
  for (const role of DIRECTOR_ONLINE_ROLES) if (pendingJson[role] !== undefined) pending[role] = read(role, pendingJson);
  return { targets: read('targets'), snapshot: read('snapshot'), timestamp: read('timestamp'), pending };
}

/**
 * Roles of `root` that list neither the Director's online key for them nor its pending one (the
 * Director would refuse it; a root listing the pending key switches the Director to it).
 */
export function missingOnlineKeys(root: RootSigned, online: DirectorOnlineKeys): DirectorOnlineRole[] {
  const lists = (role: DirectorOnlineRole, key: PublicKey | undefined) => key !== undefined && root.roles[role].keyids.includes(key.keyid);
  return DIRECTOR_ONLINE_ROLES.filter((role) => !lists(role, online[role]) && !lists(role, online.pending?.[role]));
}

export interface PushedRoot {
  readonly version: number;
}

/**
 * Publishes the workspace's staged root: thresholds (old and new root keys), version, expiry and the
 * client's own chain check are made locally (Workspace.bytesToPush), then the online keys it must
 * list, then one PUT. Only an accepted root becomes the workspace's published root.
 */
export async function pushStagedRoot(ws: Workspace, client: OperatorClient): Promise<PushedRoot> {
  if (ws.repository !== REPOSITORY) {
    throw new WorkspaceError(`${ws.dir} is a workspace of the ${ws.repository} repository; push it with \`uptane ${ws.repository} push\``, { repository: ws.repository });
  }
  const staged = ws.stagedRoles();
  if (!staged.includes('root')) {
    throw new WorkspaceError(`nothing is staged for root; \`${ws.hint('status')}\` shows the workspace`, { repository: REPOSITORY, role: 'root' });
  }
  const others = staged.filter((role) => role !== 'root');
  if (others.length > 0) {
    // The Director signs its targets online, per vehicle: nothing but root belongs in its workspace.
    throw new WorkspaceError(`only root is pushed to the Director, but ${others.join(', ')} is staged too: \`${ws.hint(`discard --role ${others[0]}`)}\``, { repository: REPOSITORY });
  }
  const bytes = ws.bytesToPush('root');
  const root = ws.files.loadStagedRoot()!.signed;
  const missing = missingOnlineKeys(root, await fetchOnlineKeys(client));
  if (missing.length > 0) {
    throw new WorkspaceError(
      `staged root v${root.version} does not list the Director's online ${missing.join(', ')} key(s), so the Director would refuse it: ` +
        missing.map((role) => `\`${ws.hint(`root add-key --role ${role} --from-server`)}\``).join(', ') +
        ' (then remove the old key and sign again)',
      { repository: REPOSITORY, role: 'root' },
    );
  }
  const answer = await client.send('PUT /metadata/root', `publish root v${root.version}`, { body: new Uint8Array(bytes) });
  ws.recordPublished('root', bytes);
  return { version: answer.version };
}

export interface PulledRoot {
  readonly from: number;
  readonly to: number;
  /** True when a staged root is no longer above the published version. */
  readonly stagedOvertaken: boolean;
}

/**
 * Walks the Director's public root chain (`/metadata/N.root.json`) from the root the workspace
 * trusts, checking each version exactly as a vehicle does (#check_root: old and new thresholds,
 * version N+1), and stores each one that passed in `published/`.
 */
export async function pullRootChain(ws: Workspace, serverUrl: string, fetcher: Fetcher): Promise<PulledRoot> {
  const trusted = ws.files.published.load('root');
  if (trusted === undefined) {
    throw new WorkspaceError(
      `this workspace trusts no Director root yet, so nothing can be pulled securely: start it from a root you trust (\`${ws.hint('init --trusted-root FILE')}\`), or create and push one (\`${ws.hint('root create')}\`)`,
      { repository: REPOSITORY },
    );
  }
  const set = new TrustedMetadataSet(trusted, ws.now, { repository: REPOSITORY, backend: nodeBackend });
  const from = set.root.signed.version;
  for (let i = 0; i < MAX_ROOT_WALK; i++) {
    let bytes: Buffer;
    try {
      bytes = await fetchBytes(fetcher, `${serverUrl}/metadata/${set.root.signed.version + 1}.root.json`, { maxBytes: DEFAULT_UPDATER_CONFIG.maxRootBytes });
    } catch (err) {
      if (err instanceof RemoteNotFoundError) break; // #check_root 2.2: no N+1, N is the latest
      throw err;
    }
    set.updateRoot(bytes);
    ws.files.published.persist('root', bytes);
  }
  const to = set.root.signed.version;
  const staged = ws.files.loadStagedRoot();
  return { from, to, stagedOvertaken: staged !== undefined && staged.signed.version <= to };
}
