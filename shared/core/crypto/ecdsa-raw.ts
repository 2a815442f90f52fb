// ECDSA signatures from hardware come as the raw fixed-width pair r || s (PKCS#11 CKM_ECDSA, IEEE
// P1363); TUF's ecdsa-sha2-nistp256/384 signatures are the DER SEQUENCE { INTEGER r, INTEGER s }
// that ecdsa.ts verifies strictly (minimal integers, no trailing bytes). This converts one to the other.
import { TokenSigningError } from '../errors.js';

/** DER length octets (short form below 128, else long form). */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A non-negative big-endian integer as a minimal DER INTEGER (leading zeros dropped, a 0x00 added before a high bit). */
function derInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = Buffer.from(magnitude.subarray(start));
  if (body.length === 0) body = Buffer.from([0]);
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

/**
 * The DER form of a raw r || s ECDSA signature of a curve whose coordinates are `coordinateBytes`
 * long (32 for P-256, 48 for P-384). TokenSigningError when the raw form has the wrong length.
 */
export function ecdsaRawToDer(raw: Uint8Array, coordinateBytes: number): Uint8Array {
  if (raw.length !== 2 * coordinateBytes) {
    throw new TokenSigningError(`a raw ECDSA signature on this curve is ${2 * coordinateBytes} bytes (r || s), got ${raw.length}`);
  }
  const r = derInteger(raw.subarray(0, coordinateBytes));
  const s = derInteger(raw.subarray(coordinateBytes));
  const body = Buffer.concat([r, s]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]));
}
