// Request generators, one per route of the route table (GENERATORS below, keyed like the table).
// Each starts from a valid-looking request of its route (the right method, path, credential and a
// body of the expected shape) and mutates it: path segments percent-encoded, double-encoded, with
// bad escapes, unicode, very long; query strings with odd numbers and arrays; other methods,
// content types, encodings and Content-Length lies; missing, wrong or truncated credentials; JSON
// bodies with wrong types, huge arrays, deep nesting, unknown fields and __proto__ keys; raw bytes.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { CAMPAIGN, GROUP, IMAGE_CONTENT, IMAGE_NAME, KEYS, VIN_A, VIN_B } from './fuzz-servers.js';
import {
  COUNTER,
  FUTURE,
  IMAGE_LENGTH,
  IMAGE_SHA256,
  IMAGE_SHA512,
  KEY_PREFIX,
  KEYID_PREFIX,
  TARGETS_VERSION,
  DEEP_PREFIX,
  fuzzKey,
  HUGE_PREFIX,
  HUGE_OBJECT_PREFIX,
  NOW,
  PAST,
  type AuthKind,
  type BodySpec,
  type Encoding,
  type FuzzRequest,
  type LengthMode,
  type ServerName,
} from './requests.js';

const IMAGE_SHA = createHash('sha256').update(IMAGE_CONTENT).digest('hex');

// --- Paths ---------------------------------------------------------------------------------------

const ODD_NUMBERS = ['1.5', '-1', '0x1', '1e309', '-0', 'NaN', 'Infinity', '9007199254740993', '1e3', '0', '00', '+1', '1,2', '%31', '\uff11', ''];
const BAD_ESCAPES = ['%', '%zz', '%E0%A4%A', '%C0%AF', '%ff', '%00', '%2e%2e', '%2F', '%252F', '%%41', '%u0041', '%F0%9F%98', '%ED%A0%80'];
const TRICKY = ['..', '.', '..%2f..%2fetc%2fpasswd', '~', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'prototype', 'null', 'undefined'];

const percentAll = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
/** Characters that would break the request line are sent percent-encoded; other non-ASCII stays raw UTF-8. */
const lineSafe = (s: string) => s.replace(/[\x00-\x20\x7f#?]/g, (c) => percentAll(c));

/** A malformed escape, as sent or percent-encoded once more (so it is malformed after one decoding: HR-1). */
const badEscape = fc.oneof(fc.constantFrom(...BAD_ESCAPES), fc.constantFrom(...BAD_ESCAPES).map(percentAll));

/** One path segment: mostly a value the route knows, otherwise mutated. */
export function segment(valid: readonly string[]): fc.Arbitrary<string> {
  const known = fc.constantFrom(...valid);
  return fc.oneof(
    { weight: 30, arbitrary: known },
    { weight: 2, arbitrary: known.map(percentAll) },
    { weight: 1, arbitrary: known.map((v) => percentAll(percentAll(v))) },
    { weight: 2, arbitrary: badEscape },
    // Inside the known value, so a suffix or prefix test (".json", a version number) still matches.
    { weight: 2, arbitrary: fc.tuple(known, badEscape, fc.nat()).map(([v, b, at]) => v.slice(0, at % (v.length + 1)) + b + v.slice(at % (v.length + 1))) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => encodeURIComponent(s)) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map(lineSafe) },
    { weight: 1, arbitrary: fc.constantFrom(...ODD_NUMBERS).map(lineSafe) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => 'a'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom(...TRICKY) },
  );
}

const queryValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ODD_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom('1', '10', '100', '1000', '1001', VIN_A, VIN_B) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_ESCAPES) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => encodeURIComponent(s)) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 5000 }).map((n) => '9'.repeat(n)) },
);

/** A query string on the route's known keys and some it does not know, arrays and objects included. */
export function query(keys: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...(keys.length > 0 ? keys : ['limit'])) },
    { weight: 1, arbitrary: fc.constantFrom(...(keys.length > 0 ? keys : ['limit'])).map((k) => `${k}[]`) },
    { weight: 1, arbitrary: fc.constantFrom(...(keys.length > 0 ? keys : ['limit'])).map((k) => `${k}[x]`) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', '__proto__[polluted]', 'x', '') },
  );
  return fc.oneof(
    { weight: keys.length > 0 ? 4 : 8, arbitrary: fc.constant('') },
    { weight: keys.length > 0 ? 4 : 1, arbitrary: fc.array(fc.tuple(key, queryValue), { minLength: 1, maxLength: 4 }).map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`) },
    { weight: 1, arbitrary: fc.constantFrom('?', '??', '?&&', '?=', '?limit', '?limit=1&limit=2') },
  );
}

/** The path with a query and, sometimes, a mangled shape (trailing or doubled slash, case, fragment). */
function withShape(path: fc.Arbitrary<string>, queryKeys: readonly string[]): fc.Arbitrary<string> {
  return fc.tuple(path, query(queryKeys), fc.oneof({ weight: 20, arbitrary: fc.constant('plain') }, { weight: 1, arbitrary: fc.constantFrom('trailing-slash', 'double-slash', 'upper', 'fragment', 'dot-segment') }))
    .map(([p, q, shape]) => {
      switch (shape) {
        case 'trailing-slash':
          return `${p}/${q}`;
        case 'double-slash':
          return `/${p}${q}`;
        case 'upper':
          return `${p.toUpperCase()}${q}`;
        case 'fragment':
          return `${p}${q}#frag`;
        case 'dot-segment':
          return `/x/..${p}${q}`;
        default:
          return `${p}${q}`;
      }
    });
}

// --- JSON bodies: a template of the expected shape, then mutated ----------------------------------

type Json = unknown;

const WRONG_VALUES: Json[] = [null, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 2, true, false, '', 'x', [], {}, [1, 2, 3], 'a'.repeat(5000), '\ud800', '\u0000', '\u202e', '<script>', '1e309', '-0'];

type Mutation =
  | { kind: 'replace'; at: number; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: Json }
  | { kind: 'huge-array'; at: number; size: number }
  | { kind: 'huge-object'; at: number; size: number }
  | { kind: 'deep'; at: number; depth: number }
  | { kind: 'stringify'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: fc.constantFrom(...WRONG_VALUES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      at: fc.nat(),
      key: fc.constantFrom('__proto__', 'constructor', 'prototype', 'unknownField', 'toString', 'hasOwnProperty', ''),
      value: fc.constantFrom<Json>({ polluted: true }, { prototype: { polluted: true } }, 1, 'x', null),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge-array' as const), at: fc.nat(), size: fc.integer({ min: 1000, max: 50_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge-object' as const), at: fc.nat(), size: fc.integer({ min: 100, max: 5000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deep' as const), at: fc.nat(), depth: fc.integer({ min: 100, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stringify' as const), at: fc.nat() }) },
);

function defineOwn(target: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function clone(value: Json): Json {
  if (Array.isArray(value)) return value.map(clone);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) defineOwn(out, k, clone(v));
    return out;
  }
  return value;
}

