// The Director's encrypted-image records (docs/image-encryption.md): for each image it encrypted,
// the ciphertext's hash and length and the content key it was made under. The content key is a
// Director secret: whoever reads it, with the ciphertext, has the image. The ciphertext files
// themselves live in the data folder (encrypted-images.ts); this area only says which is which.

export interface EncryptedImageRecord {
  /** The image's name in the Image repository. */
  readonly filename: string;
  /** The plaintext's SHA-256 and length, as the Image repository signs them. */
  readonly plaintextSha256: string;
  readonly plaintextLength: number;
  /** The 32-byte content key, hex. */
  readonly contentKey: string;
  readonly ciphertextSha256: string;
  readonly ciphertextLength: number;
  readonly createdAt: string;
}

export interface EncryptedImageStore {
  /** The ciphertext made for this image (name and plaintext hash), if any. */
  byPlaintext(filename: string, plaintextSha256: string): Promise<EncryptedImageRecord | undefined>;
  byCiphertext(ciphertextSha256: string): Promise<EncryptedImageRecord | undefined>;
  /** Records a ciphertext whose file is already in place (written first, so a record never names a missing file). */
  insert(record: EncryptedImageRecord): Promise<void>;
  /** How many ciphertexts are recorded (tests and the operator's view of the cache). */
  count(): Promise<number>;
}
