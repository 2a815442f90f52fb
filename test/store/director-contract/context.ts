// What every group of contract cases gets: the backend under test and stores opened on it, each
// closed and its place removed after its case (the suite's afterEach), whichever way the case ended.
import type { Backend, ContractStore, OpenedStore } from './backends.js';

export interface ContractContext {
  readonly backend: Backend;
  /** A new, empty store. */
  fresh(): Promise<ContractStore>;
  /** The store kept at `place` (Backend.place), opened again or for the first time. */
  open(place: string): Promise<OpenedStore>;
}

export function contractContext(backend: Backend): ContractContext & { closeAll(): Promise<void> } {
  const opened: OpenedStore[] = [];
  const open = async (place: string): Promise<OpenedStore> => {
    const store = await backend.open(place);
    let closing: Promise<void> | undefined;
    // Idempotent: a case may close a store itself to open its place again.
    const handle = { store: store.store, close: () => (closing ??= store.close()) };
    opened.push(handle);
    return handle;
  };
  return {
    backend,
    open,
    fresh: async () => (await open(backend.place())).store,
    closeAll: async () => {
      await Promise.all(opened.splice(0).map((o) => o.close()));
      await backend.discardPlaces();
    },
  };
}
