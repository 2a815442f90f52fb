// A metadata store that holds an update cycle's writes back until the whole cycle verified: the
// updaters persist each file as it passes its own checks, but Uptane's later checks (Director
// targets rules, the Director-Image match, the image itself) can still fail, and then the previous
// trusted metadata must stay as it was (docs/uptane-conformance.md 6.4 and 7.2 step 3;
// docs/threat-model.md C11, tough CVE-2025-2888: metadata kept from a failed cycle can freeze the
// client). ECUs of both kinds use it.
import type { MetadataStore } from './metadata-store.js';

export class StagedMetadataStore implements MetadataStore {
  /** Writes and removals in order (a root walk persists several roots; each must reach the inner store). */
  private staged: Array<{ readonly role: string; readonly bytes: Uint8Array | undefined }> = [];

  constructor(private readonly inner: MetadataStore) {}

  load(role: string): Uint8Array | undefined {
    for (let i = this.staged.length - 1; i >= 0; i--) if (this.staged[i]!.role === role) return this.staged[i]!.bytes;
    return this.inner.load(role);
  }

  persist(role: string, bytes: Uint8Array): void {
    this.staged.push({ role, bytes: Uint8Array.from(bytes) });
  }

  remove(role: string): void {
    this.staged.push({ role, bytes: undefined });
  }

  /** True if writes are waiting. */
  get isDirty(): boolean {
    return this.staged.length > 0;
  }

  /** The cycle verified: apply every staged write to the inner store, in order. */
  commit(): void {
    const staged = this.staged;
    this.staged = [];
    for (const { role, bytes } of staged) {
      if (bytes === undefined) this.inner.remove(role);
      else this.inner.persist(role, bytes);
    }
  }

  /** The cycle failed: forget every staged write. */
  discard(): void {
    this.staged = [];
  }
}
