// Canonical JSON against bytes this project did not make: securesystemslib's `encode_canonical`
// (what python-tuf signs) on tricky values, a repository signed by securesystemslib whose root lists
// an ECDSA key as PEM and whose targets carry a newline, and a repository this project signed with
// its earlier RFC 8785 encoder (test/fixtures/canonical/, made by make-fixtures.py and by the
// simulator before the switch). docs/decisions.md Formats says which form each document uses.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalBytes, canonicalJson, canonicalJsonReusing, wireBytes, wireBytesOfCanonical } from '../shared/core/canonical.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import { computeKeyId, PrivateKey, type TufKey } from '../shared/core/crypto/keys.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { parseMetadata } from '../shared/core/metadata/parse.js';
import { serializeMetadata, validSigners } from '../shared/core/metadata/sign.js';
import { isSignedBy, manifestSignedBytes, parseVehicleVersionManifest, signEnvelope, type EcuVersionReportSigned, type VehicleVersionManifestSigned } from '../shared/uptane/manifest.js';
import type { RoleType, TargetsSigned } from '../shared/core/metadata/types.js';
import { escapeTerminalText } from '../shared/util/terminal-text.js';
import { MalformedMetadataError } from '../shared/core/errors.js';
import { readSigningRequest, signSigningRequest, SIGNING_REQUEST_TYPE } from '../shared/workspace/signing-request.js';
import { newClient } from './support/client.js';
import { RepositorySimulator } from './support/repo-simulator.js';
import { startStaticServer } from './support/static-server.js';
import { cleanupServersClientsAndTempDirs, tempDir } from './support/tuf-helpers.js';

afterEach(cleanupServersClientsAndTempDirs);

const FIXTURES = fileURLToPath(new URL('fixtures/canonical/', import.meta.url));

interface Vector {
  readonly name: string;
  readonly input: string;
  readonly canonical_hex: string;
}