/** Every place in `value` (as parent and key), the root first; bounded. */
function places(value: Json): Array<{ parent: Record<string, Json> | Json[] | undefined; key: string | number }> {
  const out: Array<{ parent: Record<string, Json> | Json[] | undefined; key: string | number }> = [{ parent: undefined, key: '' }];
  const walk = (v: Json, depth: number) => {
    if (out.length > 200 || depth > 8 || typeof v !== 'object' || v === null) return;
    for (const [k, child] of Object.entries(v)) {
      out.push({ parent: v as Record<string, Json>, key: Array.isArray(v) ? Number(k) : k });
      walk(child, depth + 1);
    }
  };
  walk(value, 0);
  return out;
}

function applyMutation(root: Json, m: Mutation): Json {
  const all = places(root);
  const place = all[m.at % all.length]!;
  const current = place.parent === undefined ? root : (place.parent as Record<string, Json>)[place.key as string];
  let next: Json;
  switch (m.kind) {
    case 'replace':
      next = clone(m.value);
      break;
    case 'delete':
      if (place.parent === undefined) return root;
      if (Array.isArray(place.parent)) place.parent.splice(place.key as number, 1);
      else delete (place.parent as Record<string, Json>)[place.key as string];
      return root;
    case 'add':
      if (typeof current === 'object' && current !== null && !Array.isArray(current)) {
        defineOwn(current as Record<string, Json>, m.key, clone(m.value));
        return root;
      }
      next = current;
      break;
    // Both built when the request is sent (placeholders): as values here they would be printed,
    // compared and shrunk by fast-check, whose recursion a 3,000-deep value overflows.
    case 'huge-array':
      next = `${HUGE_PREFIX}${m.size}`;
      break;
    case 'huge-object': // many keys: a filter of 1,100 attribute terms (HR-9b)
      next = `${HUGE_OBJECT_PREFIX}${m.size}`;
      break;
    case 'deep':
      next = `${DEEP_PREFIX}${m.depth}`;
      break;
    case 'stringify':
      next = JSON.stringify(current) ?? 'undefined';
      break;
  }
  if (place.parent === undefined) return next;
  if (Array.isArray(place.parent)) place.parent[place.key as number] = next;
  else defineOwn(place.parent as Record<string, Json>, place.key as string, next);
  return root;
}

/** The template, unmutated most of the time (valid requests go deep), else with 1-3 mutations. */
export function mutated<T>(template: fc.Arbitrary<T>): fc.Arbitrary<Json> {
  return fc.tuple(template, fc.oneof({ weight: 3, arbitrary: fc.constant([] as Mutation[]) }, { weight: 2, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }))
    .map(([value, mutations]) => mutations.reduce<Json>((v, m) => applyMutation(v, m), clone(value)));
}

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });
/** Drops the keys whose value is undefined (fc.record needs them present, JSON omits them anyway). */
const compact = <T extends Record<string, unknown>>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Raw bodies that are not what the route expects: truncated JSON, bytes, deep text, empty. */
const rawBody: fc.Arbitrary<BodySpec> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((b): BodySpec => ({ kind: 'bytes', bytes: [...b] })),
  fc.constantFrom('', 'null', '[]', '{}', '"x"', '1e309', '{"a":', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '\ufeff{}', '{"a":1,"a":2}', 'NaN').map((text): BodySpec => ({ kind: 'text', text })),
  fc.integer({ min: 1000, max: 200_000 }).map((n): BodySpec => ({ kind: 'text', text: `${'['.repeat(n)}${']'.repeat(n)}` })),
  fc.jsonValue({ maxDepth: 4 }).map((value): BodySpec => ({ kind: 'json', value })),
);

function jsonBody(template: fc.Arbitrary<Json>): fc.Arbitrary<BodySpec> {
  return fc.oneof(
    { weight: 6, arbitrary: mutated(template).map((value): BodySpec => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: rawBody },
  );
}

// --- Shapes of the request bodies ----------------------------------------------------------------

const POOL_KEYS = Array.from({ length: 6 }, (_, i) => `fuzz/pool/${i}`);
const publicKey = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...POOL_KEYS).map((l) => `${KEY_PREFIX}${l}`) },
  { weight: 1, arbitrary: fc.constantFrom(`${KEY_PREFIX}${KEYS.primaryA}`, `${KEY_PREFIX}${KEYS.secondaryB}`, '00'.repeat(32), 'zz', '0'.repeat(63), 'ff'.repeat(32)) },
);
const freshVin = fc.nat(99_999).map((n) => `FZ${n}`);
const vin = fc.oneof({ weight: 3, arbitrary: freshVin }, { weight: 2, arbitrary: fc.constantFrom(VIN_A, VIN_B, 'NOPE', 'a b', 'x'.repeat(65)) });
const hardwareId = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('tcu-a', 'ecm-x1', 'abs-z') }, { weight: 1, arbitrary: fc.constantFrom('', '../x') });
const imageName = fc.constantFrom(IMAGE_NAME, IMAGE_NAME, 'fuzz/nope.bin', '../etc/passwd', '/abs.bin', 'fuzz\\x.bin', '');
// An ECU's security profile (docs/security-profiles.md): the three names, and names that are not.
const securityProfile = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('basic', 'standard', 'high') }, { weight: 1, arbitrary: fc.constantFrom<Json>('HIGH', 'ultra', '', 2, null, '__proto__') });

const registration = fc.record({
  vin,
  attributes: fc.constantFrom<Json>({ model: 'sedan' }, {}, { region: 'eu', model: 'suv' }, { n: 1 }),
  ecus: fc.array(
    fc.record({
      serial: fc.oneof({ weight: 4, arbitrary: fc.nat(99_999).map((n) => `fz-ecu-${n}`) }, { weight: 1, arbitrary: fc.constantFrom('tcu-1', 'ecm-1', 'ecm-2') }),
      hardwareId,
      publicKey,
      securityProfile,
    }, { requiredKeys: ['serial', 'hardwareId', 'publicKey'] }),
    { minLength: 1, maxLength: 4 },
  ).map((ecus) => ecus.map((ecu, i) => ({ ...ecu, primary: i === 0 }))), // one primary, as registrations have
});

const replacement = fc.record(
  { serial: fc.oneof(fc.nat(99_999).map((n) => `fz-ecu-${n}`), fc.constantFrom('ecm-2', 'tcu-1')), hardwareId, publicKey, securityProfile },
  { requiredKeys: ['serial', 'hardwareId', 'publicKey'] },
);
// PUT /vehicles/:vin/ecus/:serial/profile: a profile, sometimes not one, sometimes with more beside it.
const ecuProfileChange = fc.record({ securityProfile, note: fc.string({ maxLength: 8 }) }, { requiredKeys: [] });

// PATCH /vehicles/:vin/attributes: names set and removed, sometimes both, sometimes neither (refused).
const attributeChange = fc.record(
  { set: fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 24 }), { maxKeys: 6 }), remove: fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }) },
  { requiredKeys: [] },
);

