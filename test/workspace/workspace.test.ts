// The release engineer's offline workspace, operation by operation, on real files in a temp folder
// with real signatures and a fixed clock. Publishing is simulated by recording the pushed bytes (the
// server side is covered by e2e.test.ts); every "ready" verdict is cross-checked with the verifier
// clients run (TrustedMetadataSet).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import {
  IllegalThresholdError,
  InvalidExpiryError,
  SigningRequestError,
  UnauthorizedSignerError,
  UnauthorizedTargetError,
  UnmetThresholdError,
  UnsafePathError,
  WorkspaceError,
} from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { parseMetadata } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata, verifyThreshold } from '../../shared/core/metadata/sign.js';
import { TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import { DAY, describeExpiry, parseDuration, resolveExpiry } from '../../shared/workspace/duration.js';
import {
  describeSigned,
  readSigningRequest,
  signSigningRequest,
  type DetachedSignature,
  type SigningRequest,
} from '../../shared/workspace/signing-request.js';
import type { RoleStatus } from '../../shared/workspace/status.js';
import { Workspace } from '../../shared/workspace/workspace.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const root1 = PrivateKey.fromLabel('ws-root-1');
const root2 = PrivateKey.fromLabel('ws-root-2');
const root3 = PrivateKey.fromLabel('ws-root-3');
const targetsKeys = [1, 2, 3].map((i) => PrivateKey.fromLabel(`ws-targets-${i}`));
const [t1, t2, t3] = targetsKeys as [PrivateKey, PrivateKey, PrivateKey];
const timestampKey = PrivateKey.fromLabel('ws-online-timestamp');
const snapshotKey = PrivateKey.fromLabel('ws-online-snapshot');
const supplierKey = PrivateKey.fromLabel('ws-supplier-acme');
const stranger = PrivateKey.fromLabel('ws-stranger');

let dir: string;
let clock: FixedClock;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-workspace-'));
  clock = new FixedClock(NOW);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function newWorkspace(name = 'ws'): Workspace {
  return Workspace.init(join(dir, name), { repository: 'image' }, clock);
}

function createRoot(ws: Workspace, targetsThreshold = 2): void {
  ws.createRoot({
    keys: { root: [root1.publicKey], targets: targetsKeys.map((k) => k.publicKey), timestamp: [timestampKey.publicKey], snapshot: [snapshotKey.publicKey] },
    thresholds: { root: 1, targets: targetsThreshold, timestamp: 1, snapshot: 1 },
  });
}

/** What a successful push does to the workspace, without the server. */
function publish(ws: Workspace, role: string): Buffer {
  const bytes = ws.bytesToPush(role);
  ws.recordPublished(role, bytes);
  return bytes;
}

/** A workspace with root v1 published (1 root key, 2-of-3 targets). */
function publishedRootWorkspace(): Workspace {
  const ws = newWorkspace();
  createRoot(ws);
  ws.sign('root', root1);
  publish(ws, 'root');
  return ws;
}

function imageFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const ECM = { hardwareIds: ['ecm-x1'], releaseCounter: 2 };

function roleStatus(ws: Workspace, role: string): RoleStatus {
  const found = ws.status().roles.find((r) => r.role === role);
  if (found === undefined) throw new Error(`status lists no ${role}`);
  return found;
}

describe('durations and expiry', () => {
  it('reads human durations', () => {
    expect(parseDuration('90d')).toBe(90 * DAY);
    expect(parseDuration('12h')).toBe(12 * 60 * 60 * 1000);
    expect(parseDuration('1y')).toBe(365 * DAY);
    expect(parseDuration('2w')).toBe(14 * DAY);
    expect(parseDuration('1y30d')).toBe(395 * DAY);
    expect(parseDuration('30m')).toBe(30 * 60 * 1000);
  });

  it.each(['', '90', 'd', '1.5d', '-1d', '0d', '90 days', '1M', 'soon'])('refuses %j with invalid_expiry', (text) => {
    expect(() => parseDuration(text)).toThrow(InvalidExpiryError);
    try {
      parseDuration(text);
    } catch (err) {
      expect((err as InvalidExpiryError).code).toBe('invalid_expiry');
    }
  });

  it('resolves durations and dates against the clock, in whole seconds, never in the past', () => {
    const now = new Date('2026-06-01T10:20:30.456Z');
    expect(resolveExpiry('90d', now).toISOString()).toBe('2026-08-30T10:20:30.000Z');
    expect(resolveExpiry('2027-01-31', now).toISOString()).toBe('2027-01-31T00:00:00.000Z');
    expect(resolveExpiry('2027-01-31T12:00:00Z', now).toISOString()).toBe('2027-01-31T12:00:00.000Z');
    expect(() => resolveExpiry('2026-05-31', now)).toThrow(InvalidExpiryError);
    expect(() => resolveExpiry('next tuesday', now)).toThrow(InvalidExpiryError);
    expect(describeExpiry('2026-06-11T10:20:30Z', now)).toBe('in 10 days');
    expect(describeExpiry('2026-05-31T10:20:30Z', now)).toBe('24 hours ago');
  });
});

describe('workspace folders', () => {
  it('refuses to initialize twice and to open a folder that is not a workspace', () => {
    newWorkspace();
    expect(() => newWorkspace()).toThrow(WorkspaceError);
    expect(() => Workspace.open(join(dir, 'nothing-here'), clock)).toThrow(/not a workspace/);
  });

  it('starts from a trusted root only if it carries its own threshold', () => {
    const ws = publishedRootWorkspace();
    const rootBytes = ws.files.published.load('root')!;
    const second = Workspace.init(join(dir, 'second'), { repository: 'image', trustedRoot: rootBytes }, clock);
    expect(second.files.loadPublishedRoot()!.signed.version).toBe(1);
    const unsigned = serializeMetadata({ signed: parseMetadata(rootBytes, 'root').signed, signatures: [] });
    expect(() => Workspace.init(join(dir, 'third'), { repository: 'image', trustedRoot: unsigned }, clock)).toThrow(UnmetThresholdError);
  });
});

describe('initial root', () => {
  it('stages root v1 that clients accept once a threshold of its root keys signed', () => {
    const ws = newWorkspace();
    createRoot(ws);
    const before = roleStatus(ws, 'root');
    expect(before.staged).toMatchObject({ version: 1, ready: false });
    expect(before.staged!.signatures).toEqual([expect.objectContaining({ threshold: 1, signed: [], missing: [root1.keyid], met: false })]);
    expect(() => ws.bytesToPush('root')).toThrow(UnmetThresholdError);

    const signed = ws.sign('root', root1);
    expect(signed.alreadySigned).toBe(false);
    expect(roleStatus(ws, 'root').staged).toMatchObject({ ready: true, problems: [] });
    const bytes = ws.bytesToPush('root');
    const set = new TrustedMetadataSet(bytes, NOW, { repository: 'image', backend: nodeBackend });
    expect(set.root.signed).toMatchObject({ version: 1, consistent_snapshot: true, expires: '2027-06-01T00:00:00Z' });
    expect(set.root.signed.roles.targets).toEqual({ keyids: targetsKeys.map((k) => k.keyid), threshold: 2 });
    expect(set.root.signed.roles.timestamp.keyids).toEqual([timestampKey.keyid]);
  });

  it('refuses impossible thresholds, a second root, and keys that may not sign', () => {
    const ws = newWorkspace();
    expect(() =>
      ws.createRoot({
        keys: { root: [root1.publicKey], targets: [t1.publicKey], timestamp: [timestampKey.publicKey], snapshot: [snapshotKey.publicKey] },
        thresholds: { root: 1, targets: 2, timestamp: 1, snapshot: 1 },
      }),
    ).toThrow(IllegalThresholdError);
    createRoot(ws);
    expect(() => createRoot(ws)).toThrow(/already has a root/);
    expect(() => ws.sign('root', t1)).toThrow(UnauthorizedSignerError);
    expect(() => ws.sign('targets', t1)).toThrow(/nothing is staged for targets/);
  });
});

describe('targets signed 2-of-3, in turn', () => {
  it('collects signatures from engineers one at a time, status naming who is still missing', async () => {
    const ws = publishedRootWorkspace();
    const added = await ws.addImage(imageFile('ecm.bin', 'engine ecu v2'), { name: 'engine/ecm-2.0.bin', fields: ECM });
    expect(added.target).toEqual({
      length: 13,
      hashes: digestBytes(Buffer.from('engine ecu v2')),
      custom: { hardwareIds: ['ecm-x1'], releaseCounter: 2 },
    });
    expect(added.signed.version).toBe(1);

    ws.sign('targets', t1);
    const afterOne = roleStatus(ws, 'targets').staged!;
    expect(afterOne.ready).toBe(false);
    expect(afterOne.signatures).toEqual([
      expect.objectContaining({ threshold: 2, signed: [t1.keyid], missing: [t2.keyid, t3.keyid], met: false }),
    ]);
    expect(afterOne.problems.map((p) => p.code)).toEqual(['unmet_threshold']);
    expect(() => ws.bytesToPush('targets')).toThrow(UnmetThresholdError);

    // A second engineer opens the same workspace folder (a shared drive, a USB stick) and signs.
    const colleague = Workspace.open(ws.dir, clock);
    expect(colleague.sign('targets', t1).alreadySigned).toBe(true);
    expect(() => colleague.sign('targets', stranger)).toThrow(UnauthorizedSignerError);
    const second = colleague.sign('targets', t3);
    expect(second.progress).toEqual([expect.objectContaining({ signed: [t1.keyid, t3.keyid], met: true })]);
    expect(ws.status().readyToPush).toBe(true);

    const bytes = ws.bytesToPush('targets');
    const metadata = parseMetadata(bytes, 'targets');
    const root = ws.files.loadPublishedRoot()!.signed;
    expect(() => verifyThreshold(metadata, { keys: root.keys, ...root.roles.targets }, nodeBackend, {})).not.toThrow();
  });

  it('bumps the version once per change set, relative to the published version', async () => {
    const ws = publishedRootWorkspace();
    expect((await ws.addImage(imageFile('a.bin', 'a'), { fields: ECM })).signed.version).toBe(1);
    expect((await ws.addImage(imageFile('b.bin', 'b'), { fields: ECM })).signed.version).toBe(1);
    ws.sign('targets', t1);
    ws.sign('targets', t2);
    publish(ws, 'targets');
    expect(ws.stagedRoles()).toEqual([]);
    const next = ws.removeImage('a.bin');
    expect(next).toMatchObject({ started: true, publishedVersion: 1 });
    expect(next.signed.version).toBe(2);
    expect(Object.keys(next.signed.targets)).toEqual(['b.bin']);
    expect(ws.setExpires('targets', '30d').signed).toMatchObject({ version: 2, expires: '2026-07-01T00:00:00Z' });
  });

  it('drops signatures when the signed part changes, with their keyids, and keeps them when it does not', async () => {
    const ws = publishedRootWorkspace();
    const path = imageFile('ecm.bin', 'engine ecu v2');
    await ws.addImage(path, { name: 'engine/ecm.bin', fields: ECM });
    ws.sign('targets', t1);
    ws.sign('targets', t2);

    const same = await ws.addImage(path, { name: 'engine/ecm.bin', fields: ECM });
    expect(same).toMatchObject({ changed: false, droppedSignatures: [] });
    expect(ws.files.loadStaged('targets')!.signatures).toHaveLength(2);

    const changed = await ws.addImage(path, { name: 'engine/ecm.bin', fields: { ...ECM, releaseCounter: 3 } });
    expect(changed).toMatchObject({ changed: true, replaced: true, droppedSignatures: [t1.keyid, t2.keyid] });
    expect(ws.files.loadStaged('targets')!.signatures).toEqual([]);
    expect(roleStatus(ws, 'targets').staged!.signatures[0]!.signed).toEqual([]);
  });

  it('flags a signature that no longer covers a hand-edited staged file', async () => {
    const ws = publishedRootWorkspace();
    await ws.addImage(imageFile('ecm.bin', 'x'), { fields: ECM });
    ws.sign('targets', t1);
    const file = join(ws.dir, 'staged', 'targets.json');
    const envelope = JSON.parse(readFileSync(file, 'utf8')) as { signed: { expires: string } };
    envelope.signed.expires = '2026-12-01T00:00:00Z';
    writeFileSync(file, JSON.stringify(envelope));
    expect(roleStatus(ws, 'targets').staged!.ignoredSignatures).toEqual([{ keyid: t1.keyid, reason: 'signature does not verify over the staged bytes' }]);
  });

  it('refuses unsafe names, missing hardware ids and expired change sets', async () => {
    const ws = publishedRootWorkspace();
    const path = imageFile('ecm.bin', 'x');
    await expect(ws.addImage(path, { name: '../etc/passwd', fields: ECM })).rejects.toThrow(UnsafePathError);
    await expect(ws.addImage(path, { fields: { hardwareIds: [], releaseCounter: 1 } })).rejects.toThrow(/hardware id/);
    await expect(ws.addImage(path, { fields: { ...ECM, custom: { releaseCounter: 9 } } })).rejects.toThrow(/own option/);
    await ws.addImage(path, { fields: ECM });
    ws.sign('targets', t1);
    ws.sign('targets', t2);
    clock.advance(91 * DAY); // past the default 90-day targets lifetime
    expect(ws.readinessProblems('targets').map((p) => p.code)).toEqual(['expired']);
  });
});

describe('air-gapped signing', () => {
  async function stagedTargets(): Promise<Workspace> {
    const ws = publishedRootWorkspace();
    await ws.addImage(imageFile('ecm.bin', 'engine ecu v2'), { name: 'engine/ecm.bin', fields: ECM });
    ws.sign('targets', t1);
    return ws;
  }

  /** The request as it travels: a file, read on another machine. */
  function carry(request: SigningRequest): string {
    const path = join(dir, `request-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(request, null, 2));
    return readFileSync(path, 'utf8');
  }

  it('round-trips: export, sign with only the key, import', async () => {
    const ws = await stagedTargets();
    const request = ws.exportSigningRequest('targets');
    expect(request).toMatchObject({ repository: 'image', role: 'targets', version: 1, keyids: [t2.keyid, t3.keyid] });
    expect(request.sha256).toBe(roleStatus(ws, 'targets').staged!.sha256);

    const verified = readSigningRequest(carry(request));
    expect(describeSigned(verified.signed).join('\n')).toMatch(/engine\/ecm\.bin {2}13 bytes .* hardwareIds ecm-x1 {2}releaseCounter 2/);
    const signature = signSigningRequest(verified, t3);
    const result = ws.importSignature(JSON.stringify(signature));
    expect(result.progress).toEqual([expect.objectContaining({ signed: [t1.keyid, t3.keyid], met: true })]);
    expect(ws.readinessProblems('targets')).toEqual([]);
  });

  it('refuses a request whose bytes were altered in transit', async () => {
    const ws = await stagedTargets();
    const request = ws.exportSigningRequest('targets');
    const signed = JSON.parse(Buffer.from(request.signed, 'base64').toString('utf8')) as { targets: Record<string, { length: number }> };
    signed.targets['engine/ecm.bin']!.length = 14;
    const { canonicalBytes } = await import('../../shared/core/canonical.js');
    const altered = { ...request, signed: canonicalBytes(signed).toString('base64') };
    expect(() => readSigningRequest(carry(altered))).toThrow(SigningRequestError);
    expect(() => readSigningRequest(carry(altered))).toThrow(/altered or corrupted/);
    // An attacker who also fixes the hash gets a signature, but over bytes the workspace never staged.
    const { createHash } = await import('node:crypto');
    const rehashed = { ...altered, sha256: createHash('sha256').update(Buffer.from(altered.signed, 'base64')).digest('hex') };
    const signature = signSigningRequest(readSigningRequest(carry(rehashed)), t2);
    expect(() => ws.importSignature(JSON.stringify(signature))).toThrow(SigningRequestError);
    // ... and a signature whose hash field is made to match still does not verify.
    const forged: DetachedSignature = { ...signature, sha256: request.sha256 };
    expect(() => ws.importSignature(JSON.stringify(forged))).toThrow(/does not verify/);
    expect(ws.files.loadStaged('targets')!.signatures.map((s) => s.keyid)).toEqual([t1.keyid]);
  });

  it('refuses a signature by a key the role does not authorize, and a key the request does not ask for', async () => {
    const ws = await stagedTargets();
    const request = ws.exportSigningRequest('targets');
    expect(() => signSigningRequest(readSigningRequest(carry(request)), stranger)).toThrow(UnauthorizedSignerError);
    const widened = { ...request, keyids: [...request.keyids, stranger.keyid] };
    const signature = signSigningRequest(readSigningRequest(carry(widened)), stranger);
    expect(() => ws.importSignature(JSON.stringify(signature))).toThrow(UnauthorizedSignerError);
    expect(ws.files.loadStaged('targets')!.signatures).toHaveLength(1);
  });

  it('refuses a signature made before the staged role changed', async () => {
    const ws = await stagedTargets();
    const signature = signSigningRequest(readSigningRequest(carry(ws.exportSigningRequest('targets'))), t2);
    await ws.addImage(imageFile('abs.bin', 'brake'), { name: 'brake/abs.bin', fields: { hardwareIds: ['abs-z'], releaseCounter: 7 } });
    expect(() => ws.importSignature(JSON.stringify(signature))).toThrow(/changed since the request was exported/);
  });
});

describe('root rotation', () => {
  it('needs the old root threshold and the new one, and status shows both', () => {
    const ws = publishedRootWorkspace();
    const v1 = ws.files.published.load('root')!;
    ws.addRootKey('root', root2.publicKey);
    ws.addRootKey('root', root3.publicKey);
    ws.setRootThreshold('root', 2);
    const removed = ws.removeRootKey('root', root1.keyid);
    expect(removed.signed.version).toBe(2);
    expect(removed.signed.keys[root1.keyid]).toBeUndefined();

    const authorities = () => roleStatus(ws, 'root').staged!.signatures;
    expect(authorities().map((a) => [a.label, a.threshold, a.missing])).toEqual([
      ['root keys of published root v1 (trusted by clients now)', 1, [root1.keyid]],
      ['root keys of staged root v2', 2, [root2.keyid, root3.keyid]],
    ]);
    ws.sign('root', root2);
    ws.sign('root', root3);
    // The new threshold alone: clients would refuse it (#check_root step 2.3).
    expect(authorities().map((a) => a.met)).toEqual([false, true]);
    expect(ws.readinessProblems('root').map((p) => p.code)).toEqual(['unmet_threshold']);
    ws.sign('root', root1);
    expect(authorities().map((a) => a.met)).toEqual([true, true]);
    const v2 = ws.bytesToPush('root');
    const client = new TrustedMetadataSet(v1, NOW, { repository: 'image', backend: nodeBackend });
    expect(client.updateRoot(v2).signed.version).toBe(2);
  });

  it('refuses the old threshold alone', () => {
    const ws = publishedRootWorkspace();
    ws.addRootKey('root', root2.publicKey);
    ws.removeRootKey('root', root1.keyid);
    ws.sign('root', root1);
    const [problem] = ws.readinessProblems('root');
    expect(problem).toBeInstanceOf(UnmetThresholdError);
    expect(problem!.message).toMatch(/root keys of staged root v2/);
  });

  it('runs the client check before a push: a root that skips a version is refused', () => {
    const ws = publishedRootWorkspace();
    ws.addRootKey('root', root2.publicKey);
    const file = join(ws.dir, 'staged', 'root.json');
    const envelope = JSON.parse(readFileSync(file, 'utf8')) as { signed: { version: number } };
    envelope.signed.version = 3;
    writeFileSync(file, JSON.stringify(envelope));
    ws.sign('root', root1);
    ws.sign('root', root2);
    expect(ws.readinessProblems('root').map((p) => p.code)).toEqual(['version_mismatch']);
    expect(() => ws.bytesToPush('root')).toThrow(/skips ahead/);
  });

  it('checks targets against the staged root while root changes', async () => {
    const ws = publishedRootWorkspace();
    const t4 = PrivateKey.fromLabel('ws-targets-4');
    ws.addRootKey('targets', t4.publicKey);
    ws.removeRootKey('targets', t1.keyid);
    await ws.addImage(imageFile('a.bin', 'a'), { fields: ECM });
    expect(() => ws.sign('targets', t1)).toThrow(UnauthorizedSignerError);
    ws.sign('targets', t4);
    ws.sign('targets', t2);
    expect(ws.readinessProblems('targets')).toEqual([]);
    expect(roleStatus(ws, 'targets').staged!.signatures[0]!.label).toBe('targets keys in staged root v2');
  });

  it('refuses removals that leave a threshold unmeetable, naming the fix', () => {
    const ws = publishedRootWorkspace();
    ws.removeRootKey('targets', t3.keyid);
    expect(() => ws.removeRootKey('targets', t2.keyid)).toThrow(/lower the threshold first \(`uptane image root threshold --role targets 1`\)/);
    expect(() => ws.removeRootKey('root', root1.keyid)).toThrow(/last root key/);
  });
});

describe('delegations', () => {
  it('lets a supplier key sign only images inside its paths and hardware ids', async () => {
    const ws = publishedRootWorkspace();
    ws.delegate({ name: 'acme', keys: [supplierKey.publicKey], threshold: 1, paths: ['acme/*'], hardwareIds: ['radar-a'], terminating: true });
    const delegation = ws.files.loadStagedTargets('targets')!.signed.delegations!;
    expect(delegation.roles).toEqual([
      { name: 'acme', keyids: [supplierKey.keyid], threshold: 1, terminating: true, paths: ['acme/*'], hardwareIds: ['radar-a'] },
    ]);
    const radar = imageFile('radar.bin', 'radar 3');
    await expect(ws.addImage(radar, { role: 'acme', name: 'engine/radar.bin', fields: { hardwareIds: ['radar-a'], releaseCounter: 3 } })).rejects.toThrow(UnauthorizedTargetError);
    await expect(ws.addImage(radar, { role: 'acme', name: 'acme/radar.bin', fields: { hardwareIds: ['radar-b'], releaseCounter: 3 } })).rejects.toThrow(/only for hardware ids radar-a/);
    const staged = await ws.addImage(radar, { role: 'acme', name: 'acme/radar.bin', fields: { hardwareIds: ['radar-a'], releaseCounter: 3 } });
    expect(staged.signed.version).toBe(1);
    expect(() => ws.sign('acme', t1)).toThrow(UnauthorizedSignerError);
    ws.sign('acme', supplierKey);
    expect(ws.readinessProblems('acme')).toEqual([]);
    await expect(ws.addImage(radar, { role: 'bosch', fields: ECM })).rejects.toThrow(/does not delegate to bosch/);
  });

  it('gives a supplier workspace its authority from the published targets alone', async () => {
    const oem = publishedRootWorkspace();
    oem.delegate({ name: 'acme', keys: [supplierKey.publicKey], threshold: 1, paths: ['acme/*'], terminating: false });
    oem.sign('targets', t1);
    oem.sign('targets', t2);
    publish(oem, 'targets');

    const supplier = Workspace.init(join(dir, 'acme'), { repository: 'image', trustedRoot: oem.files.published.load('root')! }, clock);
    await expect(supplier.addImage(imageFile('r.bin', 'r'), { role: 'acme', name: 'acme/r.bin', fields: ECM })).rejects.toThrow(/pull/);
    // What `pull` stores, put in place by hand (pull itself runs against a server in e2e.test.ts).
    supplier.files.published.persist('targets', oem.files.published.load('targets')!);
    await supplier.addImage(imageFile('r.bin', 'r'), { role: 'acme', name: 'acme/r.bin', fields: ECM });
    supplier.sign('acme', supplierKey);
    expect(roleStatus(supplier, 'acme').staged!.signatures[0]!.label).toBe('delegation to acme in published targets v1');
    expect(supplier.status().readyToPush).toBe(true);
  });

  it('removes a delegation and its keys', () => {
    const ws = publishedRootWorkspace();
    ws.delegate({ name: 'acme', keys: [supplierKey.publicKey], threshold: 1, paths: ['acme/*'], terminating: false });
    expect(ws.undelegate('acme').signed.delegations).toBeUndefined();
    expect(() => ws.undelegate('acme')).toThrow(/does not delegate to acme/);
  });
});

describe('status', () => {
  it('reports published expiry and warns before it', () => {
    const ws = publishedRootWorkspace();
    expect(roleStatus(ws, 'root')).toEqual({
      role: 'root',
      published: { version: 1, expires: '2027-06-01T00:00:00Z', expiresIn: 'in 365 days', expired: false, expiresSoon: false },
    });
    clock.advance(360 * DAY);
    expect(roleStatus(ws, 'root')).toMatchObject({ published: { expiresSoon: true }, next: 'uptane image root expires 365d' });
    expect(ws.formatStatus().join('\n')).toMatch(/root: published v1, expires 2027-06-01T00:00:00Z \(in 5 days\) expiring soon; nothing staged/);
  });

  it('signs nothing it cannot parse back: the staged file is strict metadata', async () => {
    const ws = publishedRootWorkspace();
    await ws.addImage(imageFile('a.bin', 'a'), { fields: ECM });
    const staged = ws.files.loadStaged('targets')!;
    expect(serializeMetadata(signMetadata(staged.signed, [t1]))).toBeInstanceOf(Buffer);
    writeFileSync(join(ws.dir, 'staged', 'targets.json'), '{"signed": {"_type": "targets"}, "signatures": []}');
    // Status reports the damaged file (and keeps going) instead of failing on it.
    expect(ws.status().roles.find((r) => r.role === 'targets')!.damaged!.message).toMatch(/signed\.spec_version/);
    expect(() => ws.diff('targets')).toThrow(/signed\.spec_version/);
  });
});
