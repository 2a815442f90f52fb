// A metadata store that also keeps every root version it was given, by version. The primary hands
// secondaries the whole root chain (docs/uptane-conformance.md 6.1 step 6), so they can follow
// rotations they missed; the ordinary store keeps only the latest root.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import type { MetadataStore } from '../shared/client/metadata-store.js';
import { parseMetadata } from '../shared/core/metadata/parse.js';

export class RootHistoryStore implements MetadataStore {
  constructor(private readonly inner: MetadataStore, private readonly historyDir: string) {
    mkdirSync(historyDir, { recursive: true });
  }

  load(role: string): Uint8Array | undefined {
    return this.inner.load(role);
  }

  persist(role: string, bytes: Uint8Array): void {
    this.inner.persist(role, bytes);
    // Only verified roots reach persist(), so the history holds only verified roots.
    if (role === 'root') writeFileAtomic(join(this.historyDir, `${parseMetadata(bytes, 'root').signed.version}.root.json`), bytes);
  }

  remove(role: string): void {
    this.inner.remove(role);
  }

  /** Every root version kept, oldest first. */
  rootHistory(): Array<[number, Uint8Array]> {
    return readdirSync(this.historyDir)
      .map((name) => /^(\d+)\.root\.json$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m): [number, Uint8Array] => [Number(m[1]), readFileSync(join(this.historyDir, m[0]))])
      .sort((a, b) => a[0] - b[0]);
  }
}
