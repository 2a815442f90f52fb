// Private and public key files on disk: PKCS#8 PEM (optionally passphrase-encrypted, mode 0600),
// SPKI PEM, or a TUF key JSON object; Ed25519, ECDSA P-256/P-384 or RSA (signing RSA-PSS-SHA256). Kept apart from crypto/keys.ts so the pure TUF core does no
// file I/O; servers, ECUs and CLIs read their keys through here.
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { ecdsaSchemeForCurve } from '../core/crypto/ecdsa.js';
import { PrivateKey, PublicKey, type TufKey } from '../core/crypto/keys.js';
import { rsaPssSha256 } from '../core/crypto/rsa-pss.js';
import { EncryptionKeyPair } from '../core/crypto/image-encryption.js';
import { KeyFileError } from '../core/errors.js';

/** Writes `key` as PKCS#8 PEM with mode 0600, refusing to overwrite an existing file. */
export function savePrivateKey(path: string, key: PrivateKey, passphrase?: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    throw new KeyFileError(`cannot create key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    fchmodSync(fd, 0o600); // the umask may have narrowed it further, never widened; make it exact
    writeSync(fd, key.toPem(passphrase));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function loadPrivateKey(path: string, passphrase?: string): PrivateKey {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return PrivateKey.fromPem(pem, passphrase);
}

function isTufKeyShape(value: unknown): value is TufKey {
  if (typeof value !== 'object' || value === null) return false;
  const { keytype, scheme, keyval } = value as Record<string, unknown>;
  return (
    typeof keytype === 'string' &&
    typeof scheme === 'string' &&
    typeof keyval === 'object' &&
    keyval !== null &&
    typeof (keyval as Record<string, unknown>).public === 'string'
  );
}

/** Reads a public key from a PEM (SPKI) file, a PKCS#8 private key file, or a TUF key JSON file. */
export function loadPublicKey(path: string): PublicKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new KeyFileError(`cannot parse key JSON in ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (!isTufKeyShape(parsed)) {
      throw new KeyFileError(`${path} is not a TUF key object {"keytype", "scheme", "keyval": {"public"}}`);
    }
    return PublicKey.fromTuf(parsed);
  }
  try {
    const keyObject = createPublicKey(text);
    const type = keyObject.asymmetricKeyType;
    if (type === 'ed25519') {
      const jwk = keyObject.export({ format: 'jwk' });
      if (jwk.x === undefined) throw new KeyFileError('not an ed25519 key');
      return PublicKey.fromBytes(Uint8Array.from(Buffer.from(jwk.x, 'base64url')));
    }
    // ECDSA and RSA keys go into metadata as securesystemslib writes them: the SPKI PEM, re-exported
    // so a file with a private key or extra text still yields exactly one public key block.
    const scheme = type === 'ec' ? ecdsaSchemeForCurve(keyObject) : type === 'rsa' ? rsaPssSha256 : undefined;
    if (scheme === undefined) throw new KeyFileError(`not an ed25519, ecdsa P-256/P-384 or rsa key (found ${type ?? 'unknown'})`);
    return PublicKey.fromPem(keyObject.export({ format: 'pem', type: 'spki' }).toString(), scheme);
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`cannot read public key from ${path}: ${(err as Error).message}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// X25519 image-encryption keys (docs/image-encryption.md): kept in their own files, apart from an
// ECU's Ed25519 signing key, so a key that decrypts never signs.

/** Writes an ECU's encryption private key as unencrypted PKCS#8 PEM, mode 0600, refusing to overwrite. */
export function saveEncryptionKeyPair(path: string, pair: EncryptionKeyPair): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    throw new KeyFileError(`cannot create encryption key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    fchmodSync(fd, 0o600); // exact, whatever the umask
    writeSync(fd, pair.toPem());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads an encryption key pair: KeyFileError if unreadable, MalformedEncryptionKeyError if not an X25519 PKCS#8 PEM. */
export function loadEncryptionKeyPair(path: string): EncryptionKeyPair {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyFileError(`cannot read encryption key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return EncryptionKeyPair.fromPem(pem);
}
