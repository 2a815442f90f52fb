// The encrypted-image records' SQL (schema.ts, migration 7).
import type { Db } from '../../../shared/server/sqlite.js';
import type { EncryptedImageRecord, EncryptedImageStore } from '../encrypted-images.js';
import type { Synchronous } from './transaction-gate.js';

interface EncryptedImageRow {
  ciphertext_sha256: string;
  filename: string;
  plaintext_sha256: string;
  plaintext_length: number;
  content_key: string;
  ciphertext_length: number;
  created_at: string;
}

const toRecord = (row: EncryptedImageRow): EncryptedImageRecord => ({
  filename: row.filename,
  plaintextSha256: row.plaintext_sha256,
  plaintextLength: row.plaintext_length,
  contentKey: row.content_key,
  ciphertextSha256: row.ciphertext_sha256,
  ciphertextLength: row.ciphertext_length,
  createdAt: row.created_at,
});

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
    return row === undefined ? undefined : toRecord(row);
  }

  byCiphertext(ciphertextSha256: string): EncryptedImageRecord | undefined {
    const row = this.s.byCiphertext.get(ciphertextSha256) as EncryptedImageRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  insert(r: EncryptedImageRecord): void {
    this.s.insert.run(r.ciphertextSha256, r.filename, r.plaintextSha256, r.plaintextLength, r.contentKey, r.ciphertextLength, r.createdAt);
  }

  count(): number {
    return (this.s.count.get() as { n: number }).n;
  }
}
