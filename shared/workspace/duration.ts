// Human expiry periods for offline-signed metadata: `90d`, `12h`, `1y`, `2w`, or combined (`1y30d`),
// and absolute dates. Release engineers set expiry far more often than they read the TUF date format,
// and a default that silently expired (garage-sign's 31 days) is the complaint peers hear most.
import { InvalidExpiryError, MalformedMetadataError } from '../core/errors.js';
import { formatExpires, parseExpires } from '../core/metadata/parse.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Units a duration may use; `m` is minutes (months vary in length, so they are not offered). */
const UNIT_MS: Readonly<Record<string, number>> = { y: 365 * DAY, w: 7 * DAY, d: DAY, h: HOUR, m: MINUTE, s: SECOND };
const DURATION = /^(?:\d{1,6}[ywdhms])+$/;
const PART = /(\d{1,6})([ywdhms])/g;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

const HELP = 'use a number and a unit (y, w, d, h, m for minutes, s), e.g. 90d, 12h, 1y, 1y30d; or a date such as 2027-06-30 or 2027-06-30T12:00:00Z';

/** Milliseconds in a duration such as `90d` or `1y30d`; throws InvalidExpiryError for anything else or zero. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) throw new InvalidExpiryError(`cannot read ${JSON.stringify(text)} as a duration: ${HELP}`);
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) total += Number(amount) * UNIT_MS[unit!]!;
  if (total <= 0) throw new InvalidExpiryError(`duration ${JSON.stringify(text)} is zero: metadata would expire at once`);
  return total;
}

/**
 * The expiry time `text` names, relative to `now`: a duration from now, or an absolute date
 * (`YYYY-MM-DD` means midnight UTC). Always whole seconds (the TUF format has no fractions), and
 * never at or before `now`: metadata that is already expired would be refused by every client.
 */
export function resolveExpiry(text: string, now: Date): Date {
  const trimmed = text.trim();
  let when: Date;
  if (DURATION.test(trimmed)) {
    when = new Date(Math.floor((now.getTime() + parseDuration(trimmed)) / SECOND) * SECOND);
  } else {
    const full = DATE_ONLY.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed;
    try {
      when = parseExpires(full);
    } catch (err) {
      if (!(err instanceof MalformedMetadataError)) throw err;
      // Re-worded for a person typing a date rather than a parser reading a file.
      throw new InvalidExpiryError(`cannot read ${JSON.stringify(text)} as an expiry: ${HELP}`, { cause: err });
    }
  }
  if (when.getTime() <= now.getTime()) {
    throw new InvalidExpiryError(`expiry ${formatExpires(when)} is not in the future (now ${formatExpires(now)})`);
  }
  return when;
}

/** `in 89 days`, `in 5 hours`, `3 days ago`: how far `expires` is from `now`, for status output. */
export function describeExpiry(expires: string, now: Date): string {
  const delta = parseExpires(expires).getTime() - now.getTime();
  const abs = Math.abs(delta);
  const [amount, unit] =
    abs >= 2 * DAY ? [Math.round(abs / DAY), 'days'] : abs >= 2 * HOUR ? [Math.round(abs / HOUR), 'hours'] : [Math.round(abs / MINUTE), 'minutes'];
  return delta > 0 ? `in ${amount} ${unit}` : `${amount} ${unit} ago`;
}
