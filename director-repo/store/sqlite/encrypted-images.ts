// The encrypted-image records' SQL (schema.ts, migration 7).
import type { Db } from '../../../shared/server/sqlite.js';
import type { EncryptedImageRecord, EncryptedImageStore } from '../encrypted-images.js';
import { toEncryptedImage, type EncryptedImageRow } from '../rows.js';
import type { Synchronous } from './transaction-gate.js';

export class SqliteEncryptedImages implements Synchronous<EncryptedImageStore> {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      byPlaintext: db.prepare('SELECT * FROM encrypted_images WHERE filename = ? AND plaintext_sha256 = ?'),
      byCiphertext: db.prepare('SELECT * FROM encrypted_images WHERE ciphertext_sha256 = ?'),
      insert: db.prepare(
        `INSERT INTO encrypted_images (ciphertext_sha256, filename, plaintext_sha256, plaintext_length, content_key, ciphertext_length, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      count: db.prepare('SELECT COUNT(*) AS n FROM encrypted_images'),
    };
  }

  byPlaintext(filename: string, plaintextSha256: string): EncryptedImageRecord | undefined {
    const row = this.s.byPlaintext.get(filename, plaintextSha256) as EncryptedImageRow | undefined;
    return row === undefined ? undefined : toEncryptedImage(row);
  }

  byCiphertext(ciphertextSha256: string): EncryptedImageRecord | undefined {
    const row = this.s.byCiphertext.get(ciphertextSha256) as EncryptedImageRow | undefined;
    return row === undefined ? undefined : toEncryptedImage(row);
  }

  insert(r: EncryptedImageRecord): void {
    this.s.insert.run(r.ciphertextSha256, r.filename, r.plaintextSha256, r.plaintextLength, r.contentKey, r.ciphertextLength, r.createdAt);
  }

  count(): number {
    return (this.s.count.get() as { n: number }).n;
  }
}