// POST /inventory/lookup: lists of VINs, serials and keyids, known or not, sometimes of the wrong type.
const inventoryLookup = fc.record(
  {
    vins: fc.array(fc.constantFrom(VIN_A, VIN_B, 'NOPE', ''), { maxLength: 4 }),
    serials: fc.array(fc.constantFrom('ecm-1', 'tcu-1', 'tcu-2', 'nope', '__proto__'), { maxLength: 4 }),
    keyids: fc.array(fc.oneof(fc.constantFrom('0'.repeat(64)), fc.string({ maxLength: 70 })), { maxLength: 3 }),
  },
  { requiredKeys: [] },
);

const assignment = fc.tuple(
  fc.oneof(fc.constantFrom(VIN_A, VIN_B, 'NOPE').map((v) => ({ vin: v })), fc.array(fc.constantFrom(VIN_A, VIN_B, 'NOPE'), { minLength: 1, maxLength: 3 }).map((vins) => ({ vins }))),
  fc.oneof(fc.constantFrom('ecm-1', 'tcu-1', 'ecm-2', 'nope').map((ecuSerial) => ({ ecuSerial })), fc.constantFrom('ecm-x1', 'tcu-a').map((hardwareId) => ({ hardwareId }))),
  imageName,
  optional(fc.boolean()),
).map(([target, ecu, image, dryRun]) => compact({ ...target, ...ecu, image, dryRun }));

/** POST /api/v1/install-bundles: members of one vehicle, known and unknown ECUs, repeated ones, too few. */
const installBundleBody = fc
  .tuple(
    fc.constantFrom(VIN_A, VIN_B, 'NOPE'),
    fc.array(fc.record({ ecuSerial: fc.constantFrom('ecm-1', 'tcu-1', 'ecm-2', 'nope', '__proto__'), image: imageName }), { maxLength: 4 }),
    optional(fc.boolean()),
  )
  .map(([vin, members, encrypt]) => compact({ vin, members, encrypt }));

const groupBody = fc.tuple(
  fc.oneof({ weight: 4, arbitrary: fc.nat(9999).map((n) => `fz-group-${n}`) }, { weight: 1, arbitrary: fc.constantFrom(GROUP, '', '../g') }),
  fc.oneof(
    fc.array(fc.constantFrom(VIN_A, VIN_B, 'NOPE'), { maxLength: 3 }).map((vins) => ({ vins })),
    fc.record({
      attributes: optional(fc.constantFrom<Json>({ model: 'sedan' }, { region: 'eu' }, {})),
      hardwareId: optional(fc.constantFrom('ecm-x1', 'tcu-a')),
      installedImage: optional(imageName),
    }).map((filter) => ({ filter: compact(filter) })),
  ),
).map(([name, members]) => ({ name, ...members }));

const share = fc.constantFrom(0.001, 0.1, 0.5, 1, 1, 1, 0, 1.5, -1, 1e-300);
const durationMs = fc.constantFrom(0, 1, 1000, 3_600_000, 86_400_000, -1, 1.5, 2 ** 53);
const stage = fc.record({
  share,
  count: optional(fc.constantFrom(0, 1, 2, 20, -1, 1.5)),
  startAfterMs: optional(durationMs),
  minSoakMs: optional(durationMs),
  successThreshold: optional(fc.constantFrom(0, 0.5, 0.95, 1, 2)),
}).map(compact);
/** Exactly one way to give the stages, as the API asks (a mutation may add a second). */
const stagesBody = fc.oneof(
  { weight: 3, arbitrary: fc.array(stage, { minLength: 1, maxLength: 5 }).map((stages) => ({ stages })) },
  { weight: 1, arbitrary: fc.constantFrom('white-paper', 'nope').map((preset) => ({ preset })) },
  {
    weight: 2,
    arbitrary: fc.record({ first: fc.constantFrom(0, 0.01, 0.5, 1, -1, 1e-300), factor: fc.constantFrom(0, 1, 1.0000001, 2, 4, -2, 1e300), minSoakMs: optional(durationMs) })
      .map((ramp) => ({ ramp: compact(ramp) })),
  },
);
const campaignBody = fc.record({
  name: fc.oneof({ weight: 4, arbitrary: fc.nat(9999).map((n) => `fz-campaign-${n}`) }, { weight: 1, arbitrary: fc.constantFrom(CAMPAIGN, '') }),
  group: fc.constantFrom(GROUP, GROUP, 'nope'),
  images: fc.array(fc.record({ hardwareId, image: imageName }), { minLength: 1, maxLength: 2 }),
  stagesBody,
  halt: optional(fc.record({
    maxFailureRate: optional(fc.constantFrom(0, 0.1, 1, 2, -1)),
    minSample: optional(fc.constantFrom(0, 1, 5, -1, 1.5)),
    maxFailures: optional(fc.constantFrom(0, 1, 10, -1)),
    onAttack: optional(fc.boolean()),
  }).map(compact)),
  includeNewVehicles: optional(fc.boolean()),
  maintenanceWindow: optional(fc.record({ startHour: fc.constantFrom(0, 1, 5, 23, 24, -1, 1.5), endHour: fc.constantFrom(0, 5, 23, 24, 25) })),
}).map(({ stagesBody: stages, ...rest }) => compact({ ...rest, ...stages }));

const expires = fc.constantFrom<Json>(FUTURE, FUTURE, PAST, '2030-01-01', 'never', 0);
const metadataVersion = fc.constantFrom<Json>(1, 2, 2, 3, 0, -1, 1.5, 2 ** 53);

/** A root naming pool keys (not the servers' online keys), signed by the right root key or another. */
function rootEnvelope(rootKey: string): fc.Arbitrary<BodySpec> {
  const roleKeys = fc.constantFrom(...POOL_KEYS);
  return fc.tuple(mutated(fc.record({ version: metadataVersion, expires, key: roleKeys })), fc.constantFrom([rootKey], [rootKey], [], ['fuzz/pool/0'], [rootKey, rootKey]))
    .map(([raw, signers]): BodySpec => {
      const { version, expires: exp, key } = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, Json>;
      const label = typeof key === 'string' ? key : 'fuzz/pool/0';
      const keyid = `${KEYID_PREFIX}${label}`;
      return {
        kind: 'envelope',
        signed: {
          _type: 'root',
          spec_version: SPEC_VERSION,
          version,
          expires: exp,
          consistent_snapshot: true,
          keys: { [keyid]: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: `${KEY_PREFIX}${label}` } } },
          roles: Object.fromEntries(['root', 'targets', 'snapshot', 'timestamp'].map((r) => [r, { keyids: [keyid], threshold: 1 }])),
        },
        signers,
      };
    });
}

const targetsEnvelope: fc.Arbitrary<BodySpec> = fc.tuple(
  mutated(fc.record({
    _type: fc.constantFrom('targets', 'targets', 'root'),
    spec_version: fc.constant(SPEC_VERSION),
    version: metadataVersion,
    expires,
    targets: fc.constantFrom<Json>(
      { [IMAGE_NAME]: { length: IMAGE_LENGTH, hashes: { sha256: IMAGE_SHA256, sha512: IMAGE_SHA512 }, custom: { hardwareIds: ['ecm-x1'], releaseCounter: 1 } } },
      { [IMAGE_NAME]: { length: 1, hashes: { sha256: IMAGE_SHA256 } } },
      { 'fuzz/missing.bin': { length: 5, hashes: { sha256: 'ab'.repeat(32) } } },
      { '../escape.bin': { length: IMAGE_LENGTH, hashes: { sha256: IMAGE_SHA256 } } },
      {},
    ),
    delegations: optional(fc.constantFrom<Json>(
      { keys: {}, roles: [{ name: 'acme', keyids: [], threshold: 1, paths: ['acme/*'], terminating: false }] },
      { keys: {}, roles: [] },
      { roles: 'x' },
    )),
  }).map(compact)),
  fc.constantFrom([KEYS.imageTargets], [KEYS.imageTargets], [KEYS.imageTargets], [KEYS.imageRoot], [], ['fuzz/pool/1']),
).map(([signed, signers]): BodySpec => ({ kind: 'envelope', signed, signers }));

