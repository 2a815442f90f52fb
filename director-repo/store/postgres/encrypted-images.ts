// The encrypted-image records on PostgreSQL (schema.ts). A second record of the same ciphertext, or
// of the same image, is refused with ConflictError (sql.ts), whichever replica made it.
import type { EncryptedImageRecord, EncryptedImageStore } from '../encrypted-images.js';
import { toEncryptedImage, type EncryptedImageRow } from '../rows.js';
import { num, run, type Queryable } from './sql.js';

const COLUMNS = 'ciphertext_sha256, filename, plaintext_sha256, plaintext_length, content_key, ciphertext_length, created_at';

export class PostgresEncryptedImages implements EncryptedImageStore {
  constructor(private readonly q: Queryable) {}

  async byPlaintext(filename: string, plaintextSha256: string): Promise<EncryptedImageRecord | undefined> {
    const [row] = await run<EncryptedImageRow>(this.q, `SELECT ${COLUMNS} FROM encrypted_images WHERE filename = $1 AND plaintext_sha256 = $2`, [filename, plaintextSha256]);
    return row === undefined ? undefined : toEncryptedImage(row);
  }

  async byCiphertext(ciphertextSha256: string): Promise<EncryptedImageRecord | undefined> {
    const [row] = await run<EncryptedImageRow>(this.q, `SELECT ${COLUMNS} FROM encrypted_images WHERE ciphertext_sha256 = $1`, [ciphertextSha256]);
    return row === undefined ? undefined : toEncryptedImage(row);
  }

  async insert(r: EncryptedImageRecord): Promise<void> {
    await run(
      this.q,
      `INSERT INTO encrypted_images (ciphertext_sha256, filename, plaintext_sha256, plaintext_length, content_key, ciphertext_length, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [r.ciphertextSha256, r.filename, r.plaintextSha256, r.plaintextLength, r.contentKey, r.ciphertextLength, r.createdAt],
    );
  }

  async count(): Promise<number> {
    const [row] = await run<{ n: string }>(this.q, 'SELECT count(*) AS n FROM encrypted_images');
    return num(row!.n);
  }
}
