// Group J of docs/threat-model.md (parsing and schema) and D6 (strict datetimes), plus the
// pre-authentication parser crash class of the peer advisories (go-tuf CVE-2026-23991). Pure schema
// cases feed bytes to parseMetadata and TrustedMetadataSet; client-workflow cases drive the real
// updater against the simulator, with the attacker's bytes served through `sim.override`. J9
// (canonical server output) is the servers' duty and is tested with them.
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import type { PrivateKey } from '../../shared/core/crypto/keys.js';
import {
  BadKeyIdError,
  DownloadLengthError,
  HashMismatchError,
  MalformedKeyError,
  MalformedMetadataError,
  RoleTypeMismatchError,
  TargetNotFoundError,
  UnmetThresholdError,
  UptaneError,
} from '../../shared/core/errors.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { applicableDelegations, isAuthorizedFor } from '../../shared/core/metadata/delegation.js';
import { parseExpires, parseMetadata } from '../../shared/core/metadata/parse.js';
import { roleFileName } from '../../shared/core/metadata/paths.js';
import type { TopLevelRole } from '../../shared/core/metadata/types.js';
import { TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import { localTargetPath } from '../../shared/client/updater.js';
import { cleanupClients, expectRejected, newClient, refreshedClient } from '../support/client.js';
import { RepositorySimulator, SIM_NOW } from '../support/repo-simulator.js';
import { expectHonestRefresh, expectRefreshRejected, nextVersion, pathOf, serveAttack, signedOf } from '../support/tuf-helpers.js';

afterEach(cleanupClients);

const ROLES: readonly TopLevelRole[] = ['root', 'timestamp', 'snapshot', 'targets'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

// -----------------------------------------------------------------------------------------------
// Helpers.

/** A deep, plain-JSON copy (own `__proto__` keys survive, unlike with object spread). */
function jsonCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const keyObjects = new WeakMap<PrivateKey, KeyObject>();

/** Ed25519 is deterministic: the same signature as PrivateKey.sign, with the key imported once (fuzzing signs thousands). */
function signFast(key: PrivateKey, message: Uint8Array): string {
  let keyObject = keyObjects.get(key);
  if (keyObject === undefined) {
    keyObject = createPrivateKey(key.toPem());
    keyObjects.set(key, keyObject);
  }
  return cryptoSign(null, message, keyObject).toString('hex');
}

/** Signs `signed` (JSON) with `role`'s keys in the simulator; plain JSON text if it has no canonical form. */
function signAs(sim: RepositorySimulator, role: string, signed: Json): Buffer {
  const keys = sim.signers.get(role)!;
  let message: Buffer;
  try {
    message = canonicalBytes(signed);
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    return Buffer.from(JSON.stringify({ signed, signatures: [] }));
  }
  return canonicalBytes({ signed, signatures: keys.map((key) => ({ keyid: key.keyid, sig: signFast(key, message) })) });
}

/** The honest, signed bytes of `role` with `mutate` applied to a copy of its signed part. */
function mutated(sim: RepositorySimulator, role: string, mutate: (signed: JsonObject) => void): Buffer {
  const signed = jsonCopy(signedOf(sim, role)) as JsonObject;
  mutate(signed);
  return signAs(sim, role, signed);
}

let rich: RepositorySimulator | undefined;

/** A fresh copy of a valid, signed envelope of `role` from the rich repository, to break one field of. */
function validDoc(role: TopLevelRole): { signed: JsonObject; signatures: JsonObject[] } {
  rich ??= richRepository();
  const bytes = role === 'root' ? rich.publishedRoots[0]! : rich.signedRole(role);
  return JSON.parse(bytes.toString()) as { signed: JsonObject; signatures: JsonObject[] };
}

function bytesOf(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc));
}

/** parseMetadata must throw exactly this class and code, naming `where` in its message. */
function expectParseError(doc: unknown, role: TopLevelRole, errorClass: abstract new (...args: never[]) => UptaneError, code: string, where?: string): void {
  let caught: unknown;
  try {
    parseMetadata(doc instanceof Uint8Array ? doc : bytesOf(doc), role);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(errorClass);
  expect((caught as UptaneError).code).toBe(code);
  if (where !== undefined) expect((caught as Error).message).toContain(where);
}

/**
 * A repository that uses every optional field the parser knows: hashes and lengths in timestamp and
 * snapshot, Uptane custom fields, a VIN, and a delegation with hardware ids.
 */
function richRepository(): RepositorySimulator {
  const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
  sim.addTarget('ecu/fw.bin', 'image bytes', { hardwareIds: ['hw-1'], releaseCounter: 3, ecuIdentifiers: { 'SER-1': { hardwareId: 'hw-1' } } });
  sim.targets.custom = { vin: 'VIN0123456789' };
  sim.addDelegation('targets', { name: 'supplier', terminating: true, paths: ['supplier/*'], hardwareIds: ['hw-2'] });
  sim.addTarget('supplier/fw.bin', 'supplier image', { hardwareIds: ['hw-2'] }, 'supplier');
  sim.release();
  return sim;
}

// -----------------------------------------------------------------------------------------------

describe('J1: not JSON, invalid JSON, wrong type', () => {
  const garbage: Array<[string, (valid: Buffer) => Buffer]> = [
    ['not JSON', () => Buffer.from('<html>503 Service Unavailable</html>')],
    ['truncated JSON', (valid) => valid.subarray(0, valid.length - 7)],
    ['invalid UTF-8', (valid) => Buffer.concat([valid.subarray(0, 20), Buffer.from([0xc3, 0x28]), valid.subarray(22)])],
    ['JSON behind a byte-order mark', (valid) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), valid])],
    ['an unknown _type', (valid) => Buffer.from(valid.toString().replace(/"_type":"[a-z]+"/, '"_type":"mirrors"'))],
  ];
  for (const role of ROLES) {
    for (const [label, make] of garbage) {
      it(`J1: ${label} served as ${role} is malformed metadata`, async () => {
        const sim = new RepositorySimulator();
        const client = await refreshedClient(sim);
        nextVersion(sim, role);
        const valid = role === 'root' ? sim.sign(sim.root, sim.signers.get('root')!) : sim.signedRole(role);
        serveAttack(sim, pathOf(sim, role), make(valid));
        await expectRefreshRejected(client, sim, role, MalformedMetadataError, 'malformed_metadata');
        await expectHonestRefresh(client, sim, role);
      });
    }
  }

  for (const [label, make] of garbage) {
    it(`J1: ${label} as the initial trusted root fails closed`, async () => {
      const sim = new RepositorySimulator();
      const client = newClient(sim, { trustedRoot: make(sim.publishedRoots[0]!) });
      await expectRejected(client, () => client.updater.refresh(), MalformedMetadataError, 'malformed_metadata');
      expect(sim.fetchLog).toEqual([]);
    });
  }

  for (const role of ROLES) {
    it(`J1: each other role's metadata parsed as ${role} is a role type mismatch`, () => {
      const sim = richRepository();
      for (const other of ROLES.filter((r) => r !== role)) {
        const bytes = other === 'root' ? sim.publishedRoots[0]! : sim.signedRole(other);
        expectParseError(bytes, role, RoleTypeMismatchError, 'role_type_mismatch', `expected ${role} metadata, got ${other}`);
      }
    });
  }
});