const FACTORY_IMAGE: Json = { filename: 'ecm/factory.bin', length: 13, hashes: { sha256: createHash('sha256').update('factory image').digest('hex') } };

const reportTemplate = (serial: string) =>
  fc.record({
    _type: fc.constant('ecu_version_report'),
    ecu_serial: fc.constantFrom(serial, serial, serial, 'ecm-2', 'nope'),
    installed_image: fc.constantFrom<Json>(
      { filename: IMAGE_NAME, length: IMAGE_LENGTH, hashes: { sha256: IMAGE_SHA256 } },
      FACTORY_IMAGE,
      { filename: '../etc/passwd', length: 1, hashes: { sha256: 'ab' } },
    ),
    attacks_detected: fc.constantFrom<Json>([], [], [{ code: 'hash_mismatch', message: 'fuzz' }], Array.from({ length: 17 }, () => ({ code: 'x', message: 'y' }))),
    report_time: fc.constantFrom<Json>(NOW, NOW, PAST, FUTURE, 'garbage'),
    report_counter: fc.constantFrom<Json>(COUNTER, COUNTER, COUNTER, 0, 1, -1, 1.5, 2 ** 53),
    last_install: optional(fc.record({ filename: imageName, status: fc.constantFrom('installed', 'failed', 'rolled_back', 'exploded') })),
  }).map(compact);

const serialSigner: Record<string, string> = { 'tcu-1': KEYS.primaryA, 'ecm-1': KEYS.secondaryA, 'tcu-2': KEYS.primaryB, 'ecm-2': KEYS.secondaryB, nope: 'fuzz/pool/2' };

const manifestBody: fc.Arbitrary<BodySpec> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      signed: mutated(fc.record({
        _type: fc.constantFrom('vehicle_version_manifest', 'vehicle_version_manifest', 'ecu_version_report'),
        vin: fc.constantFrom(VIN_A, VIN_A, VIN_A, VIN_B, 'NOPE'),
        primary_ecu_serial: fc.constantFrom('tcu-1', 'tcu-1', 'ecm-1', 'nope'),
        vehicle_state: optional(fc.constantFrom('parked', 'driving', 'flying')),
      }).map(compact)),
      reports: fc.oneof(
        { weight: 4, arbitrary: fc.tuple(mutated(reportTemplate('tcu-1')), mutated(reportTemplate('ecm-1'))).map(([a, b]) => [{ serial: 'tcu-1', signed: a }, { serial: 'ecm-1', signed: b }]) },
        { weight: 1, arbitrary: fc.array(fc.constantFrom('tcu-1', 'ecm-1', 'ecm-2', 'nope', '__proto__').chain((s) => mutated(reportTemplate(s)).map((signed) => ({ serial: s, signed }))), { maxLength: 4 }) },
      ).chain((reports) =>
        fc.tuple(...reports.map((r) => fc.constantFrom(serialSigner[r.serial] ?? 'fuzz/pool/2', serialSigner[r.serial] ?? 'fuzz/pool/2', '', KEYS.primaryA))).map((signers) =>
          reports.map((r, i) => ({ ...r, signer: signers[i]! })),
        ),
      ),
      signer: fc.constantFrom(KEYS.primaryA, KEYS.primaryA, KEYS.primaryA, KEYS.secondaryA, ''),
    }).map((m): BodySpec => ({ kind: 'manifest', signed: (typeof m.signed === 'object' && m.signed !== null ? m.signed : { value: m.signed }) as Record<string, unknown>, reports: m.reports, signer: m.signer })),
  },
  { weight: 1, arbitrary: rawBody },
);

const uploadBody: fc.Arbitrary<BodySpec> = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((b): BodySpec => ({ kind: 'bytes', bytes: [...b] })),
  fc.constant<BodySpec>({ kind: 'bytes', bytes: [...IMAGE_CONTENT] }),
  fc.constant<BodySpec>({ kind: 'none' }),
);

// --- Honest bodies: what a correct client sends, so accepted requests change state ---------------
// Requests are sent honest (right method, credential, encoding, length and one of these bodies) a
// third of the time: with every part mutated independently, almost none would be accepted, and
// the state a refused request must not change would never grow.

const freshKey = fc.nat(1_000_000_000).map((n) => `${KEY_PREFIX}fuzz/fresh/${n}`);
const freshName = (prefix: string) => fc.nat(1_000_000_000).map((n) => `${prefix}${n}`);
const json = (arb: fc.Arbitrary<Json>) => arb.map((value): BodySpec => ({ kind: 'json', value }));

const honestRegistration = json(
  fc.tuple(freshName('FZV'), fc.array(fc.tuple(freshName('fz-ecu-'), fc.constantFrom('tcu-a', 'ecm-x1', 'abs-z'), freshKey), { minLength: 1, maxLength: 3 }))
    .map(([v, ecus]) => ({ vin: v, attributes: { model: 'sedan', region: 'eu' }, ecus: ecus.map(([serial, hw, key], i) => ({ serial, hardwareId: hw, publicKey: key, primary: i === 0 })) })),
);
const honestReplacement = json(fc.tuple(freshName('fz-ecu-'), freshKey).map(([serial, key]) => ({ serial, hardwareId: 'ecm-x1', publicKey: key })));
const honestAssignment = json(
  fc.oneof(
    fc.constantFrom(VIN_A, VIN_B).map((v) => ({ vin: v, hardwareId: 'ecm-x1', image: IMAGE_NAME })),
    fc.constant({ vin: VIN_A, ecuSerial: 'ecm-1', image: IMAGE_NAME }),
    fc.constant({ vins: [VIN_A, VIN_B], hardwareId: 'ecm-x1', image: IMAGE_NAME, dryRun: true }),
  ),
);
const honestInstallBundle = json(fc.constant({ vin: VIN_A, members: [{ ecuSerial: 'ecm-1', image: IMAGE_NAME }, { ecuSerial: 'tcu-1', image: IMAGE_NAME }] }));
const honestGroup = json(
  fc.tuple(freshName('fz-group-'), fc.boolean()).map(([name, byVin]) => (byVin ? { name, vins: [VIN_A, VIN_B] } : { name, filter: { hardwareId: 'ecm-x1', attributes: { model: 'sedan' } } })),
);
const honestCampaign = json(
  fc.tuple(freshName('fz-campaign-'), fc.constantFrom<Json>({ stages: [{ share: 0.5 }, { share: 1 }] }, { ramp: { first: 0.5, factor: 2 } }, { preset: 'white-paper' }, { stages: [{ count: 1, minSoakMs: 3_600_000 }, { share: 1 }] }))
    .map(([name, stages]) => ({ name, group: GROUP, images: [{ hardwareId: 'ecm-x1', image: IMAGE_NAME }], ...(stages as object) })),
);
const honestTargets = fc.constant<BodySpec>({
  kind: 'envelope',
  signed: {
    _type: 'targets',
    spec_version: SPEC_VERSION,
    version: TARGETS_VERSION,
    expires: FUTURE,
    targets: { [IMAGE_NAME]: { length: IMAGE_LENGTH, hashes: { sha256: IMAGE_SHA256, sha512: IMAGE_SHA512 }, custom: { hardwareIds: ['ecm-x1'], releaseCounter: 1 } } },
  },
  signers: [KEYS.imageTargets],
});
const honestReport = (serial: string, installed: Json) => ({
  serial,
  signer: serialSigner[serial]!,
  signed: { _type: 'ecu_version_report', ecu_serial: serial, installed_image: installed, attacks_detected: [], report_time: NOW, report_counter: COUNTER },
});
const honestManifest = fc.tuple(fc.constantFrom('parked', 'driving'), fc.constantFrom<Json>(FACTORY_IMAGE, { filename: IMAGE_NAME, length: IMAGE_LENGTH, hashes: { sha256: IMAGE_SHA256 } }))
  .map(([state, ecm]): BodySpec => ({
    kind: 'manifest',
    signed: { _type: 'vehicle_version_manifest', vin: VIN_A, primary_ecu_serial: 'tcu-1', vehicle_state: state },
    reports: [honestReport('tcu-1', FACTORY_IMAGE), honestReport('ecm-1', ecm)],
    signer: KEYS.primaryA,
  }));

