// Provisioning of the ECUs' image-encryption keys (docs/image-encryption.md): one routine for the CLI
// and the simulator (vehicle/provision.ts) gives every ECU an X25519 key pair apart from its Ed25519
// signing key, stores the private key as 0600 PKCS#8 PEM beside the signing key, and puts each
// public key in the registration the Director receives.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncryptionKeyPair } from '../../shared/core/crypto/image-encryption.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { loadEncryptionKeyPair } from '../../shared/files/key-files.js';
import { provisionVehicleFolder, type EcuKeyPairs } from '../../vehicle/provision.js';
import { SimulatedVehicle } from '../../sim/vehicle.js';
import { rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';

const SERIALS = ['tcu-1', 'ecm-1', 'abs-1'] as const;
const rootKey = PrivateKey.fromLabel('encryption-keys/root');
const entry = { keyid: rootKey.keyid, key: rootKey.publicKey.tuf };
/** A root the ECUs can store; the folder is only written here, never run against a repository. */
const root = serializeMetadata(signMetadata(rootMetadata(1, { root: [entry], targets: [entry], snapshot: [entry], timestamp: [entry] }), [rootKey]));
const plan = {
  vin: 'VINKEYS000000001',
  primary: { serial: 'tcu-1', hardwareId: 'tcu-a' },
  secondaries: [
    { serial: 'ecm-1', hardwareId: 'ecm-x1' },
    { serial: 'abs-1', hardwareId: 'abs-z', verification: 'full' as const },
  ],
  directorUrl: 'http://127.0.0.1:9',
  imageRepoUrl: 'http://127.0.0.1:9',
  directorRoot: root,
  imageRoot: root,
};

describe('ECU image-encryption keys at provisioning', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'uptane-enc-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('every ECU gets an X25519 key in encryption-key.pem (0600), apart from its signing key, and registers its public half', () => {
    const keys = new Map<string, EcuKeyPairs>(SERIALS.map((serial) => [serial, { signing: PrivateKey.generate(), encryption: EncryptionKeyPair.generate() }]));
    const { registration } = provisionVehicleFolder(join(dir, 'car'), plan, (serial) => keys.get(serial)!, '2026-06-01T00:00:00Z');
    for (const serial of SERIALS) {
      const file = join(dir, 'car', serial, 'encryption-key.pem');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const stored = loadEncryptionKeyPair(file);
      expect(stored.publicKey.hex).toBe(keys.get(serial)!.encryption.publicKey.hex);
      const registered = registration.ecus.find((e) => e.serial === serial)!;
      expect(registered.encryptionPublicKey).toBe(stored.publicKey.hex);
      // Two keys, two files: the encryption key is never the signing key.
      expect(registered.encryptionPublicKey).not.toBe(registered.publicKey);
      expect(readFileSync(file, 'utf8')).not.toBe(readFileSync(join(dir, 'car', serial, 'ecu-key.pem'), 'utf8'));
    }
    expect(JSON.parse(readFileSync(join(dir, 'car', 'registration.json'), 'utf8'))).toEqual(registration);
  });

  it('the key file is what `openssl pkey` reads as an X25519 private key', () => {
    const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
    if (openssl.status !== 0) return; // no openssl on this machine: the PEM format is checked by the load above
    const keys = (serial: string): EcuKeyPairs => SimulatedVehicle.keysFor({ vin: plan.vin }, serial);
    provisionVehicleFolder(join(dir, 'car'), plan, keys, '2026-06-01T00:00:00Z');
    const text = spawnSync('openssl', ['pkey', '-in', join(dir, 'car', 'ecm-1', 'encryption-key.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/X25519 Private-Key/);
  });

  it('a simulated vehicle derives its encryption keys from its seed: the same seed gives the same keys, another seed or ECU another key', () => {
    const a = SimulatedVehicle.encryptionKeyFor({ vin: plan.vin, seed: 's1' }, 'ecm-1').publicKey.hex;
    expect(SimulatedVehicle.encryptionKeyFor({ vin: plan.vin, seed: 's1' }, 'ecm-1').publicKey.hex).toBe(a);
    expect(SimulatedVehicle.encryptionKeyFor({ vin: plan.vin, seed: 's2' }, 'ecm-1').publicKey.hex).not.toBe(a);
    expect(SimulatedVehicle.encryptionKeyFor({ vin: plan.vin, seed: 's1' }, 'abs-1').publicKey.hex).not.toBe(a);
  });
});
