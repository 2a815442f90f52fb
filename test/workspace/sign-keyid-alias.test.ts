// Keyids are names (docs/decisions.md Cryptography, "Keyids"): a root written by another tool may list a key under
// another keyid than the one this project computes for it. Signing must find the listed keyid whose
// key material is the signer's and file the signature under it, or the signature would count for
// nobody. Runs without a token: a key file and a token key reach signStaged the same way (Signer).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey, PublicKey } from '../../shared/core/crypto/keys.js';
import type { Signer } from '../../shared/core/crypto/signer.js';
import { UnauthorizedSignerError } from '../../shared/core/errors.js';
import { readSigningRequest, signSigningRequest } from '../../shared/workspace/signing-request.js';
import { Workspace } from '../../shared/workspace/workspace.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const rootKey = PrivateKey.generate('ecdsa-p256');
// The same P-256 key under the keytype python-tuf also reads ("ecdsa-sha2-nistp256"): another keyid.
const aliasKey = PublicKey.fromTuf({ keytype: 'ecdsa-sha2-nistp256', scheme: 'ecdsa-sha2-nistp256', keyval: { public: rootKey.publicKey.tuf.keyval.public } });
const targetsKey = PrivateKey.fromLabel('alias-targets');
const online = PrivateKey.fromLabel('alias-online');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-alias-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function workspaceListingAlias(): Workspace {
  const ws = Workspace.init(join(dir, 'ws'), { repository: 'image' }, new FixedClock(NOW));
  ws.createRoot({
    keys: { root: [aliasKey], targets: [targetsKey.publicKey], timestamp: [online.publicKey], snapshot: [online.publicKey] },
    thresholds: { root: 1, targets: 1, timestamp: 1, snapshot: 1 },
  });
  return ws;
}

test('the keys differ in keyid and agree in material', () => {
  expect(aliasKey.keyid).not.toBe(rootKey.keyid);
  expect(aliasKey.sameKeyAs(rootKey.publicKey)).toBe(true);
});

test('sign files the signature under the keyid the root lists for the signer\'s key material', () => {
  const ws = workspaceListingAlias();
  const result = ws.sign('root', rootKey);
  expect(result.keyid).toBe(aliasKey.keyid);
  expect(ws.readinessProblems('root')).toEqual([]);
  expect(ws.files.loadStaged('root')!.signatures.map((s) => s.keyid)).toEqual([aliasKey.keyid]);
  // Signing again finds its own valid signature under the alias: nothing is added.
  expect(ws.sign('root', rootKey)).toMatchObject({ keyid: aliasKey.keyid, alreadySigned: true });
  expect(ws.files.loadStaged('root')!.signatures).toHaveLength(1);
});

test('any Signer works, not only a key file (what a token key is to the workspace)', () => {
  const ws = workspaceListingAlias();
  const signer: Signer = { publicKey: rootKey.publicKey, keyid: rootKey.keyid, sign: (message) => rootKey.sign(message) };
  expect(ws.sign('root', signer).keyid).toBe(aliasKey.keyid);
  expect(ws.readinessProblems('root')).toEqual([]);
});

test('a signing request carries the asked keys, so the signer answers under the listed keyid and the import counts it', () => {
  const ws = workspaceListingAlias();
  const request = ws.exportSigningRequest('root');
  expect(request.keys?.[aliasKey.keyid]).toEqual(aliasKey.tuf);
  const detached = signSigningRequest(readSigningRequest(JSON.stringify(request)), rootKey);
  expect(detached.keyid).toBe(aliasKey.keyid);
  ws.importSignature(JSON.stringify(detached));
  expect(ws.readinessProblems('root')).toEqual([]);
});

test('a key whose material the role does not list is still refused, and nothing is written', () => {
  const ws = workspaceListingAlias();
  const before = ws.files.loadStaged('root')!.signatures;
  const stranger = PrivateKey.generate('ecdsa-p256');
  expect(() => ws.sign('root', stranger)).toThrow(UnauthorizedSignerError);
  expect(ws.files.loadStaged('root')!.signatures).toEqual(before);
  const request = readSigningRequest(JSON.stringify(ws.exportSigningRequest('root')));
  expect(() => signSigningRequest(request, stranger)).toThrow(UnauthorizedSignerError);
});
