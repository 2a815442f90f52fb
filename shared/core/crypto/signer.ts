// What signing metadata needs from a key: its public half and a signature over bytes. A key file
// (PrivateKey, keys.ts) and a key held in a PKCS#11 token (shared/keys/pkcs11-signer.ts) both
// satisfy it, so the workspace signs through one interface whatever holds the key (docs/code-style.md
// R16). Pure: opening a token or reading a key file happens in shared/keys/key-source.ts.
import type { PrivateKey, PublicKey } from './keys.js';

export interface Signer {
  readonly publicKey: PublicKey;
  /** The keyid this project computes for the key (computeKeyId); a role may list it under another. */
  readonly keyid: string;
  /** The signature over `message`, hex, in the form TUF's scheme for `publicKey` verifies. */
  sign(message: Uint8Array): string;
}

// A key file is a Signer as it is: this line fails to compile if PrivateKey ever stops being one.
export type PrivateKeySigner = PrivateKey extends Signer ? PrivateKey : never;