// --- Route generators --------------------------------------------------------------------------

export interface RouteGenerator {
  readonly server: ServerName;
  readonly method: string;
  readonly auth: AuthKind;
  readonly path: fc.Arbitrary<string>;
  readonly body: fc.Arbitrary<BodySpec>;
  /** What a correct client sends (defaults to `body`). */
  readonly honestBody?: fc.Arbitrary<BodySpec>;
  readonly contentType?: string;
  readonly headers?: fc.Arbitrary<Array<[string, string]>>;
}

const none = fc.constant<BodySpec>({ kind: 'none' });
const fixed = (p: string) => fc.constant(p);
const seg1 = (prefix: string, valid: readonly string[], suffix = '') => segment(valid).map((s) => `${prefix}${s}${suffix}`);

const ranges = fc.array(
  fc.tuple(
    fc.constantFrom('Range', 'If-None-Match', 'If-Range', 'If-Modified-Since'),
    fc.constantFrom('bytes=0-1', 'bytes=-5', 'bytes=5-1', 'bytes=0-', 'bytes=99999999999999999999-', 'bytes=0-1,2-3', 'bytes=1.5-2', 'bytes=-0', 'items=0-1', 'bytes=0x1-2', `"${IMAGE_SHA}"`, '*', 'W/"x"', 'garbage'),
  ),
  { maxLength: 2 },
);

/** Assignment ids: the ones a run creates, spelled canonically or loosely (0x1, 1.0, +1, 01, 1e0: HR-9d), or mutated. */
const assignmentId = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 40 }).map(String) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 40 }), fc.constantFrom('hex', 'decimal-point', 'plus', 'zero', 'exponent', 'space'))
      .map(([n, form]) => ({ hex: `0x${n.toString(16)}`, 'decimal-point': `${n}.0`, plus: `%2B${n}`, zero: `0${n}`, exponent: `${n}e0`, space: `%20${n}` })[form]),
  },
  { weight: 1, arbitrary: segment(['1', '2', '3']) },
);

const METADATA_FILES = ['timestamp.json', 'snapshot.json', 'targets.json', 'root.json', '1.root.json', '2.root.json', '0.root.json', '1.snapshot.json', '1.targets.json', '2.targets.json', '1.timestamp.json', '999999999999999.root.json', '1000000000000000.root.json', 'acme.json', '1.acme.json', '1e3.root.json'];

/** Encrypted images by name: well-formed (none is assigned to the fuzzer's vehicles), the plain image's hash, and near misses. */
const CIPHERTEXT_FILES = [`${'0'.repeat(64)}.enc`, `${IMAGE_SHA}.enc`, IMAGE_SHA, `${IMAGE_SHA}.ENC`, `${IMAGE_SHA.toUpperCase()}.enc`, `${'0'.repeat(63)}.enc`, '.enc', 'x.enc'];
/** Deltas by name (director-repo/image-deltas.ts): well-formed pairs no vehicle of the fuzzer is assigned, and near misses (traversal, case, one side short). */
const DELTA_FILES = [
  `${'0'.repeat(64)}-${IMAGE_SHA}.delta`,
  `${IMAGE_SHA}-${IMAGE_SHA}.delta`,
  `${IMAGE_SHA}.delta`,
  `${IMAGE_SHA.toUpperCase()}-${'0'.repeat(64)}.delta`,
  `${'0'.repeat(63)}-${IMAGE_SHA}.delta`,
  `../${IMAGE_SHA}-${IMAGE_SHA}.delta`,
  '-.delta',
];

/** The query parameters of a signed URL (shared/server/signed-urls.ts). */
const SIGNED_URL_KEYS = ['vin', 'expires', 'keyid', 'sig', 'scope', 'prefix'];

/** POST /vehicle/image-urls: the assigned image, another one, odd names. */
const imageUrlsBody = fc.array(imageName, { maxLength: 4 }).map((filenames): Json => ({ filenames }));

/** POST /api/v1/online-keys/rotate: each server's online roles, offline and unknown ones, replace. */
const rotationBody = (roles: readonly string[]) =>
  fc
    .record({ roles: optional(fc.array(fc.constantFrom(...roles, 'root', 'url-signing', 'nope'), { maxLength: 4 })), replace: optional(fc.boolean()) })
    .map((body): Json => compact(body));

/**
 * The transparency log's routes (shared/transparency/routes.ts), mounted at /log on both servers:
 * queries from well-formed (a leaf hash, sizes) to odd (signs, leading zeros, repeats, unknown keys),
 * and a cosignature body shaped like the real one, mutated.
 */
const LEAF_HASHES = [IMAGE_SHA, '0'.repeat(64), IMAGE_SHA.toUpperCase(), IMAGE_SHA.slice(1), `${IMAGE_SHA}00`, 'zz'];
const logQuery = (keys: readonly string[], valid: Record<string, readonly string[]>) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.tuple(...keys.map((k) => fc.constantFrom(...valid[k]!))).map((values) => `?${keys.map((k, i) => `${k}=${values[i]}`).join('&')}`) },
    { weight: 2, arbitrary: query(keys) },
  );