const vectors: Vector[] = readFileSync(join(FIXTURES, 'securesystemslib-vectors.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line) as Vector);

describe('byte for byte against securesystemslib encode_canonical (fixtures made by make-fixtures.py)', () => {
  it('has the vectors the brief asks for', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(20);
    expect(vectors.map((v) => v.name)).toEqual(expect.arrayContaining(['newline', 'NUL', 'every control character U+0000-U+001F', 'keys sorting differently by UTF-16 and by code point', 'an ECDSA PEM key object']));
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, vector) => {
    const value: unknown = JSON.parse(vector.input);
    expect(canonicalBytes(value).toString('hex')).toBe(vector.canonical_hex);
    expect(Buffer.from(canonicalJsonReusing(value, new Map()), 'utf8').toString('hex')).toBe(vector.canonical_hex);
    // What the project serves for the value parses back to it, and so signs the same bytes again.
    expect(canonicalBytes(JSON.parse(wireBytes(value).toString('utf8'))).toString('hex')).toBe(vector.canonical_hex);
    // A signer handed only the canonical bytes recovers the same wire form, and so the value.
    expect(wireBytesOfCanonical(Buffer.from(vector.canonical_hex, 'hex'))).toEqual(wireBytes(value));
  });
});

/** An Image repository client (the real RepositoryUpdater over HttpFetcher) on a fixture tree served on 127.0.0.1. */
async function clientOn(tree: string, trustedRoot: Buffer) {
  const server = await startStaticServer(tree);
  return newClient(new RepositorySimulator({ name: 'unused' }), {
    fetcher: new HttpFetcher({ connectTimeoutMs: 2_000, idleTimeoutMs: 2_000 }),
    metadataUrl: `${server.url}/metadata`,
    targetsUrl: `${server.url}/targets`,
    trustedRoot,
  });
}

describe('a repository signed by securesystemslib: PEM keys and a newline in a custom string', () => {
  const tree = join(FIXTURES, 'python-signed');
  const file = (name: string) => readFileSync(join(tree, 'metadata', name));
  const pythonHex = JSON.parse(readFileSync(join(tree, 'signed-canonical-hex.json'), 'utf8')) as Record<RoleType, string>;

  it.each<[RoleType, string]>([
    ['root', '1.root.json'],
    ['timestamp', 'timestamp.json'],
    ['snapshot', '1.snapshot.json'],
    ['targets', '1.targets.json'],
  ])('%s: the bytes the client checks signatures over are the bytes python signed', (role, name) => {
    const parsed = parseMetadata(file(name), role);
    expect(Buffer.from(parsed.signedBytes).toString('hex')).toBe(pythonHex[role]);
  });

  it('the keyids python computed for the PEM keys are the SHA-256 of the project\'s canonical bytes', () => {
    const root = JSON.parse(file('1.root.json').toString('utf8')) as { signed: { keys: Record<string, TufKey> } };
    const targets = JSON.parse(file('1.targets.json').toString('utf8')) as { signed: TargetsSigned };
    const keys = { ...root.signed.keys, ...targets.signed.delegations!.keys };
    expect(Object.values(keys).map((k) => k.keytype).sort()).toEqual(['ecdsa', 'ed25519', 'rsa']);
    for (const [keyid, key] of Object.entries(keys)) expect(computeKeyId(key)).toBe(keyid);
    expect(Object.values(keys).filter((k) => k.keyval.public.includes('\n'))).toHaveLength(2);
  });

  it('the Image repository client refreshes, finds the image with its multi-line note, and downloads it', async () => {
    const client = await clientOn(tree, file('1.root.json'));
    const result = await client.updater.refresh();
    expect(result).toMatchObject({ rootVersion: 1, timestampVersion: 1, targetsVersion: 1 });
    const lookup = await client.updater.findTarget('fw/app.bin');
    expect(lookup.role).toBe('targets');
    expect(lookup.target.custom).toMatchObject({ notes: 'line one\nline two\tand a tab', releaseCounter: 1 });
    const destination = join(tempDir('canonical-download-'), 'app.bin');
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination, 'utf8')).toBe('python-signed firmware\n');
    // The client stores the bytes python-tuf's serializer wrote, never a re-serialization.
    expect(readFileSync(join(client.store.directory, 'targets.json'))).toEqual(file('1.targets.json'));
  });

  it('a changed newline in the signed note breaks the signature (the newline is signed, not dropped)', () => {
    const envelope = JSON.parse(file('1.targets.json').toString('utf8')) as { signed: TargetsSigned; signatures: { keyid: string; sig: string }[] };
    const root = parseMetadata(file('1.root.json'), 'root');
    const authority = { keyids: root.signed.roles.targets.keyids, threshold: 1, keys: root.signed.keys };
    const honest = parseMetadata(file('1.targets.json'), 'targets');
    expect(validSigners(honest.signedBytes, honest.signatures, authority, nodeBackend)).toHaveLength(1);
    const custom = envelope.signed.targets['fw/app.bin']!.custom as Record<string, unknown>;
    for (const tampered of ['line one\r\nline two\tand a tab', 'line one\\nline two\tand a tab', 'line one line two\tand a tab']) {
      custom.notes = tampered;
      const parsed = parseMetadata(wireBytes(envelope), 'targets');
      expect(validSigners(parsed.signedBytes, parsed.signatures, authority, nodeBackend)).toHaveLength(0);
    }
  });
});

