// @peculiar/x509 registers its algorithm providers through tsyringe, which refuses to load unless
// `Reflect.getMetadata` exists. The providers take no constructor parameters, so a minimal
// metadata store is enough; a real `reflect-metadata` loaded first is left in place.
// Imported for its effect only, before '@peculiar/x509' (docs/decisions.md "TLS").

type MetadataKey = unknown;
type Target = object;

interface ReflectWithMetadata {
  getMetadata?: unknown;
}

const store = new WeakMap<Target, Map<string | symbol | undefined, Map<MetadataKey, unknown>>>();

function own(target: Target, property: string | symbol | undefined, create: boolean): Map<MetadataKey, unknown> | undefined {
  let byProperty = store.get(target);
  if (byProperty === undefined) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let entries = byProperty.get(property);
  if (entries === undefined && create) {
    entries = new Map();
    byProperty.set(property, entries);
  }
  return entries;
}

function lookup(key: MetadataKey, target: Target, property?: string | symbol): unknown {
  for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
    const entries = own(t, property, false);
    if (entries?.has(key)) return entries.get(key);
  }
  return undefined;
}

if (typeof (Reflect as ReflectWithMetadata).getMetadata !== 'function') {
  const define = (key: MetadataKey, value: unknown, target: Target, property?: string | symbol): void => {
    own(target, property, true)?.set(key, value);
  };
  Object.assign(Reflect, {
    defineMetadata: define,
    getMetadata: lookup,
    getOwnMetadata: (key: MetadataKey, target: Target, property?: string | symbol): unknown => own(target, property, false)?.get(key),
    hasMetadata: (key: MetadataKey, target: Target, property?: string | symbol): boolean => lookup(key, target, property) !== undefined,
    metadata: (key: MetadataKey, value: unknown) => (target: Target, property?: string | symbol): void => define(key, value, target, property),
  });
}

export {};