describe('J2: missing required fields', () => {
  const common = ['_type', 'spec_version', 'version', 'expires'];
  for (const role of ROLES) {
    for (const field of common) {
      it(`J2: ${role} without signed.${field} is malformed`, () => {
        const doc = validDoc(role);
        delete doc.signed[field];
        expectParseError(doc, role, MalformedMetadataError, 'malformed_metadata', `signed.${field}`);
      });
    }
  }

  const specific: Array<[TopLevelRole, string, (doc: { signed: JsonObject }) => void]> = [
    ['root', 'signed.consistent_snapshot', (d) => delete d.signed.consistent_snapshot],
    ['root', 'signed.keys', (d) => delete d.signed.keys],
    ['root', 'signed.roles', (d) => delete d.signed.roles],
    ['root', 'signed.roles.timestamp.keyids', (d) => delete ((d.signed.roles as JsonObject).timestamp as JsonObject).keyids],
    ['timestamp', 'signed.meta', (d) => delete d.signed.meta],
    ['timestamp', 'signed.meta.snapshot.json.version', (d) => delete ((d.signed.meta as JsonObject)['snapshot.json'] as JsonObject).version],
    ['snapshot', 'signed.meta', (d) => delete d.signed.meta],
    ['snapshot', 'signed.meta.targets.json.version', (d) => delete ((d.signed.meta as JsonObject)['targets.json'] as JsonObject).version],
    ['targets', 'signed.targets', (d) => delete d.signed.targets],
    ['targets', 'signed.delegations.keys', (d) => delete (d.signed.delegations as JsonObject).keys],
    ['targets', 'signed.delegations.roles[0].terminating', (d) => delete ((d.signed.delegations as JsonObject).roles as JsonObject[])[0]!.terminating],
    ['targets', 'signed.delegations.roles[0].name', (d) => delete ((d.signed.delegations as JsonObject).roles as JsonObject[])[0]!.name],
  ];
  for (const [role, where, remove] of specific) {
    it(`J2: ${role} without ${where} is malformed`, () => {
      const doc = validDoc(role);
      remove(doc);
      expectParseError(doc, role, MalformedMetadataError, 'malformed_metadata', where);
    });
  }

  const envelope: Array<[string, string, (doc: { signed: JsonObject; signatures: JsonObject[] }) => void]> = [
    ['signed', 'signed', (d) => delete (d as Partial<typeof d>).signed],
    ['signatures', 'signatures', (d) => delete (d as Partial<typeof d>).signatures],
    ['signatures[0].keyid', 'signatures[0].keyid', (d) => delete d.signatures[0]!.keyid],
    ['signatures[0].sig', 'signatures[0].sig', (d) => delete d.signatures[0]!.sig],
  ];
  for (const [label, where, remove] of envelope) {
    it(`J2: metadata without ${label} is malformed`, () => {
      for (const role of ROLES) {
        const doc = validDoc(role);
        remove(doc);
        expectParseError(doc, role, MalformedMetadataError, 'malformed_metadata', where);
      }
    });
  }
});

describe('J3: version and spec_version', () => {
  const badVersions: Array<[string, Json]> = [
    ['0', 0],
    ['-1', -1],
    ['the string "1"', '1'],
    ['1.5', 1.5],
    ['true', true],
    ['2^53', 2 ** 53],
  ];
  for (const role of ROLES) {
    for (const [label, version] of badVersions) {
      it(`J3: ${role} version ${label} is malformed`, () => {
        const doc = validDoc(role);
        doc.signed.version = version;
        expectParseError(doc, role, MalformedMetadataError, 'malformed_metadata', 'signed.version');
      });
    }
  }

  const badSpecs: Array<[string, Json]> = [
    ['another major version', '2.0.0'],
    ['major version 0', '0.9.0'],
    ['non-numeric', 'one.zero.zero'],
    ['one part only', '1'],
    ['four parts', '1.0.0.0'],
    ['empty', ''],
    ['a number', 1],
    ['a wildcard', '1.0.x'],
  ];
  for (const [label, spec] of badSpecs) {
    it(`J3: spec_version ${label} (${JSON.stringify(spec)}) is malformed`, () => {
      for (const role of ROLES) {
        const doc = validDoc(role);
        doc.signed.spec_version = spec;
        expectParseError(doc, role, MalformedMetadataError, 'malformed_metadata', 'signed.spec_version');
      }
    });
  }

  it('J3: other 1.x spec versions are accepted', () => {
    for (const spec of ['1.0', '1.0.0', '1.0.31', '1.2.3']) {
      const doc = validDoc('timestamp');
      doc.signed.spec_version = spec;
      expect(parseMetadata(bytesOf(doc), 'timestamp').signed.spec_version).toBe(spec);
    }
  });
});

