// Operator input at the boundary of the Director's operator API (/api/v1): bodies, query and path
// parameters. Every value is checked for its type and a bound before any work or storage depends on
// it, and a refusal is a BadRequestError (400, nothing stored), so no request can make the Director
// generate, store or list more than these limits allow (docs/threat-model.md HR-7, HR-9b, HR-9c,
// HR-9d). The rules about what the values mean (a stage's share, a VIN's characters) stay with the
// services; this module only says "a string of at most N", "a whole number from A to B", ...
import { encryptionPublicKeyFromHex } from '../shared/core/crypto/image-encryption.js';
import { isSecurityProfile, SECURITY_PROFILES, type SecurityProfile } from '../shared/core/security-profile.js';
import { BadRequestError, MalformedEncryptionKeyError, UptaneError } from '../shared/core/errors.js';
import { INVENTORY_LOOKUP_MAX } from './api/operator-api.js';
import type { AssignmentBody, InstallBundleBody, CampaignBody, CampaignHaltRules, CampaignSchedule, CampaignStage, EcuBody, GroupBody, GroupFilterBody } from './api/operator-api.js';
import type { VehicleRegistration } from './services/inventory.js';
import type { RegistrationQuery } from './store/inventory.js';

export const LIMITS = {
  /** VINs, group and campaign names (director.ts and campaigns.ts allow 1-64 characters). */
  name: 64,
  /** ECU serials and hardware ids (director.ts allows 1-128 characters). */
  serial: 128,
  /** Image (target) names: the metadata's own limit (shared/core/metadata/paths.ts). */
  image: 1024,
  /**
   * An ECU signing key: 64 hex digits (Ed25519), about 124 or 160 characters of base64 (ECDSA P-256,
   * P-384), a few more as PEM or TUF key JSON; room for a weak RSA PEM to be refused as weak_key.
   */
  publicKey: 1024,
  /** VINs in one assignment or static group (the Director's default for assignments). */
  vins: 100_000,
  /** ECUs of one vehicle, and images of one campaign (one per hardware id). */
  ecus: 64,
  images: 64,
  /** Vehicle attributes, and attribute terms of a group filter (a filter cannot ask about more). */
  attributes: 32,
  attributeName: 64,
  attributeValue: 256,
  /** Stages of a campaign, whichever way they are given (explicit, preset, ramp). */
  stages: 100,
  /** Soak and schedule times: ten years, far past any rollout, far below float trouble. */
  durationMs: 10 * 366 * 24 * 60 * 60 * 1000,
  /** Counts of vehicles (stage counts, halt sample sizes). */
  count: 100_000_000,
  /** Rows per page of a listing. */
  pageRows: 1000,
} as const;

/** A refused value as a short, printable quote: messages (and the audit log) never carry the whole input. */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const cut = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  return JSON.stringify(cut);
}

export function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequestError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** A non-empty string of at most `max` characters. */
export function text(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0) throw new BadRequestError(`${what} must be a non-empty string`);
  if (value.length > max) throw new BadRequestError(`${what} is longer than ${max} characters`);
  return value;
}

/** A list of at most `max` items. */
export function list(value: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw new BadRequestError(`${what} must be a list`);
  if (value.length > max) throw new BadRequestError(`${what} has ${value.length} items; at most ${max}`);
  return value;
}

/** A list of at most `max` strings of at most `maxLength` characters each. */
export function texts(value: unknown, what: string, max: number, maxLength: number): string[] {
  return list(value, what, max).map((item, i) => text(item, `${what}[${i}]`, maxLength));
}

/** A finite number from `min` to `max`; `integer` for whole numbers. */
export function number(value: unknown, what: string, min: number, max: number, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new BadRequestError(`${what} must be a number`);
  if (integer && !Number.isSafeInteger(value)) throw new BadRequestError(`${what} must be a whole number`);
  if (value < min || value > max) throw new BadRequestError(`${what} must be from ${min} to ${max}; got ${quote(value)}`);
  return value;
}

export function flag(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new BadRequestError(`${what} must be true or false`);
  return value;
}

/** `check(value)` when the field is present, else undefined. */
export function optional<T>(value: unknown, check: (present: unknown) => T): T | undefined {
  return value === undefined ? undefined : check(value);
}

