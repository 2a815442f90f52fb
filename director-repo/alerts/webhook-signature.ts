// How a webhook receiver knows an alert came from its Director and is not a replay: the Director
// signs `<timestamp>.<delivery id>.<body>` with HMAC-SHA256 under the shared secret, and sends the
// signature, the timestamp, the delivery id and the event in headers. A receiver recomputes the
// HMAC over the exact bytes it received, compares in constant time, refuses a timestamp outside its
// tolerance, and may remember delivery ids to refuse a second delivery of one (README "Expiry and
// alerts" has a receiver's snippet). Plain functions: a receiver written in TypeScript can import
// this file alone.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-uptane-signature';
export const TIMESTAMP_HEADER = 'x-uptane-timestamp';
export const DELIVERY_HEADER = 'x-uptane-delivery';
export const EVENT_HEADER = 'x-uptane-event';

/** How far a receiver accepts a timestamp from its own clock by default (either way). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The hex HMAC-SHA256 over what is signed. */
export function webhookSignature(secret: string | Uint8Array, timestamp: number, deliveryId: string, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.${deliveryId}.`).update(body).digest('hex');
}

/** The headers of one delivery attempt (the timestamp is the attempt's: a retry is signed anew). */
export function signedWebhookHeaders(secret: string, event: string, deliveryId: string, body: string, now: Date): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'content-type': 'application/json',
    [EVENT_HEADER]: event,
    [DELIVERY_HEADER]: deliveryId,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: `sha256=${webhookSignature(secret, timestamp, deliveryId, body)}`,
  };
}

export type WebhookVerdict = { readonly ok: true; readonly event: string; readonly deliveryId: string } | { readonly ok: false; readonly reason: string };

/**
 * A receiver's check: the signature over the exact body, and a timestamp within `toleranceSeconds`
 * of `now`. `headers` as node:http gives them (lower-case names).
 */
export function verifyWebhook(
  secret: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: Uint8Array | string,
  now: Date,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): WebhookVerdict {
  const one = (name: string) => {
    const value = headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const signature = one(SIGNATURE_HEADER);
  const stamp = one(TIMESTAMP_HEADER);
  const deliveryId = one(DELIVERY_HEADER);
  const event = one(EVENT_HEADER);
  if (signature === undefined || stamp === undefined || deliveryId === undefined || event === undefined) return { ok: false, reason: 'missing signature headers' };
  if (!/^\d{1,12}$/.test(stamp)) return { ok: false, reason: 'malformed timestamp' };
  const timestamp = Number(stamp);
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) return { ok: false, reason: 'timestamp outside the tolerance (a replay?)' };
  const match = /^sha256=([0-9a-f]{64})$/.exec(signature);
  if (match === null) return { ok: false, reason: 'malformed signature' };
  const expected = Buffer.from(webhookSignature(secret, timestamp, deliveryId, body), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'))) return { ok: false, reason: 'signature does not match' };
  return { ok: true, event, deliveryId };
}