describe('J4: key objects', () => {
  /** Applies `change` to the timestamp key object in root's keys. */
  function rootWithKey(change: (key: JsonObject) => void): { signed: JsonObject } {
    const doc = validDoc('root');
    const roles = doc.signed.roles as Record<string, { keyids: string[] }>;
    const keyid = roles.timestamp!.keyids[0]!;
    change((doc.signed.keys as JsonObject)[keyid] as JsonObject);
    return doc;
  }
  const cases: Array<[string, (key: JsonObject) => void]> = [
    ['no keytype', (k) => delete k.keytype],
    ['keytype a number', (k) => (k.keytype = 1)],
    ['empty keytype', (k) => (k.keytype = '')],
    ['no scheme', (k) => delete k.scheme],
    ['scheme null', (k) => (k.scheme = null)],
    ['no keyval', (k) => delete k.keyval],
    ['keyval a string', (k) => (k.keyval = 'abcd')],
    ['keyval an array', (k) => (k.keyval = [])],
    ['keyval without public', (k) => (k.keyval = {})],
    ['keyval.public a number', (k) => (k.keyval = { public: 5 })],
  ];
  for (const [label, change] of cases) {
    it(`J4: a root key with ${label} is malformed`, () => {
      expectParseError(rootWithKey(change), 'root', MalformedMetadataError, 'malformed_metadata', 'signed.keys.');
    });
  }

  it('J4: a key object that is not an object is malformed', () => {
    for (const value of [null, 'ed25519', 42, []] as Json[]) {
      const doc = validDoc('root');
      const keys = doc.signed.keys as JsonObject;
      keys[Object.keys(keys)[0]!] = value;
      expectParseError(doc, 'root', MalformedMetadataError, 'malformed_metadata', 'must be an object');
    }
  });

  it('J4: keys that are not an object (an array) are malformed', () => {
    const doc = validDoc('root');
    doc.signed.keys = Object.values(doc.signed.keys as JsonObject);
    expectParseError(doc, 'root', MalformedMetadataError, 'malformed_metadata', 'signed.keys');
  });

  it('J4: an empty keyid is a bad keyid', () => {
    const doc = validDoc('root');
    const keys = doc.signed.keys as JsonObject;
    keys[''] = keys[Object.keys(keys)[0]!]!;
    expectParseError(doc, 'root', BadKeyIdError, 'bad_keyid', 'a keyid must not be empty');
  });

  it('J4: a keyid that is not the SHA-256 of its key object parses (the keyid rule: a name, docs/decisions.md)', () => {
    for (const keyid of ['abc', 'F'.repeat(64)]) {
      const doc = validDoc('root');
      const keys = doc.signed.keys as JsonObject;
      keys[keyid] = keys[Object.keys(keys)[0]!]!;
      expect(Object.keys(parseMetadata(bytesOf(doc), 'root').signed.keys)).toContain(keyid);
    }
  });

  it('J4: a key whose keytype does not go with its scheme is a malformed key', () => {
    expectParseError(rootWithKey((k) => (k.keytype = 'rsa')), 'root', MalformedKeyError, 'malformed_key', 'does not go with scheme ed25519');
  });

  it('J4: delegation key objects get the same checks', () => {
    const doc = validDoc('targets');
    const keys = (doc.signed.delegations as JsonObject).keys as JsonObject;
    delete (keys[Object.keys(keys)[0]!] as JsonObject).scheme;
    expectParseError(doc, 'targets', MalformedMetadataError, 'malformed_metadata', 'signed.delegations.keys.');
  });
});

describe('J5: metafiles and targetfiles', () => {
  const metafile: Array<[string, Json, string]> = [
    ['a negative length', { version: 1, length: -1 }, 'length'],
    ['a string length', { version: 1, length: '10' }, 'length'],
    ['a fractional length', { version: 1, length: 1.5 }, 'length'],
    ['empty hashes', { version: 1, hashes: {} }, 'hashes'],
    ['hashes that are a list', { version: 1, hashes: ['sha256'] }, 'hashes'],
    ['hashes that are a string', { version: 1, hashes: 'abcd' }, 'hashes'],
    ['a hash that is not a string', { version: 1, hashes: { sha256: 12 } }, 'hashes.sha256'],
    ['a hash that is not lowercase hex', { version: 1, hashes: { sha256: 'ABCD' } }, 'hashes.sha256'],
    ['no version', { length: 10 }, 'version'],
    ['a metafile that is not an object', 3, 'must be an object'],
  ];
  for (const [label, meta, where] of metafile) {
    it(`J5: timestamp and snapshot metafiles with ${label} are malformed`, () => {
      const ts = validDoc('timestamp');
      (ts.signed.meta as JsonObject)['snapshot.json'] = meta;
      expectParseError(ts, 'timestamp', MalformedMetadataError, 'malformed_metadata', where);
      const snap = validDoc('snapshot');
      (snap.signed.meta as JsonObject)['targets.json'] = meta;
      expectParseError(snap, 'snapshot', MalformedMetadataError, 'malformed_metadata', where);
    });
  }

  it('J5: a metafile with only a version (no length, no hashes) is valid', () => {
    const ts = validDoc('timestamp');
    (ts.signed.meta as JsonObject)['snapshot.json'] = { version: 4 };
    expect(parseMetadata(bytesOf(ts), 'timestamp').signed.meta['snapshot.json']).toEqual({ version: 4 });
  });

  it('J5: timestamp listing anything but exactly snapshot.json is malformed', () => {
    for (const meta of [{}, { 'snapshot.json': { version: 1 }, 'targets.json': { version: 1 } }, { 'other.json': { version: 1 } }] as Json[]) {
      const ts = validDoc('timestamp');
      ts.signed.meta = meta;
      expectParseError(ts, 'timestamp', MalformedMetadataError, 'malformed_metadata', 'signed.meta');
    }
  });

  const targetfile: Array<[string, (t: JsonObject) => void, string]> = [
    ['a negative length', (t) => (t.length = -1), 'length'],
    ['no length', (t) => delete t.length, 'length'],
    ['no hashes', (t) => delete t.hashes, 'hashes'],
    ['empty hashes', (t) => (t.hashes = {}), 'hashes'],
    ['hashes that are not a dict', (t) => (t.hashes = ['sha256', 'abcd']), 'hashes'],
    ['custom that is not an object', (t) => (t.custom = 'hw-1'), 'custom'],
    ['a negative releaseCounter', (t) => (t.custom = { releaseCounter: -1 }), 'custom.releaseCounter'],
    ['hardwareIds listed twice', (t) => (t.custom = { hardwareIds: ['hw-1', 'hw-1'] }), 'custom.hardwareIds'],
    ['an ECU with no hardwareId', (t) => (t.custom = { ecuIdentifiers: { 'SER-1': {} } }), 'custom.ecuIdentifiers.SER-1.hardwareId'],
    // docs/security-profiles.md: a minimum that names no profile is refused, not read as "none".
    ['a minimumSecurityProfile naming no profile', (t) => (t.custom = { minimumSecurityProfile: 'medium' }), 'custom.minimumSecurityProfile'],
    ['a minimumSecurityProfile that is not a string', (t) => (t.custom = { minimumSecurityProfile: 2 }), 'custom.minimumSecurityProfile'],
    ['a minimumSecurityProfile in the wrong case', (t) => (t.custom = { minimumSecurityProfile: 'High' }), 'custom.minimumSecurityProfile'],
  ];
  for (const [label, change, where] of targetfile) {
    it(`J5: a targetfile with ${label} is malformed`, () => {
      const doc = validDoc('targets');
      change((doc.signed.targets as JsonObject)['ecu/fw.bin'] as JsonObject);
      expectParseError(doc, 'targets', MalformedMetadataError, 'malformed_metadata', `signed.targets.ecu/fw.bin.${where}`);
    });
  }
});

