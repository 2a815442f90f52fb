// How an operator types an ECU's signing key on the command line and in the registration CSV
// (docs/decisions.md Cryptography, "ECU keys"): hex for Ed25519 (either case), one line of base64
// SubjectPublicKeyInfo for ECDSA (case kept), and a refusal that names the line and the typed code.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ecuKeyText } from '../../shared/core/crypto/ecu-keys.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { ecuKeyArgument } from '../../director-repo/cli-input.js';
import { parseEcuSpec, parseRegistrationCsv } from '../../director-repo/cli.js';

const ed = PrivateKey.fromLabel('ecu-key-input/ed').publicKey;
const p256 = PrivateKey.generate('ecdsa-p256').publicKey;
const p384 = PrivateKey.generate('ecdsa-p384').publicKey;

describe('ECU keys as an operator types them', () => {
  it('--ecu takes hex (either case) and base64 SPKI keys, and explains a key it cannot read', () => {
    expect(parseEcuSpec(`tcu-1:tcu-a:${ecuKeyText(p256)}:primary`)).toEqual({ serial: 'tcu-1', hardwareId: 'tcu-a', publicKey: ecuKeyText(p256), primary: true });
    expect(parseEcuSpec(`ecm-1:ecm-x1:${ed.tuf.keyval.public.toUpperCase()}`).publicKey).toBe(ed.tuf.keyval.public);
    expect(() => parseEcuSpec('ecm-1:ecm-x1:notakey')).toThrow(/\[malformed_key\].*64 lowercase hex characters/);
  });

  it('the CSV keeps the case of base64 keys, lowercases hex, and fails only the vehicle with a bad key', () => {
    const csv = [
      'vin,ecu_serial,hardware_id,public_key,primary',
      `V1,V1-tcu,tcu-a,${ecuKeyText(p384)},yes`,
      `V1,V1-ecm,ecm-x1,${ed.tuf.keyval.public.toUpperCase()},`,
      `V2,V2-tcu,tcu-a,${ecuKeyText(p256).toLowerCase()},yes`,
    ].join('\n');
    const [v1, v2] = parseRegistrationCsv(csv, 'fleet.csv');
    expect(v1!.problems).toEqual([]);
    expect(v1!.ecus.map((e) => e.publicKey)).toEqual([ecuKeyText(p384), ed.tuf.keyval.public]);
    expect(v2!.problems).toEqual([expect.stringMatching(/^line 4: public_key: .*\[malformed_key\]/)]);
  });

  it('--public-key @FILE reads a PEM or TUF key JSON file into the stored form', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uptane-ecu-key-'));
    try {
      writeFileSync(join(dir, 'ecu.pub.pem'), p256.toPem());
      writeFileSync(join(dir, 'ecu.pub.json'), JSON.stringify(p384.tuf));
      expect(ecuKeyArgument(`@${join(dir, 'ecu.pub.pem')}`, '--public-key', { allowFile: true })).toBe(ecuKeyText(p256));
      expect(ecuKeyArgument(`@${join(dir, 'ecu.pub.json')}`, '--public-key', { allowFile: true })).toBe(ecuKeyText(p384));
      expect(() => ecuKeyArgument(`@${join(dir, 'missing.pem')}`, '--public-key', { allowFile: true })).toThrow(/cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