describe('metadata signed before the switch to OLPC keeps verifying', () => {
  // Signed on commit 475f36a with the RFC 8785 encoder; its strings hold non-ASCII, quotes,
  // backslashes, DEL and U+2028 but no control character, so both forms give the same bytes.
  const tree = join(FIXTURES, 'signed-before-olpc');
  const file = (name: string) => readFileSync(join(tree, 'metadata', name));

  it('the Image repository client refreshes and downloads from it', async () => {
    const client = await clientOn(tree, file('1.root.json'));
    await client.updater.refresh();
    const lookup = await client.updater.findTarget('fw/é-ünï 😀.bin');
    expect(lookup.target.custom).toMatchObject({ note: 'say "hi" \\ back/slash, DEL \u007f, LS \u2028, 中文 😀' });
    const destination = join(tempDir('canonical-download-'), 'image.bin');
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination, 'utf8')).toBe('firmware one');
  });

  it.each<[RoleType, string]>([
    ['root', '1.root.json'],
    ['timestamp', 'timestamp.json'],
    ['snapshot', '2.snapshot.json'],
    ['targets', '2.targets.json'],
  ])('%s: serving it again gives the same bytes, and the signed part re-encodes unchanged', (role, name) => {
    const raw = file(name);
    const parsed = parseMetadata(raw, role);
    expect(wireBytes({ signed: parsed.signed, signatures: parsed.signatures })).toEqual(raw);
    const signedText = raw.toString('utf8').slice('{"signatures":'.length + JSON.stringify(parsed.signatures).length + ',"signed":'.length, -1);
    expect(Buffer.from(parsed.signedBytes).toString('utf8')).toBe(signedText);
  });
});