describe('J6: root roles', () => {
  for (const role of ROLES) {
    it(`J6: root without the ${role} role is malformed`, () => {
      const doc = validDoc('root');
      delete (doc.signed.roles as JsonObject)[role];
      expectParseError(doc, 'root', MalformedMetadataError, 'malformed_metadata', `signed.roles.${role}: is missing`);
    });
  }

  for (const name of ['mirror', 'Root', 'targets ', '', 'delegated/role']) {
    it(`J6: root with an extra or invalid role name ${JSON.stringify(name)} is malformed`, () => {
      const doc = validDoc('root');
      const roles = doc.signed.roles as JsonObject;
      roles[name] = jsonCopy(roles.targets!);
      expectParseError(doc, 'root', MalformedMetadataError, 'malformed_metadata', 'is not a top-level role');
    });
  }

  it('J6: root whose roles are not an object, or a role entry that is not an object, is malformed', () => {
    const asList = validDoc('root');
    asList.signed.roles = Object.values(asList.signed.roles as JsonObject);
    expectParseError(asList, 'root', MalformedMetadataError, 'malformed_metadata', 'signed.roles');
    const nullRole = validDoc('root');
    (nullRole.signed.roles as JsonObject).snapshot = null;
    expectParseError(nullRole, 'root', MalformedMetadataError, 'malformed_metadata', 'signed.roles.snapshot');
  });
});

describe('J7: unknown fields', () => {
  /** Adds vendor fields everywhere the schema allows objects, then releases. */
  function withUnknownFields(sim: RepositorySimulator): void {
    Object.assign(sim.timestamp, { x_vendor: { region: 'eu', ids: [1, 2, 3] } });
    Object.assign(sim.snapshot, { x_build: 'ci-1234' });
    Object.assign(sim.targets, { x_campaign: { name: 'spring', wave: 2 } });
    sim.addTarget('ecu/fw.bin', 'image', { hardwareIds: ['hw-1'], x_signed_by: 'release-bot' });
    sim.release();
    Object.assign(sim.snapshot.meta['targets.json']!, { x_note: 'kept' });
    Object.assign(sim.timestamp.meta['snapshot.json'], { x_note: 'kept too' });
  }

  it('J7: unknown fields in every role are accepted, preserved, and stored exactly as received', async () => {
    const sim = new RepositorySimulator();
    Object.assign(sim.root, { x_owner: 'oem' });
    Object.assign(sim.root.roles.targets, { x_offline: true });
    sim.publishRoot();
    const client = await refreshedClient(sim);
    withUnknownFields(sim);
    const updater = client.newUpdater();
    const result = await updater.refresh();
    expect(result).toEqual({ rootVersion: 2, timestampVersion: 2, snapshotChanged: true, targetsVersion: 2 });
    const set = updater.trusted;
    expect((set.root.signed as unknown as Record<string, Json>).x_owner).toBe('oem');
    expect((set.root.signed.roles.targets as unknown as Record<string, Json>).x_offline).toBe(true);
    expect((set.timestamp!.signed as unknown as Record<string, Json>).x_vendor).toEqual({ region: 'eu', ids: [1, 2, 3] });
    expect((set.snapshot!.signed.meta['targets.json'] as unknown as Record<string, Json>).x_note).toBe('kept');
    expect((set.targets!.signed as unknown as Record<string, Json>).x_campaign).toEqual({ name: 'spring', wave: 2 });
    expect(set.targets!.signed.targets['ecu/fw.bin']!.custom!.x_signed_by).toBe('release-bot');
    for (const role of ROLES) {
      expect(client.store.load(role)).toEqual(role === 'root' ? sim.publishedRoots[1] : sim.serve(pathOf(sim, role)));
    }
  });

  it('J7: an unknown field changed after signing breaks the signature', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    withUnknownFields(sim);
    const signed = jsonCopy(sim.timestamp) as unknown as JsonObject;
    const signatures = (JSON.parse(sim.signedRole('timestamp').toString()) as { signatures: Json }).signatures;
    (signed.x_vendor as JsonObject).region = 'us';
    serveAttack(sim, pathOf(sim, 'timestamp'), canonicalBytes({ signed, signatures }));
    await expectRefreshRejected(client, sim, 'timestamp', UnmetThresholdError, 'unmet_threshold');
    await expectHonestRefresh(client, sim, 'timestamp');
  });

  it('J7: unknown fields beside signed and signatures are accepted and stored verbatim', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    sim.release();
    const envelope = JSON.parse(sim.signedRole('timestamp').toString()) as JsonObject;
    const bytes = Buffer.from(JSON.stringify({ ...envelope, x_mirror: 'cdn-7' }));
    serveAttack(sim, pathOf(sim, 'timestamp'), bytes);
    const result = await client.newUpdater().refresh();
    expect(result.timestampVersion).toBe(2);
    expect(client.store.load('timestamp')).toEqual(bytes);
  });
});