const LOG_SIZES = ['0', '1', '2', '1000', '1001', '01', '-1', '9007199254740993', '99999999999999999999'];
const treeHeadJson = fc.record({
  signed: fc.record({
    _type: fc.constant('transparency-tree-head'),
    log: fc.constantFrom('uptane-ts image log', 'uptane-ts director log', ''),
    size: fc.constantFrom(0, 1, 2 ** 53),
    root_hash: fc.constantFrom('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', IMAGE_SHA),
    timestamp: fc.constantFrom(NOW, PAST, FUTURE, '2026-12-06T20:00:00Z'),
  }),
  signature: fc.record({ keyid: fc.constantFrom('00', IMAGE_SHA), sig: fc.constantFrom('00', 'ab'.repeat(64)) }),
  cosignatures: fc.array(fc.record({ keyid: fc.constantFrom('01', IMAGE_SHA), sig: fc.constant('cd'.repeat(64)) }), { maxLength: 2 }),
});
/** The witness the fuzz servers accept (fuzz-servers.ts logArgs), so a cosignature gets past the keyid check to the signatures'. */
const WITNESS_KEYID = fuzzKey('fuzz/witness').keyid;
const cosignatureBody = fc.record({ tree_head: treeHeadJson, cosignature: fc.record({ keyid: fc.constantFrom('01', IMAGE_SHA, WITNESS_KEYID), sig: fc.constant('ef'.repeat(64)) }) }).map((b): Json => b);

function logGenerators(server: ServerName): Record<string, RouteGenerator> {
  const get = (path: string, keys: readonly string[], valid: Record<string, readonly string[]>): RouteGenerator => ({
    server,
    method: 'GET',
    auth: 'none',
    path: fc.oneof({ weight: 3, arbitrary: logQuery(keys, valid).map((q) => `${path}${q}`) }, { weight: 1, arbitrary: withShape(fixed(path), keys) }),
    body: none,
  });
  return {
    'GET /log/tree-head': get('/log/tree-head', [], {}),
    'GET /log/entries': get('/log/entries', ['start', 'end'], { start: LOG_SIZES, end: LOG_SIZES }),
    'GET /log/proof/inclusion': get('/log/proof/inclusion', ['leaf_hash', 'tree_size'], { leaf_hash: LEAF_HASHES, tree_size: LOG_SIZES }),
    'GET /log/proof/consistency': get('/log/proof/consistency', ['first', 'second'], { first: LOG_SIZES, second: LOG_SIZES }),
    'POST /log/tree-head/cosignature': { server, method: 'POST', auth: 'none', path: withShape(fixed('/log/tree-head/cosignature'), []), body: jsonBody(cosignatureBody), contentType: 'application/json' },
  };
}