describe('what the project itself signs now', () => {
  it('a root listing an ECDSA key as multi-line PEM (unused) parses, verifies and is accepted by a client as a new root', async () => {
    const sim = new RepositorySimulator({ name: 'pem-root', computeMetafileHashesAndLength: true });
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(pem.split('\n').length).toBeGreaterThan(3);
    const ecdsa: TufKey = { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: pem } };
    sim.root.keys[computeKeyId(ecdsa)] = ecdsa;
    sim.publishRoot();
    const client = newClient(sim);
    const result = await client.updater.refresh();
    expect(result.rootVersion).toBe(2);
    const stored = readFileSync(join(client.store.directory, 'root.json'));
    expect(stored).toEqual(sim.publishedRoots[1]);
    // Served as JSON with the PEM's line breaks escaped; signed over them raw.
    expect(stored.includes(Buffer.from('\\n-----END PUBLIC KEY-----'))).toBe(true);
    const parsed = parseMetadata(stored, 'root');
    expect(Buffer.from(parsed.signedBytes).includes(Buffer.from('\n-----END PUBLIC KEY-----'))).toBe(true);
  });

  it('a targets custom string with a newline round-trips through serving, parsing and verification', async () => {
    const sim = new RepositorySimulator({ name: 'newline-custom' });
    const note = 'first line\nsecond line\r\n\ttabbed \u0000 and NUL';
    sim.addTarget('fw/notes.bin', 'image with notes', { hardwareIds: ['ecu-A'], releaseCounter: 2, note } as never);
    sim.release();
    const client = newClient(sim);
    await client.updater.refresh();
    const lookup = await client.updater.findTarget('fw/notes.bin');
    expect((lookup.target.custom as Record<string, unknown>).note).toBe(note);
    const destination = join(tempDir('canonical-download-'), 'notes.bin');
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination, 'utf8')).toBe('image with notes');
    // The signature covers the note's raw bytes, as python-tuf would compute them.
    const stored = parseMetadata(readFileSync(join(client.store.directory, 'targets.json')), 'targets');
    expect(canonicalJson(stored.signed)).toContain(`"note":"${note}"`);
  });

  it('a vehicle manifest whose report carries a multi-line attack message is refused raw, and verifies as the ECU signed it in the escaped form honest ECUs write (HR-6b)', () => {
    const ecuKey = PrivateKey.fromLabel('canonical/ecu');
    const primaryKey = PrivateKey.fromLabel('canonical/primary');
    const raw = 'targets.json:\n  signature 1 of 2 did not verify\r\n\tkeyid abc';
    const manifestWith = (message: string): { signed: VehicleVersionManifestSigned; sent: Buffer } => {
      const report: EcuVersionReportSigned = {
        _type: 'ecu_version_report',
        ecu_serial: 'ecu-1',
        installed_image: { filename: 'fw/app.bin', length: 3, hashes: { sha256: 'ab'.repeat(32) } },
        attacks_detected: [{ code: 'bad_signature', message }],
        report_time: '2026-06-01T00:00:00Z',
        report_counter: 1,
      };
      const signed: VehicleVersionManifestSigned = {
        _type: 'vehicle_version_manifest',
        vin: 'VIN1',
        primary_ecu_serial: 'ecu-1',
        ecu_version_reports: { 'ecu-1': signEnvelope(report, ecuKey) },
      };
      return { signed, sent: Buffer.from(JSON.stringify(signEnvelope(signed, primaryKey))) };
    };
    // The raw text would forge log lines at the Director: refused, typed, whatever its signature.
    expect(() => parseVehicleVersionManifest(manifestWith(raw).sent)).toThrow(MalformedMetadataError);
    // An honest ECU escapes it before signing; the backslashes then travel through canonical JSON
    // (escaped as \\ by both OLPC and RFC 8785 rules) and the signatures hold over the same bytes.
    const escaped = escapeTerminalText(raw);
    expect(escaped).toBe('targets.json:\\n  signature 1 of 2 did not verify\\r\\n\\tkeyid abc');
    const { signed, sent } = manifestWith(escaped);
    const received = parseVehicleVersionManifest(sent);
    const bytes = manifestSignedBytes(received);
    expect(bytes.manifest).toEqual(canonicalBytes(signed));
    expect(isSignedBy(received, primaryKey.publicKey, nodeBackend, bytes.manifest)).toBe(true);
    expect(isSignedBy(received.signed.ecu_version_reports['ecu-1']!, ecuKey.publicKey, nodeBackend, bytes.reports.get('ecu-1'))).toBe(true);
    expect(bytes.reports.get('ecu-1')!.includes(Buffer.from('\\\\n  signature 1'))).toBe(true);
  });

  it('an air-gapped signer reads, signs and verifies a request whose targets hold a newline', () => {
    const key = PrivateKey.fromLabel('canonical/offline-targets');
    const signed: TargetsSigned = {
      _type: 'targets',
      spec_version: '1.0.31',
      version: 3,
      expires: '2030-01-01T00:00:00Z',
      targets: { 'fw/app.bin': { length: 3, hashes: { sha256: 'ab'.repeat(32) }, custom: { hardwareIds: ['ecu-A'], releaseCounter: 1, notes: 'fixes:\n- boot loop\n- CAN timeout' } as never } },
    };
    const bytes = canonicalBytes(signed);
    expect(bytes.includes(0x0a)).toBe(true);
    const request = {
      type: SIGNING_REQUEST_TYPE,
      format: 1,
      repository: 'image',
      role: 'targets',
      version: 3,
      expires: signed.expires,
      keyids: [key.keyid],
      signed: bytes.toString('base64'),
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    const verified = readSigningRequest(JSON.stringify(request));
    expect((verified.signed as TargetsSigned).targets['fw/app.bin']!.custom).toMatchObject({ notes: 'fixes:\n- boot loop\n- CAN timeout' });
    const detached = signSigningRequest(verified, key);
    // What a repository then serves (serializeMetadata) parses back, and the signature holds.
    const served = serializeMetadata({ signed: verified.signed, signatures: [{ keyid: key.keyid, sig: detached.sig }] });
    expect(parseMetadata(served, 'targets').signed).toEqual(signed);
    const parsed = parseMetadata(served, 'targets');
    const authority = { keyids: [key.keyid], threshold: 1, keys: { [key.keyid]: key.publicKey.tuf } };
    expect(validSigners(parsed.signedBytes, parsed.signatures, authority, nodeBackend)).toHaveLength(1);
  });
});