/** An object of at most LIMITS.attributes string entries (vehicle attributes, filter terms). */
export function attributes(value: unknown, what: string): Record<string, string> {
  const entries = Object.entries(object(value, what));
  if (entries.length > LIMITS.attributes) throw new BadRequestError(`${what} has ${entries.length} entries; at most ${LIMITS.attributes}`);
  for (const [name, v] of entries) {
    text(name, `${what} name ${quote(name)}`, LIMITS.attributeName);
    if (typeof v !== 'string') throw new BadRequestError(`${what}.${name} must be a string`);
    if (v.length > LIMITS.attributeValue) throw new BadRequestError(`${what}.${name} is longer than ${LIMITS.attributeValue} characters`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

// --- Query and path parameters ------------------------------------------------------------------

/** Canonical decimal: no sign, no leading zero, no exponent, no hex, at most 15 digits (a safe integer). */
const DECIMAL = /^(?:0|[1-9][0-9]{0,14})$/;

/** The whole number `text` spells in canonical decimal, or undefined ("0x1", "1.5", "-1", "01" are not). */
export function decimal(text: string): number | undefined {
  return DECIMAL.test(text) ? Number(text) : undefined;
}

type Query = Readonly<Record<string, unknown>>;

/** A query parameter given at most once, as a string of at most `max` characters. */
export function queryText(query: Query, name: string, max: number): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`query parameter ${name} must be given once, as text`);
  if (value.length > max) throw new BadRequestError(`query parameter ${name} is longer than ${max} characters`);
  return value;
}

/** A whole-number query parameter from `min` to `max` in canonical decimal, or `fallback` when absent. */
export function queryInteger(query: Query, name: string, { min, max, fallback }: { min: number; max: number; fallback: number }): number {
  const raw = queryText(query, name, 16);
  if (raw === undefined) return fallback;
  const value = decimal(raw);
  if (value === undefined || value < min || value > max) throw new BadRequestError(`query parameter ${name} must be a whole number from ${min} to ${max}; got ${quote(raw)}`);
  return value;
}

/** A numeric id in a path (`/assignments/17`): canonical decimal, at least 1. */
export function pathId(raw: unknown, what: string): number {
  const value = typeof raw === 'string' ? decimal(raw) : undefined;
  if (value === undefined || value < 1) throw new BadRequestError(`${what} must be a whole number written in decimal, such as 17; got ${quote(raw)}`);
  return value;
}

/** A name in a path (VIN, ECU serial, group, campaign): non-empty and at most `max` characters. */
export function pathText(raw: unknown, what: string, max: number): string {
  return text(typeof raw === 'string' ? raw : undefined, what, max);
}

// --- Request bodies: the one validator set of the operator API's bodies (api/operator-api.ts) -----
// Each returns the route's body type, every field checked in the order the messages name them.

/**
 * An ECU's X25519 encryption public key: 64 lowercase hex characters of a usable point, else a
 * MalformedEncryptionKeyError (400 malformed_encryption_key) naming the field; nothing is stored.
 */
export function encryptionKey(value: unknown, what: string): string {
  const hex = text(value, what, LIMITS.publicKey);
  try {
    return encryptionPublicKeyFromHex(hex).hex;
  } catch (err) {
    if (err instanceof UptaneError) throw new MalformedEncryptionKeyError(`${what}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** An ECU as registration and replacement take it. */
export function parseEcu(raw: unknown, what: string): EcuBody {
  const ecu = object(raw, what);
  const checked = {
    serial: text(ecu.serial, 'serial', LIMITS.serial),
    hardwareId: text(ecu.hardwareId, 'hardwareId', LIMITS.serial),
    publicKey: text(ecu.publicKey, 'publicKey', LIMITS.publicKey),
  };
  const encryptionPublicKey = optional(ecu.encryptionPublicKey, (v) => encryptionKey(v, `ECU ${checked.serial} encryptionPublicKey`));
  const securityProfile = optional(ecu.securityProfile, (v) => profile(v, `ECU ${checked.serial} securityProfile`));
  return {
    ...checked,
    ...(encryptionPublicKey === undefined ? {} : { encryptionPublicKey }),
    ...(securityProfile === undefined ? {} : { securityProfile }),
  };
}

/** A security profile's name (docs/security-profiles.md); any other value is refused, naming the three. */
export function profile(value: unknown, what: string): SecurityProfile {
  if (!isSecurityProfile(value)) throw new BadRequestError(`${what} must be one of ${SECURITY_PROFILES.join(', ')}; got ${quote(value)}`);
  return value;
}

/** PUT /vehicles/:vin/ecus/:serial/profile: the new profile, nothing else. */
export function parseEcuProfile(raw: unknown): SecurityProfile {
  const body = object(raw, 'the request body');
  return profile(body.securityProfile, 'securityProfile');
}

/** POST /vehicles; attributes default to none and every ECU says whether it is the primary. */
export function parseRegistration(raw: unknown): VehicleRegistration {
  const body = object(raw, 'the request body');
  const ecus = list(body.ecus, 'ecus', LIMITS.ecus);
  return {
    vin: text(body.vin, 'vin', LIMITS.name),
    attributes: optional(body.attributes, (v) => attributes(v, 'attributes')) ?? {},
    ecus: ecus.map((e, i) => {
      const ecu = object(e, `ecus[${i}]`);
      return { ...parseEcu(ecu, `ecus[${i}]`), primary: optional(ecu.primary, (v) => flag(v, `ecus[${i}].primary`)) === true };
    }),
  };
}

/** POST /inventory/lookup: up to INVENTORY_LOOKUP_MAX VINs, serials and keyids, each list optional. */
export function parseInventoryLookup(raw: unknown): RegistrationQuery {
  const body = object(raw, 'the request body');
  const each = (name: 'vins' | 'serials' | 'keyids', max: number) => optional(body[name], (v) => texts(v, name, INVENTORY_LOOKUP_MAX, max)) ?? [];
  return { vins: each('vins', LIMITS.name), serials: each('serials', LIMITS.serial), keyids: each('keyids', LIMITS.name) };
}

/** PATCH /vehicles/:vin/attributes: at least one change; a name is set or removed, not both. */
export function parseAttributeChange(raw: unknown): { readonly set: Record<string, string>; readonly remove: readonly string[] } {
  const body = object(raw, 'the request body');
  const set = optional(body.set, (v) => attributes(v, 'set')) ?? {};
  const remove = (optional(body.remove, (v) => list(v, 'remove', LIMITS.attributes)) ?? []).map((name, i) => text(name, `remove[${i}]`, LIMITS.attributeName));
  if (Object.keys(set).length === 0 && remove.length === 0) throw new BadRequestError('give attributes to set ({"set": {"model": "sedan"}}) or names to remove ({"remove": ["model"]})');
  const both = remove.find((name) => Object.hasOwn(set, name));
  if (both !== undefined) throw new BadRequestError(`attribute ${quote(both)} is both set and removed`);
  return { set, remove };
}

/** POST /assignments. */
export function parseAssignment(raw: unknown): AssignmentBody {
  const body = object(raw, 'the request body');
  if ((body.vins === undefined) === (body.vin === undefined)) throw new BadRequestError('name the vehicles as vin or vins');
  const vehicles = body.vins !== undefined ? { vins: texts(body.vins, 'vins', LIMITS.vins, LIMITS.name) } : { vin: text(body.vin, 'vin', LIMITS.name) };
  return {
    ...vehicles,
    image: text(body.image, 'image', LIMITS.image),
    ecuSerial: optional(body.ecuSerial, (v) => text(v, 'ecuSerial', LIMITS.serial)),
    hardwareId: optional(body.hardwareId, (v) => text(v, 'hardwareId', LIMITS.serial)),
    dryRun: optional(body.dryRun, (v) => flag(v, 'dryRun')),
    encrypt: optional(body.encrypt, (v) => flag(v, 'encrypt')),
  };
}

/** POST /install-bundles: one vehicle, each member ECU once with its image (the service checks the rest). */
export function parseInstallBundle(raw: unknown): InstallBundleBody {
  const body = object(raw, 'the request body');
  const members = list(body.members, 'members', LIMITS.ecus).map((item, i) => {
    const member = object(item, `members[${i}]`);
    return { ecuSerial: text(member.ecuSerial, `members[${i}].ecuSerial`, LIMITS.serial), image: text(member.image, `members[${i}].image`, LIMITS.image) };
  });
  const encrypt = optional(body.encrypt, (v) => flag(v, 'encrypt'));
  return { vin: text(body.vin, 'vin', LIMITS.name), members, ...(encrypt === undefined ? {} : { encrypt }) };
}

/** POST /groups: a static group (vins) or a dynamic one (filter). */
export function parseGroup(raw: unknown): GroupBody {
  const body = object(raw, 'the request body');
  const name = text(body.name, 'name', LIMITS.name);
  if ((body.vins === undefined) === (body.filter === undefined)) throw new BadRequestError('a group is either a list of VINs (vins) or a filter (filter)');
  return body.vins !== undefined ? { name, vins: texts(body.vins, 'vins', LIMITS.vins, LIMITS.name) } : { name, filter: parseFilter(body.filter) };
}

/**
 * A dynamic group's filter. Its attribute terms are bounded like a vehicle's attributes (a filter
 * naming more could match nothing): 1,100 terms once made SQLite refuse the query after the group
 * was stored (docs/threat-model.md HR-9b).
 */
function parseFilter(raw: unknown): GroupFilterBody {
  const filter = object(raw, 'filter');
  const attributeTerms = optional(filter.attributes, (v) => attributes(v, 'filter.attributes'));
  const hardwareId = optional(filter.hardwareId, (v) => text(v, 'filter.hardwareId', LIMITS.serial));
  const installedImage = optional(filter.installedImage, (v) => text(v, 'filter.installedImage', LIMITS.image));
  return {
    ...(attributeTerms === undefined ? {} : { attributes: attributeTerms }),
    ...(hardwareId === undefined ? {} : { hardwareId }),
    ...(installedImage === undefined ? {} : { installedImage }),
  };
}

const shareOf = (value: unknown, what: string) => number(value, what, 0, 1);
const durationOf = (value: unknown, what: string) => number(value, what, 0, LIMITS.durationMs, true);
const countOf = (value: unknown, what: string) => number(value, what, 1, LIMITS.count, true);

/**
 * POST /campaigns, checked field by field; what the fields mean together (stages that grow, a window
 * that holds an hour) and the stages a preset or ramp stands for are the campaign engine's
 * (campaigns.ts campaignSpecOf).
 */
export function parseCampaign(raw: unknown): CampaignBody {
  const body = object(raw, 'the request body');
  const name = text(body.name, 'name', LIMITS.name);
  const group = text(body.group, 'group', LIMITS.name);
  const images = list(body.images, 'images', LIMITS.images).map((item, i) => {
    const image = object(item, `images[${i}]`);
    return { hardwareId: text(image.hardwareId, `images[${i}].hardwareId`, LIMITS.serial), image: text(image.image, `images[${i}].image`, LIMITS.image) };
  });
  const halt = optional(body.halt, parseHalt);
  const window = optional(body.maintenanceWindow, (v) => object(v, 'maintenanceWindow'));
  const schedule = parseSchedule(body);
  const includeNewVehicles = optional(body.includeNewVehicles, (v) => flag(v, 'includeNewVehicles'));
  const encrypt = optional(body.encrypt, (v) => flag(v, 'encrypt'));
  return {
    name,
    group,
    images,
    ...schedule,
    ...(halt === undefined ? {} : { halt }),
    ...(includeNewVehicles === undefined ? {} : { includeNewVehicles }),
    ...(encrypt === true ? { encrypt } : {}),
    ...(window === undefined
      ? {}
      : {
          maintenanceWindow: {
            startHour: number(window.startHour, 'maintenanceWindow.startHour', 0, 24, true),
            endHour: number(window.endHour, 'maintenanceWindow.endHour', 0, 24, true),
          },
        }),
  };
}

/** The stages, given one way: explicit (never more than LIMITS.stages), the white paper preset, or an exponential ramp. */
function parseSchedule(body: Record<string, unknown>): CampaignSchedule {
  const ways = [body.stages, body.preset, body.ramp].filter((v) => v !== undefined).length;
  if (ways !== 1) throw new BadRequestError('give the stages one way: stages (a list), preset "white-paper", or ramp {first, factor}');
  if (body.preset !== undefined) {
    if (body.preset !== 'white-paper') throw new BadRequestError(`preset ${quote(body.preset)} is unknown: the one preset is "white-paper"`);
    return { preset: 'white-paper' };
  }
  if (body.ramp !== undefined) {
    const ramp = object(body.ramp, 'ramp');
    const first = number(ramp.first, 'ramp.first', 0, 1);
    const factor = number(ramp.factor, 'ramp.factor', 0, Number.MAX_VALUE);
    const minSoakMs = optional(ramp.minSoakMs, (v) => durationOf(v, 'ramp.minSoakMs'));
    return { ramp: { first, factor, ...(minSoakMs === undefined ? {} : { minSoakMs }) } };
  }
  const stages = list(body.stages, 'stages', LIMITS.stages).map((raw, i) => {
    const stage = object(raw, `stages[${i}]`);
    const spec: CampaignStage = {
      share: optional(stage.share, (v) => shareOf(v, `stages[${i}].share`)),
      count: optional(stage.count, (v) => countOf(v, `stages[${i}].count`)),
      startAfterMs: optional(stage.startAfterMs, (v) => durationOf(v, `stages[${i}].startAfterMs`)),
      minSoakMs: optional(stage.minSoakMs, (v) => durationOf(v, `stages[${i}].minSoakMs`)),
      successThreshold: optional(stage.successThreshold, (v) => shareOf(v, `stages[${i}].successThreshold`)),
    };
    return Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)) as CampaignStage;
  });
  return { stages };
}

function parseHalt(raw: unknown): CampaignHaltRules {
  const halt = object(raw, 'halt');
  const rules: { -readonly [K in keyof CampaignHaltRules]: CampaignHaltRules[K] } = {};
  if (halt.maxFailureRate !== undefined) rules.maxFailureRate = shareOf(halt.maxFailureRate, 'halt.maxFailureRate');
  if (halt.minSample !== undefined) rules.minSample = countOf(halt.minSample, 'halt.minSample');
  if (halt.maxFailures !== undefined) rules.maxFailures = countOf(halt.maxFailures, 'halt.maxFailures');
  if (halt.onAttack !== undefined) rules.onAttack = flag(halt.onAttack, 'halt.onAttack');
  return rules;
}