/** Every route of both tables, by server and "METHOD path" as route-table.ts reads them. */
export const GENERATORS: Record<ServerName, Record<string, RouteGenerator>> = {
  image: {
    ...logGenerators('image'),
    // Reads need a credential (`image serve` defaults to --read-access credential): the uploader's
    // token here; the signed-URL parameters in the query reach the verifier's parsing
    // (docs/signed-urls.md), and a refusal must change nothing.
    'GET /metadata/:file': { server: 'image', method: 'GET', auth: 'uploader', path: withShape(seg1('/metadata/', METADATA_FILES), SIGNED_URL_KEYS), body: none, headers: ranges },
    'GET /^\\/targets\\/(.+)$/': {
      server: 'image',
      method: 'GET',
      auth: 'uploader',
      path: withShape(fc.tuple(segment(['fuzz', 'fuzz/sub', '']), segment([`${IMAGE_SHA}.ecm-1.bin`, `${IMAGE_SHA}.`, `${'0'.repeat(64)}.x`, IMAGE_SHA])).map(([d, f]) => `/targets/${d}/${f}`), SIGNED_URL_KEYS),
      body: none,
      headers: ranges,
    },
    'GET /api/v1/online-keys': { server: 'image', method: 'GET', auth: 'none', path: withShape(fixed('/api/v1/online-keys'), []), body: none },
    'POST /api/v1/online-keys/rotate': { server: 'image', method: 'POST', auth: 'uploader', path: withShape(fixed('/api/v1/online-keys/rotate'), []), body: jsonBody(rotationBody(['snapshot', 'timestamp'])), contentType: 'application/json' },
    'POST /api/v1/images': { server: 'image', method: 'POST', auth: 'uploader', path: withShape(fixed('/api/v1/images'), []), body: uploadBody, honestBody: uploadBody.filter((b) => b.kind === 'bytes'), contentType: 'application/octet-stream' },
    'PUT /api/v1/metadata/root': {
      server: 'image',
      method: 'PUT',
      auth: 'uploader',
      path: withShape(fixed('/api/v1/metadata/root'), []),
      body: fc.oneof({ weight: 4, arbitrary: rootEnvelope(KEYS.imageRoot) }, { weight: 1, arbitrary: rawBody }),
      contentType: 'application/octet-stream',
    },
    'PUT /api/v1/metadata/targets/:role': {
      server: 'image',
      method: 'PUT',
      auth: 'uploader',
      path: withShape(seg1('/api/v1/metadata/targets/', ['targets', 'targets', 'acme', 'snapshot', 'root', 'timestamp', 'Targets']), []),
      body: fc.oneof({ weight: 4, arbitrary: targetsEnvelope }, { weight: 1, arbitrary: rawBody }),
      honestBody: honestTargets,
      contentType: 'application/octet-stream',
    },
  },
  director: {
    ...logGenerators('director'),
    'GET /metadata/:file': { server: 'director', method: 'GET', auth: 'none', path: withShape(seg1('/metadata/', METADATA_FILES), []), body: none },
    'POST /vehicle/session': { server: 'director', method: 'POST', auth: 'signed', path: withShape(fixed('/vehicle/session'), []), body: fc.oneof({ weight: 4, arbitrary: none }, { weight: 1, arbitrary: rawBody }) },
    'GET /vehicle/metadata/:file': { server: 'director', method: 'GET', auth: 'session', path: withShape(seg1('/vehicle/metadata/', METADATA_FILES), []), body: none },
    'GET /vehicle/images/:file': { server: 'director', method: 'GET', auth: 'session', path: withShape(seg1('/vehicle/images/', [...CIPHERTEXT_FILES, ...DELTA_FILES]), []), body: none, headers: ranges },
    'POST /vehicle/image-urls': { server: 'director', method: 'POST', auth: 'session', path: withShape(fixed('/vehicle/image-urls'), []), body: jsonBody(imageUrlsBody), honestBody: json(fc.array(fc.constantFrom(IMAGE_NAME, 'fuzz/nope.bin'), { maxLength: 3 }).map((filenames): Json => ({ filenames }))), contentType: 'application/json' },
    'POST /vehicle/manifest': { server: 'director', method: 'POST', auth: 'session', path: withShape(fixed('/vehicle/manifest'), []), body: manifestBody, honestBody: honestManifest, contentType: 'application/json' },
    'GET /api/v1/online-keys': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/online-keys'), []), body: none },
    'POST /api/v1/online-keys/rotate': {
      server: 'director',
      method: 'POST',
      auth: 'operator',
      path: withShape(fixed('/api/v1/online-keys/rotate'), []),
      body: jsonBody(rotationBody(['targets', 'snapshot', 'timestamp'])),
      contentType: 'application/json',
    },
    'PUT /api/v1/metadata/root': {
      server: 'director',
      method: 'PUT',
      auth: 'operator',
      path: withShape(fixed('/api/v1/metadata/root'), []),
      body: fc.oneof({ weight: 4, arbitrary: rootEnvelope(KEYS.directorRoot) }, { weight: 1, arbitrary: rawBody }),
      contentType: 'application/octet-stream',
    },
    'POST /api/v1/vehicles': { server: 'director', method: 'POST', auth: 'operator', path: withShape(fixed('/api/v1/vehicles'), []), body: jsonBody(registration), honestBody: honestRegistration, contentType: 'application/json' },
    'GET /api/v1/vehicles': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/vehicles'), ['limit', 'after', 'state', 'q']), body: none },
    'GET /api/v1/vehicles/:vin': { server: 'director', method: 'GET', auth: 'operator', path: withShape(seg1('/api/v1/vehicles/', [VIN_A, VIN_B, 'NOPE']), []), body: none },
    'POST /api/v1/vehicles/:vin/ecus/:serial/replace': {
      server: 'director',
      method: 'POST',
      auth: 'operator',
      // Vehicle A keeps its primary key (the harness signs as it); B's ECUs are replaced at will.
      path: withShape(fc.tuple(segment([VIN_B, 'NOPE']), segment(['tcu-2', 'ecm-2', 'nope'])).map(([v, s]) => `/api/v1/vehicles/${v}/ecus/${s}/replace`), []),
      body: jsonBody(replacement),
      honestBody: honestReplacement,
      contentType: 'application/json',
    },
    'PUT /api/v1/vehicles/:vin/ecus/:serial/profile': {
      server: 'director',
      method: 'PUT',
      auth: 'operator',
      path: withShape(fc.tuple(segment([VIN_A, VIN_B, 'NOPE']), segment(['ecm-1', 'tcu-1', 'tcu-2', 'ecm-2', 'nope'])).map(([v, s]) => `/api/v1/vehicles/${v}/ecus/${s}/profile`), []),
      body: jsonBody(ecuProfileChange),
      honestBody: json(securityProfile.map((p) => ({ securityProfile: p }))),
      contentType: 'application/json',
    },
    'POST /api/v1/inventory/lookup': { server: 'director', method: 'POST', auth: 'operator', path: withShape(fixed('/api/v1/inventory/lookup'), []), body: jsonBody(inventoryLookup), contentType: 'application/json' },
    // An offline bundle's Director metadata (director-repo/offline-bundle-export.ts): no body; a body sent anyway is not read.
    'POST /api/v1/vehicles/:vin/offline-metadata': {
      server: 'director',
      method: 'POST',
      auth: 'operator',
      path: withShape(seg1('/api/v1/vehicles/', [VIN_A, VIN_B, 'NOPE'], '/offline-metadata'), []),
      body: fc.oneof({ weight: 4, arbitrary: none }, { weight: 1, arbitrary: rawBody }),
    },
    'PATCH /api/v1/vehicles/:vin/attributes': {
      server: 'director',
      method: 'PATCH',
      auth: 'operator',
      path: withShape(seg1('/api/v1/vehicles/', [VIN_A, VIN_B, 'NOPE'], '/attributes'), []),
      body: jsonBody(attributeChange),
      contentType: 'application/json',
    },
    // The dashboard's bundle (director-repo/dashboard/static.ts): public files, no way out of dist/ui.
    'GET /ui': { server: 'director', method: 'GET', auth: 'none', path: withShape(fixed('/ui'), []), body: none },
    'GET /ui/': { server: 'director', method: 'GET', auth: 'none', path: withShape(fixed('/ui/'), []), body: none },
    'GET /ui/index.html': { server: 'director', method: 'GET', auth: 'none', path: withShape(fixed('/ui/index.html'), []), body: none },
    'GET /ui/assets/:file': { server: 'director', method: 'GET', auth: 'none', path: withShape(seg1('/ui/assets/', ['index.js', 'index.css', '..%2f..%2fpackage.json', '%2e%2e', 'nope.js']), []), body: none },
    'POST /api/v1/assignments': { server: 'director', method: 'POST', auth: 'operator', path: withShape(fixed('/api/v1/assignments'), []), body: jsonBody(assignment), honestBody: honestAssignment, contentType: 'application/json' },
    'DELETE /api/v1/assignments/:id': { server: 'director', method: 'DELETE', auth: 'operator', path: withShape(assignmentId.map((id) => `/api/v1/assignments/${id}`), []), body: none },
    'POST /api/v1/install-bundles': { server: 'director', method: 'POST', auth: 'operator', path: withShape(fixed('/api/v1/install-bundles'), []), body: jsonBody(installBundleBody), honestBody: honestInstallBundle, contentType: 'application/json' },
    'GET /api/v1/install-bundles/:id': { server: 'director', method: 'GET', auth: 'operator', path: withShape(assignmentId.map((id) => `/api/v1/install-bundles/${id}`), []), body: none },
    'GET /api/v1/audit': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/audit'), ['limit', 'before', 'actor', 'action']), body: none },
    'POST /api/v1/groups': { server: 'director', method: 'POST', auth: 'operator', path: withShape(fixed('/api/v1/groups'), []), body: jsonBody(groupBody), honestBody: honestGroup, contentType: 'application/json' },
    // The dashboard's (docs/dashboard.md): sign-in takes a token in the body, not a credential header.
    'POST /ui/api/session': { server: 'director', method: 'POST', auth: 'none', path: withShape(fixed('/ui/api/session'), []), body: jsonBody(fc.record({ token: fc.string({ maxLength: 80 }) })), contentType: 'application/json' },
    'GET /ui/api/session': { server: 'director', method: 'GET', auth: 'none', path: withShape(fixed('/ui/api/session'), []), body: none },
    'DELETE /ui/api/session': { server: 'director', method: 'DELETE', auth: 'none', path: withShape(fixed('/ui/api/session'), []), body: none },
    'GET /api/v1/fleet/overview': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/fleet/overview'), []), body: none },
    'GET /api/v1/vehicles/:vin/manifests': { server: 'director', method: 'GET', auth: 'operator', path: withShape(seg1('/api/v1/vehicles/', [VIN_A, VIN_B, 'NOPE'], '/manifests'), ['limit', 'before']), body: none },
    'GET /api/v1/attacks': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/attacks'), ['limit', 'before', 'vin']), body: none },
    'GET /api/v1/images': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/images'), ['limit', 'after']), body: none },
    // An event stream: the harness reads its head and closes it (requests.ts sendRaw).
    'GET /api/v1/events': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/events'), []), body: none },
    'GET /api/v1/repositories/health': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/repositories/health'), []), body: none },
    'GET /api/v1/alerts': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/alerts'), ['limit']), body: none },
    'GET /api/v1/groups': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/groups'), []), body: none },
    'GET /api/v1/groups/:name': { server: 'director', method: 'GET', auth: 'operator', path: withShape(seg1('/api/v1/groups/', [GROUP, 'nope']), []), body: none },
    'POST /api/v1/campaigns': { server: 'director', method: 'POST', auth: 'operator', path: withShape(fixed('/api/v1/campaigns'), []), body: jsonBody(campaignBody), honestBody: honestCampaign, contentType: 'application/json' },
    'GET /api/v1/campaigns': { server: 'director', method: 'GET', auth: 'operator', path: withShape(fixed('/api/v1/campaigns'), []), body: none },
    'GET /api/v1/campaigns/:campaign': { server: 'director', method: 'GET', auth: 'operator', path: withShape(seg1('/api/v1/campaigns/', [CAMPAIGN, '1', 'nope']), ['vins']), body: none },
    'GET /api/v1/campaigns/:campaign/vehicles': {
      server: 'director',
      method: 'GET',
      auth: 'operator',
      path: withShape(seg1('/api/v1/campaigns/', [CAMPAIGN, '1', 'nope'], '/vehicles'), ['stage', 'outcome', 'after', 'limit']),
      body: none,
    },
    'POST /api/v1/campaigns/:campaign/retry': {
      server: 'director',
      method: 'POST',
      auth: 'operator',
      path: withShape(seg1('/api/v1/campaigns/', [CAMPAIGN, '1', 'nope'], '/retry'), []),
      body: fc.oneof(
        { weight: 2, arbitrary: none },
        { weight: 3, arbitrary: jsonBody(fc.record({ vins: fc.array(fc.constantFrom(VIN_A, VIN_B, 'NOPE', ''), { maxLength: 3 }) }, { requiredKeys: [] })) },
      ),
      contentType: 'application/json',
    },
    'POST /api/v1/campaigns/:campaign/:action': {
      server: 'director',
      method: 'POST',
      auth: 'operator',
      path: withShape(
        fc.tuple(segment([CAMPAIGN, '1', 'nope']), segment(['start', 'pause', 'resume', 'advance', 'abort', 'nope', 'constructor'])).map(([c, a]) => `/api/v1/campaigns/${c}/${a}`),
        [],
      ),
      body: fc.oneof({ weight: 3, arbitrary: none }, { weight: 1, arbitrary: jsonBody(fc.constant({})) }),
      contentType: 'application/json',
    },
  },
};

