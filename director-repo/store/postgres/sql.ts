// What every area of the PostgreSQL store shares: running a statement with constraint violations
// turned into the store's typed errors, and reading the driver's values back as SQLite's store gives
// them (BIGINT arrives as a string).
import { BadRequestError, ConflictError, NotFoundError } from '../../../shared/core/errors.js';
import { sqlState, UNIQUE_VIOLATION, type Queryable } from '../../../shared/server/postgres.js';

export type { Queryable };

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * What each named constraint (schema.ts) means to an operator when a write breaks it. A constraint
 * not named here still becomes a ConflictError (unique) or NotFoundError (foreign key), with
 * PostgreSQL's own detail.
 */
const CONSTRAINTS: Readonly<Record<string, string>> = {
  vehicles_pkey: 'the vehicle is already registered',
  ecus_pkey: 'the ECU serial is already registered',
  ecus_keyid_key: "the ECU's key is already registered to another ECU",
  ecus_by_encryption_key: "the ECU's encryption key is already registered to another ECU",
  one_primary_per_vehicle: 'the vehicle already has a primary ECU',
  ecus_vin_fkey: 'the vehicle is not registered',
  one_active_assignment_per_ecu: 'the ECU already has a pending or in-flight assignment; cancel it first',
  assignments_vin_fkey: 'the vehicle is not registered',
  assignments_ecu_serial_fkey: 'the ECU is not registered',
  vehicle_metadata_vin_fkey: 'the vehicle is not registered',
  director_roots_pkey: 'that Director root version is already stored',
  operator_tokens_pkey: 'an operator token with that id already exists',
  operator_tokens_token_sha256_key: 'that operator token is already stored',
  vehicle_groups_pkey: 'the group exists',
  group_members_group_name_fkey: 'the group does not exist',
  campaigns_name_key: 'the campaign exists',
  campaigns_group_name_fkey: 'the group does not exist',
  campaign_vehicles_campaign_id_fkey: 'the campaign does not exist',
  campaign_events_campaign_id_fkey: 'the campaign does not exist',
  encrypted_images_pkey: 'that ciphertext is already recorded',
  encrypted_image_per_plaintext: 'a ciphertext of that image is already recorded',
};

/**
 * Values SQLite would have kept but PostgreSQL's types refuse: a NUL character in text (22021), a
 * number past BIGINT (22003) or not a whole number where one is stored (22P02). Refused as bad
 * input, nothing written, rather than as a server fault.
 */
const UNSTORABLE_VALUES: Readonly<Record<string, string>> = {
  '22021': 'text with a NUL character cannot be stored',
  '22003': 'a number is out of the range that can be stored',
  '22P02': 'a value is not of the type stored (a whole number expected)',
};

/**
 * A unique or foreign-key violation as the typed error the services answer with (409, 404), a value
 * PostgreSQL cannot store as BadRequestError (400); any other error as it was (the database's own
 * failures are DatabaseUnavailableError already, or become it when the transaction ends:
 * PostgresDatabase.translate).
 */
export function typedConstraintError(err: unknown): unknown {
  const state = sqlState(err);
  const unstorable = state === undefined ? undefined : UNSTORABLE_VALUES[state];
  if (unstorable !== undefined) return new BadRequestError(unstorable, { cause: err });
  if (state !== UNIQUE_VIOLATION && state !== FOREIGN_KEY_VIOLATION) return err;
  const { constraint, detail } = err as { constraint?: string; detail?: string };
  const meaning = (constraint !== undefined ? CONSTRAINTS[constraint] : undefined) ?? (state === UNIQUE_VIOLATION ? 'a unique value is already taken' : 'a record it refers to does not exist');
  // PostgreSQL's detail names the key: "Key (serial)=(ecu-1) already exists."
  const message = detail === undefined ? meaning : `${meaning} (${detail})`;
  return state === UNIQUE_VIOLATION ? new ConflictError(message, { cause: err }) : new NotFoundError(message, { cause: err });
}

/** Runs one statement through `q`, a constraint violation thrown as its typed error. */
export async function run<R extends object = Record<string, unknown>>(q: Queryable, text: string, params: readonly unknown[] = []): Promise<R[]> {
  try {
    return await q.query<R>(text, params);
  } catch (err) {
    throw typedConstraintError(err);
  }
}

/** A BIGINT (a string from the driver) or an INTEGER as a number: the row mappers' conversion (../rows.ts). */
export { num, numOrNull } from '../rows.js';

/**
 * A LIMIT parameter with SQLite's meaning: a negative limit is no limit (PostgreSQL's LIMIT NULL),
 * a fraction is cut to a whole number (PostgreSQL would refuse it).
 */
export const limitParam = (limit: number): number | null => (limit < 0 || !Number.isFinite(limit) ? null : Math.floor(limit));

/**
 * Rows per statement when a batch goes in as arrays (= ANY($1), unnest): one statement for a
 * typical batch, and a bounded one (a few MB of parameters) for an assignment to 100,000 vehicles.
 */
export const BATCH_ROWS = 5000;

export function chunks<T>(items: readonly T[], size = BATCH_ROWS): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Rows grouped by `key`, in the order of `keys` (the caller's VINs, as SQLite's per-VIN reads give
 * them): a key without rows is absent.
 */
export function groupInOrder<T>(keys: readonly string[], rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const byKey = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = byKey.get(k);
    if (list === undefined) byKey.set(k, [row]);
    else list.push(row);
  }
  const found = new Map<string, T[]>();
  for (const k of keys) {
    const list = byKey.get(k);
    if (list !== undefined) found.set(k, list);
  }
  return found;
}

/**
 * Text PostgreSQL can hold: it refuses the NUL character in TEXT, which SQLite keeps. Used on text
 * that comes from outside (a refused manifest's reason can quote its body), so a NUL makes the
 * record differ by one character instead of failing the write.
 */
export const storableText = (text: string): string => (text.includes('\u0000') ? text.replace(/\u0000/g, '\uFFFD') : text);