describe('J8: schema-invalid JSON is rejected before any signature check', () => {
  /** Unsigned, schema-invalid documents: a signature check first would say "unmet threshold" instead. */
  function hostile(role: TopLevelRole, valid: JsonObject): Json[] {
    const withSigned = (change: (signed: JsonObject) => void): Json => {
      const signed = jsonCopy(valid);
      change(signed);
      return { signed, signatures: [] };
    };
    const specific: Record<TopLevelRole, () => Json[]> = {
      root: () => [
        withSigned((s) => (s.roles = [])),
        withSigned((s) => ((s.roles as JsonObject).root = null)),
        withSigned((s) => (s.keys = { abc: 'ed25519' })),
        withSigned((s) => (s.consistent_snapshot = 'yes')),
      ],
      timestamp: () => [withSigned((s) => (s.meta = [])), withSigned((s) => (s.meta = { 'snapshot.json': [] })), withSigned((s) => (s.meta = 'snapshot.json'))],
      snapshot: () => [withSigned((s) => (s.meta = null)), withSigned((s) => (s.meta = { 'targets.json': { version: '1' } })), withSigned((s) => (s.meta = { targets: { version: 1 } }))],
      targets: () => [
        withSigned((s) => (s.targets = [])),
        withSigned((s) => (s.targets = { 'a.bin': { length: 1, hashes: [] } })),
        withSigned((s) => (s.delegations = { keys: {}, roles: [null] })),
        withSigned((s) => (s.delegations = { keys: {}, roles: [], succinct_roles: { keyids: [], threshold: 1, bit_length: 1, name_prefix: 'b' } })),
      ],
    };
    return [
      null,
      [],
      42,
      role,
      {},
      { signed: null, signatures: [] },
      { signed: [], signatures: [] },
      { signed: valid, signatures: {} },
      { signed: valid, signatures: [null] },
      { signed: valid, signatures: [{ keyid: 7, sig: '00' }] },
      withSigned((s) => (s.version = {})),
      withSigned((s) => (s.expires = 1_800_000_000)),
      ...specific[role](),
    ];
  }

  for (const role of ROLES) {
    it(`J8: schema-invalid ${role} JSON is malformed metadata and leaves the store unchanged`, async () => {
      const sim = new RepositorySimulator();
      // OpenSSL verification keeps this many refreshes fast; the parser under test is the same.
      const client = newClient(sim, { backend: nodeBackend });
      await client.updater.refresh();
      nextVersion(sim, role);
      const valid = jsonCopy(signedOf(sim, role)) as JsonObject;
      for (const doc of hostile(role, valid)) {
        serveAttack(sim, pathOf(sim, role), bytesOf(doc));
        const err = await expectRefreshRejected(client, sim, role, MalformedMetadataError, 'malformed_metadata');
        expect(err.repository).toBe('image');
      }
      await expectHonestRefresh(client, sim, role);
    });
  }
});

// -----------------------------------------------------------------------------------------------
// CVE-2026-23991 (go-tuf): valid JSON that is not TUF-shaped panicked the parser before any signature
// check. Here every mutation of every node of rich valid metadata goes through the parser and the
// trusted set (re-signed when it still has a canonical form, so the checks after the signature run
// too) and must end in success or an UptaneError, never a TypeError or RangeError.

type Path = Array<string | number>;

function* nodePaths(value: Json, path: Path = []): Generator<Path> {
  yield path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* nodePaths(value[i]!, [...path, i]);
  } else if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) yield* nodePaths(value[key]!, [...path, key]);
  }
}