// --- Whole requests ------------------------------------------------------------------------------

const ALL_AUTH: AuthKind[] = ['none', 'operator', 'uploader', 'session', 'signed', 'signed-other-path', 'signed-stale', 'signed-unknown-key', 'signed-secondary', 'truncated', 'lowercase-scheme', 'garbage-bearer', 'basic', 'empty', 'uptane-malformed', 'huge'];
const OTHER_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'FOO', 'get'];
const CONTENT_TYPES = ['application/json', 'application/octet-stream', 'text/plain', 'application/json; charset=utf-16', 'application/json; charset=bogus', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '', 'application/*'];
const ENCODINGS: Encoding[] = ['identity', 'gzip', 'deflate', 'br', 'gzip-undeclared', 'gzip-declared-raw', 'unknown', 'gzip-bomb', 'gzip-twice-declared'];
const LENGTHS: LengthMode[] = ['omit', 'chunked', 'less', 'more', 'huge', 'negative', 'nonnumeric', 'duplicate'];
const EXTRA_HEADERS = fc.array(
  fc.tuple(fc.constantFrom('X-Forwarded-For', 'Cookie', 'Accept', 'Accept-Encoding', 'X-HTTP-Method-Override', 'Origin', 'Transfer-Encoding'), fc.constantFrom('127.0.0.1', '__proto__=1', '*/*', 'gzip', 'DELETE', 'null', 'gzip, chunked', '\u00ff')),
  { maxLength: 2 },
);

/** A request for `route` of `server`: mostly as the route expects, every part sometimes otherwise. */
export function requestFor(server: ServerName, route: string, generator: RouteGenerator): fc.Arbitrary<FuzzRequest> {
  const honest = fc.record({ path: generator.path, routeHeaders: generator.headers ?? fc.constant([] as Array<[string, string]>), body: generator.honestBody ?? generator.body })
    .map(({ path, routeHeaders, body }): FuzzRequest => ({
      server,
      route,
      method: generator.method,
      path,
      auth: generator.auth,
      headers: [...(generator.contentType === undefined || body.kind === 'none' ? [] : [['Content-Type', generator.contentType] as const]), ...routeHeaders],
      body,
      encoding: 'none',
      length: 'exact',
      source: 'fresh',
    }));
  return fc.oneof({ weight: 1, arbitrary: honest }, { weight: 2, arbitrary: mutatedRequest(server, route, generator) });
}

function mutatedRequest(server: ServerName, route: string, generator: RouteGenerator): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    method: fc.oneof({ weight: 8, arbitrary: fc.constant(generator.method) }, { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) }),
    path: generator.path,
    auth: fc.oneof({ weight: 6, arbitrary: fc.constant(generator.auth) }, { weight: 3, arbitrary: fc.constantFrom(...ALL_AUTH) }),
    contentType: fc.oneof({ weight: 6, arbitrary: fc.constant(generator.contentType) }, { weight: 1, arbitrary: fc.constantFrom<string | undefined>(...CONTENT_TYPES, undefined) }),
    routeHeaders: generator.headers ?? fc.constant([] as Array<[string, string]>),
    extraHeaders: fc.oneof({ weight: 5, arbitrary: fc.constant([] as Array<[string, string]>) }, { weight: 1, arbitrary: EXTRA_HEADERS }),
    body: generator.body,
    encoding: fc.oneof({ weight: 14, arbitrary: fc.constant<Encoding>('none') }, { weight: 1, arbitrary: fc.constantFrom(...ENCODINGS) }),
    length: fc.oneof({ weight: 14, arbitrary: fc.constant<LengthMode>('exact') }, { weight: 1, arbitrary: fc.constantFrom(...LENGTHS) }),
    source: fc.oneof({ weight: 6, arbitrary: fc.constant('fresh' as const) }, { weight: 1, arbitrary: fc.constant('repeat' as const) }),
  }).map(({ method, path, auth, contentType, routeHeaders, extraHeaders, body, encoding, length, source }) => ({
    server,
    route,
    method,
    path,
    auth,
    headers: [...(contentType === undefined || body.kind === 'none' ? [] : [['Content-Type', contentType] as const]), ...routeHeaders, ...extraHeaders],
    body,
    encoding: body.kind === 'none' && encoding !== 'gzip-bomb' ? 'none' : encoding,
    length,
    source,
  }));
}

/** Requests to no route at all: random paths near the real ones, any method. */
export function unroutedRequest(server: ServerName): fc.Arbitrary<FuzzRequest> {
  const path = fc.tuple(fc.constantFrom('/', '/api', '/api/v1', '/api/v2', '/vehicle', '/metadata', '/targets', '/api/v1/vehicles/x/y/z', ''), fc.array(segment(['x', 'api', 'v1', 'metadata']), { maxLength: 3 }))
    .map(([prefix, segs]) => `${prefix}/${segs.join('/')}`);
  return requestFor(server, '(no route)', { server, method: 'GET', auth: 'none', path: withShape(path, ['limit']), body: fc.oneof({ weight: 3, arbitrary: none }, { weight: 1, arbitrary: rawBody }) }).chain((req) =>
    fc.constantFrom(...OTHER_METHODS).map((method) => ({ ...req, method })),
  );
}