/** Sets an own property, even one named `__proto__` (plain assignment would change the prototype). */
function setOwn(target: JsonObject | Json[], key: string | number, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function parentOf(doc: Json, path: Path): JsonObject | Json[] {
  let node = doc;
  for (const step of path.slice(0, -1)) node = (node as JsonObject)[step as string]!;
  return node as JsonObject | Json[];
}

const REPLACEMENTS: Json[] = [null, true, 0, -1, 1.5, 2 ** 53, '', 'x', '[z-a]', 'toString', '__proto__', 'constructor', [], [null], {}, { toString: 'x' }];
const RENAMES = ['__proto__', 'toString', 'constructor', 'hasOwnProperty', ''];

function* mutations(doc: Json): Generator<{ label: string; path: Path; doc: Json }> {
  for (const path of nodePaths(doc)) {
    if (path.length === 0) continue;
    const key = path[path.length - 1]!;
    for (const replacement of REPLACEMENTS) {
      const copy = jsonCopy(doc);
      setOwn(parentOf(copy, path), key, replacement);
      yield { label: `${path.join('.')} = ${JSON.stringify(replacement)}`, path, doc: copy };
    }
    const removed = jsonCopy(doc);
    const parent = parentOf(removed, path);
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
    yield { label: `delete ${path.join('.')}`, path, doc: removed };
    if (typeof key === 'string') {
      for (const name of RENAMES) {
        const copy = jsonCopy(doc);
        const object = parentOf(copy, path) as JsonObject;
        const value = object[key]!;
        delete object[key];
        setOwn(object, name, value);
        yield { label: `rename ${path.join('.')} to ${JSON.stringify(name)}`, path, doc: copy };
      }
    }
  }
}

interface FuzzOutcome {
  readonly variants: number;
  readonly accepted: number;
  readonly typed: number;
  readonly crashes: string[];
}

/**
 * Runs `pipeline` on every mutation of `role`'s genuinely signed envelope. A mutation inside the
 * signed part is re-signed by `role`'s keys when it still has a canonical form (as a compromised or
 * buggy repository would serve it); any other mutation is served as is.
 */
function fuzz(sim: RepositorySimulator, role: string, base: Json, pipeline: (bytes: Buffer) => void): FuzzOutcome {
  let variants = 0;
  let accepted = 0;
  let typed = 0;
  const crashes: string[] = [];
  const envelope = JSON.parse(signAs(sim, role, base).toString()) as Json;
  for (const { label, path, doc } of mutations(envelope)) {
    variants += 1;
    const inSigned = path.length > 1 && path[0] === 'signed';
    const bytes = inSigned ? signAs(sim, role, (doc as JsonObject).signed!) : Buffer.from(JSON.stringify(doc));
    try {
      pipeline(bytes);
      accepted += 1;
    } catch (err) {
      if (err instanceof UptaneError) typed += 1;
      else crashes.push(`${label}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
  }
  return { variants, accepted, typed, crashes };
}

describe('CVE-2026-23991: schema-invalid JSON never throws a non-Uptane error', () => {
  /** A repository whose timestamp and snapshot list lengths and hashes; root v2 exists to be fuzzed. */
  function fuzzRepository(): { sim: RepositorySimulator; bytes: Record<string, Buffer> } {
    const sim = richRepository();
    const bytes: Record<string, Buffer> = {
      root1: sim.publishedRoots[0]!,
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
      targets: sim.signedRole('targets'),
      supplier: sim.signedRole('supplier'),
    };
    return { sim, bytes };
  }

  function setAt(bytes: Record<string, Buffer>): TrustedMetadataSet {
    return new TrustedMetadataSet(bytes.root1!, SIM_NOW, { repository: 'image', backend: nodeBackend });
  }

  function expectNoCrashes(outcome: FuzzOutcome): void {
    expect(outcome.crashes).toEqual([]);
    // The harness reaches both outcomes, so it is exercising the checks, not failing at the door.
    expect(outcome.accepted).toBeGreaterThan(0);
    expect(outcome.typed).toBeGreaterThan(outcome.accepted);
    expect(outcome.variants).toBe(outcome.accepted + outcome.typed);
  }

  it('CVE-2026-23991: no mutation of a root update throws anything but an Uptane error', () => {
    const { sim, bytes } = fuzzRepository();
    const root2 = jsonCopy({ ...sim.root, version: 2 }) as unknown as Json;
    const outcome = fuzz(sim, 'root', root2, (mutatedBytes) => {
      parseMetadata(mutatedBytes, 'root');
      const set = setAt(bytes);
      set.updateRoot(mutatedBytes);
      set.updateTimestamp(bytes.timestamp!);
      set.updateSnapshot(bytes.snapshot!);
      set.updateTargets(bytes.targets!);
    });
    expectNoCrashes(outcome);
    expect(outcome.variants).toBeGreaterThan(500);
  });

  it('CVE-2026-23991: no mutation of the initial trusted root throws anything but an Uptane error', () => {
    const { sim, bytes } = fuzzRepository();
    const outcome = fuzz(sim, 'root', jsonCopy(sim.root) as unknown as Json, (mutatedBytes) => {
      const set = new TrustedMetadataSet(mutatedBytes, SIM_NOW, { repository: 'image', backend: nodeBackend });
      set.updateTimestamp(bytes.timestamp!);
    });
    expectNoCrashes(outcome);
  });

  it('CVE-2026-23991: no mutation of timestamp metadata throws anything but an Uptane error', () => {
    const { sim, bytes } = fuzzRepository();
    const outcome = fuzz(sim, 'timestamp', jsonCopy(sim.timestamp) as unknown as Json, (mutatedBytes) => {
      parseMetadata(mutatedBytes, 'timestamp');
      const set = setAt(bytes);
      set.updateTimestamp(mutatedBytes);
      set.updateSnapshot(bytes.snapshot!);
    });
    expectNoCrashes(outcome);
  });

  it('CVE-2026-23991: no mutation of snapshot metadata throws anything but an Uptane error', () => {
    const { sim, bytes } = fuzzRepository();
    const outcome = fuzz(sim, 'snapshot', jsonCopy(sim.snapshot) as unknown as Json, (mutatedBytes) => {
      parseMetadata(mutatedBytes, 'snapshot');
      const set = setAt(bytes);
      set.updateTimestamp(bytes.timestamp!);
      // As stored bytes: no hash check against timestamp, so the parser and later checks are reached.
      set.updateSnapshot(mutatedBytes, { trusted: true });
      set.updateTargets(bytes.targets!);
      set.updateDelegatedTargets(bytes.supplier!, 'supplier', 'targets');
    });
    expectNoCrashes(outcome);
  });

  for (const variant of ['delegations.roles', 'delegations.succinct_roles'] as const) {
    it(`CVE-2026-23991: no mutation of targets metadata (${variant}) throws anything but an Uptane error`, () => {
      const { sim, bytes } = fuzzRepository();
      const base = jsonCopy(sim.targets) as unknown as JsonObject;
      if (variant === 'delegations.succinct_roles') {
        const delegations = base.delegations as JsonObject;
        const role = (delegations.roles as JsonObject[])[0]!;
        delete delegations.roles;
        delegations.succinct_roles = { keyids: role.keyids!, threshold: 1, bit_length: 2, name_prefix: 'bin' };
      }
      // Snapshot would pin the exact targets bytes; a snapshot without hashes lets mutations through.
      const snapshot = jsonCopy(sim.snapshot) as unknown as JsonObject;
      for (const meta of Object.values(snapshot.meta as JsonObject)) {
        delete (meta as JsonObject).hashes;
        delete (meta as JsonObject).length;
      }
      const looseSnapshot = sim.sign(snapshot, sim.signers.get('snapshot')!);
      const outcome = fuzz(sim, 'targets', base, (mutatedBytes) => {
        const parsed = parseMetadata(mutatedBytes, 'targets');
        applicableDelegations(parsed.signed, 'supplier/fw.bin', ['hw-2']);
        isAuthorizedFor(parsed.signed, 'supplier', 'supplier/fw.bin');
        isAuthorizedFor(parsed.signed, 'bin-0', 'supplier/fw.bin');
        const set = setAt(bytes);
        set.updateTimestamp(bytes.timestamp!);
        set.updateSnapshot(looseSnapshot, { trusted: true });
        set.updateTargets(mutatedBytes);
        // Hash bins have no metadata in this snapshot; only the named delegation can be followed.
        if (variant === 'delegations.roles') set.updateDelegatedTargets(bytes.supplier!, 'supplier', 'targets');
      });
      expectNoCrashes(outcome);
    });
  }

  it('CVE-2026-23991: a role naming keyid "toString" (an Object.prototype member) is a bad keyid, not a crash', () => {
    for (const keyid of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const root = validDoc('root');
      ((root.signed.roles as JsonObject).timestamp as JsonObject).keyids = [keyid];
      expectParseError(root, 'root', BadKeyIdError, 'bad_keyid', 'which is not among the keys');
      const targets = validDoc('targets');
      (((targets.signed.delegations as JsonObject).roles as JsonObject[])[0] as JsonObject).keyids = [keyid];
      expectParseError(targets, 'targets', BadKeyIdError, 'bad_keyid', 'which is not among the keys');
    }
  });
});

// -----------------------------------------------------------------------------------------------

describe('J10: Unicode and multibyte names', () => {
  it('J10: Unicode target names and role names round-trip through the updater, stored and reloaded', async () => {
    const sim = new RepositorySimulator();
    const files: Array<[name: string, role: string, content: string]> = [
      ['ö.bin', 'targets', 'NFC o-umlaut'],
      ['o\u0308.bin', 'targets', 'NFD o + combining diaeresis'],
      ['🚗/日本語 ファイル.bin', 'targets', 'emoji directory, CJK name with a space'],
      ['lieferant/ünïcødé-größe.bin', 'lieferant-ö', 'delegated to a Latin-1 role name'],
      ['供应商/更新-📦.bin', '供应商/固件', 'delegated to a CJK role name with a slash'],
    ];
    sim.addDelegation('targets', { name: 'lieferant-ö', terminating: false, paths: ['lieferant/*'] });
    sim.addDelegation('targets', { name: '供应商/固件', terminating: true, paths: ['供应商/*'] });
    for (const [name, role, content] of files) sim.addTarget(name, content, { hardwareIds: ['hw-ü'] }, role);
    sim.release();

    const client = newClient(sim);
    const updater = client.newUpdater();
    await updater.refresh();
    for (const [name, role, content] of files) {
      const found = await updater.findTarget(name, ['hw-ü']);
      expect(found).toMatchObject({ name, role });
      expect(found.target.custom?.hardwareIds).toEqual(['hw-ü']);
      const destination = localTargetPath(client.directory, name);
      await updater.downloadTarget(found, destination);
      expect(readFileSync(destination, 'utf8')).toBe(content);
    }
    // Names are compared exactly, never normalized: an unlisted NFD spelling is not the NFC target.
    await expect(updater.findTarget('u\u0308.bin')).rejects.toBeInstanceOf(TargetNotFoundError);
    expect(Object.keys(client.storeSnapshot()).sort()).toEqual(
      ['root', 'timestamp', 'snapshot', 'targets', 'lieferant-ö', '供应商/固件'].map((role) => roleFileName(role)).sort(),
    );
    expect(client.store.load('供应商/固件')).toEqual(sim.serve(pathOf(sim, '供应商/固件')));

    // After a restart the delegated roles come from the store: verified again, not fetched again.
    const fetchedBefore = sim.fetchLog.length;
    const restarted = client.newUpdater();
    const result = await restarted.refresh();
    expect(result.snapshotChanged).toBe(false);
    expect((await restarted.findTarget('供应商/更新-📦.bin')).role).toBe('供应商/固件');
    expect((await restarted.findTarget('lieferant/ünïcødé-größe.bin')).role).toBe('lieferant-ö');
    expect(sim.fetchLog.slice(fetchedBefore)).toEqual(['mem://repo/metadata/2.root.json', 'mem://repo/metadata/timestamp.json']);
  });

  it('J10: target names that are Object.prototype members are found only when listed', async () => {
    const sim = new RepositorySimulator();
    sim.addTarget('constructor', 'a target really named constructor');
    sim.addDelegation('targets', { name: 'toString', terminating: false, paths: ['valueOf/*'] });
    sim.addTarget('valueOf/hasOwnProperty', 'delegated to a role named toString', undefined, 'toString');
    sim.release();
    const client = newClient(sim);
    const updater = client.newUpdater();
    await updater.refresh();
    const listed = await updater.findTarget('constructor');
    expect(listed).toMatchObject({ role: 'targets', target: { length: 'a target really named constructor'.length } });
    await updater.downloadTarget(listed, join(client.directory, 'constructor.bin'));
    expect(readFileSync(join(client.directory, 'constructor.bin'), 'utf8')).toBe('a target really named constructor');
    expect((await updater.findTarget('valueOf/hasOwnProperty')).role).toBe('toString');
    for (const name of ['toString', '__proto__', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
      await expectRejected(client, () => updater.findTarget(name), TargetNotFoundError, 'target_not_found');
    }
  });

  it('J10: names whose order differs by UTF-16 unit and by code point are signed in code point order, as python-tuf and go-tuf sign', async () => {
    // RFC 8785 (and tuf-js) sort "🚗" (D83D DE97) before "Ａ" (FF21); OLPC canonical JSON as
    // securesystemslib and go-securesystemslib write it, by code point, after (shared/core/canonical.ts).
    const sim = new RepositorySimulator();
    sim.addTarget('🚗.bin', 'car');
    sim.addTarget('Ａ.bin', 'fullwidth A');
    sim.release();
    const client = newClient(sim);
    const updater = client.newUpdater();
    await updater.refresh();
    expect((await updater.findTarget('🚗.bin')).target.length).toBe(3);
    expect((await updater.findTarget('Ａ.bin')).target.length).toBe('fullwidth A'.length);
    const signedText = Buffer.from(parseMetadata(sim.signedRole('targets'), 'targets').signedBytes).toString('utf8');
    expect(signedText.indexOf('"Ａ.bin"')).toBeLessThan(signedText.indexOf('"🚗.bin"'));
  });
});

describe('J11: size bounded before parsing, hashes checked before interpreting', () => {
  it('J11: a timestamp larger than the timestamp limit is refused before parsing', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    sim.release();
    // Validly signed, but padded past the 16 KiB default with a field signatures would cover.
    const bytes = mutated(sim, 'timestamp', (s) => (s.x_padding = 'p'.repeat(20_000)));
    expect(parseMetadata(bytes, 'timestamp').signed.version).toBe(2);
    serveAttack(sim, pathOf(sim, 'timestamp'), bytes);
    const err = await expectRefreshRejected(client, sim, 'timestamp', DownloadLengthError, 'download_length');
    expect(err.message).toContain('16384 bytes');
    await expectHonestRefresh(client, sim, 'timestamp');
  });

  it('J11: a root larger than the configured root limit is refused before parsing', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim, { config: { maxRootBytes: 4096 } });
    await client.updater.refresh();
    nextVersion(sim, 'root');
    serveAttack(sim, pathOf(sim, 'root'), mutated(sim, 'root', (s) => (s.x_padding = 'p'.repeat(8_000))));
    await expectRefreshRejected(client, sim, 'root', DownloadLengthError, 'download_length');
    await expectHonestRefresh(client, sim, 'root');
  });

  it('J11: a snapshot longer than timestamp says is cut off at that length', async () => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
    const client = await refreshedClient(sim);
    sim.release();
    const honest = sim.signedRole('snapshot');
    serveAttack(sim, pathOf(sim, 'snapshot'), Buffer.concat([honest, Buffer.alloc(100_000, 0x20)]));
    await expectRefreshRejected(client, sim, 'snapshot', DownloadLengthError, 'download_length');
    await expectHonestRefresh(client, sim, 'snapshot');
  });

  it('J11: non-JSON snapshot bytes of the right length fail the hash check before any parsing', async () => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
    const client = await refreshedClient(sim);
    sim.release();
    serveAttack(sim, pathOf(sim, 'snapshot'), Buffer.alloc(sim.signedRole('snapshot').length, 0xff));
    await expectRefreshRejected(client, sim, 'snapshot', HashMismatchError, 'hash_mismatch');
    await expectHonestRefresh(client, sim, 'snapshot');
  });

  it('J11: non-JSON targets bytes of the right length fail the hash check before any parsing', async () => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
    const client = await refreshedClient(sim);
    sim.release();
    const honest = sim.signedRole('targets');
    expect(sim.snapshot.meta['targets.json']).toEqual({ version: 2, length: honest.length, hashes: digestBytes(honest, ['sha256']) });
    serveAttack(sim, pathOf(sim, 'targets'), Buffer.alloc(honest.length, 0x7b));
    await expectRefreshRejected(client, sim, 'targets', HashMismatchError, 'hash_mismatch');
    await expectHonestRefresh(client, sim, 'targets');
  });

  it('J11: targets larger than the targets limit (no length in snapshot) is refused', async () => {
    const sim = new RepositorySimulator();
    const client = newClient(sim, { config: { maxTargetsBytes: 2048 } });
    await client.updater.refresh();
    sim.release();
    serveAttack(sim, pathOf(sim, 'targets'), mutated(sim, 'targets', (s) => (s.x_padding = 'p'.repeat(4096))));
    await expectRefreshRejected(client, sim, 'targets', DownloadLengthError, 'download_length');
    await expectHonestRefresh(client, sim, 'targets');
  });
});

describe('D6: strict datetime format', () => {
  const bad: Array<[string, Json]> = [
    ['microseconds', '2027-06-01T00:00:00.123456Z'],
    ['milliseconds', '2027-06-01T00:00:00.000Z'],
    ['a numeric offset', '2027-06-01T00:00:00+00:00'],
    ['no zone', '2027-06-01T00:00:00'],
    ['a lowercase z', '2027-06-01T00:00:00z'],
    ['a space for T', '2027-06-01 00:00:00Z'],
    ['a date only', '2027-06-01'],
    ['an unparseable string', 'next tuesday'],
    ['an empty string', ''],
    ['February 30', '2027-02-30T00:00:00Z'],
    ['hour 24', '2027-06-01T24:00:00Z'],
    ['a leap second', '2027-06-30T23:59:60Z'],
    ['a five-digit year', '+02027-06-01T00:00:00Z'],
    ['unpadded fields', '2027-6-1T0:0:0Z'],
    ['a Unix timestamp number', 1_811_808_000],
    ['null', null],
  ];
  for (const [label, expires] of bad) {
    it(`D6: expires with ${label} (${JSON.stringify(expires)}) is malformed in every role`, () => {
      for (const role of ROLES) {
        const doc = validDoc(role);
        doc.signed.expires = expires;
        expectParseError(doc, role, MalformedMetadataError, 'malformed_metadata', 'signed.expires');
      }
    });
  }

  it('D6: strict times parse to the instant they name, leap days included', () => {
    expect(parseExpires('2028-02-29T23:59:59Z').toISOString()).toBe('2028-02-29T23:59:59.000Z');
    expect(parseExpires('1970-01-01T00:00:00Z').getTime()).toBe(0);
  });

  it('D6: a signed timestamp whose expires has microseconds is rejected by the updater', async () => {
    const sim = new RepositorySimulator();
    const client = await refreshedClient(sim);
    sim.release();
    // Far in the future, validly signed: only the format is wrong.
    serveAttack(sim, pathOf(sim, 'timestamp'), mutated(sim, 'timestamp', (s) => (s.expires = '2099-01-01T00:00:00.000001Z')));
    const err = await expectRefreshRejected(client, sim, 'timestamp', MalformedMetadataError, 'malformed_metadata');
    expect(err.message).toContain('signed.expires');
    await expectHonestRefresh(client, sim, 'timestamp');
  });
});
