// A delta the Director offers one ECU (issue 21 item 2; docs/transport.md "Delta updates"): under
// custom.ecuIdentifiers[serial].delta of its Director target, signed with the targets, the image the
// delta starts from (its length and hashes: the ECU applies it only to exactly that image) and the
// delta's own name, length and hashes (checked while it streams in, as an image's are). The result of
// applying it is checked against the target's own length and hashes, which the Image repository also
// signs, so a delta can save bytes but never change what is installed.
import { DirectorTargetsError, type ErrorContext } from '../core/errors.js';
import { DELTA_SCHEME } from '../files/zstd-delta.js';

/** The delta a Director target offers one ECU, parsed. */
export interface EcuImageDelta {
  readonly scheme: typeof DELTA_SCHEME;
  /** The image the delta applies to: what the ECU reported installed when the Director made it. */
  readonly from: { readonly length: number; readonly hashes: { readonly sha256: string } };
  /** The delta itself, served by the Director under `filename` (GET /vehicle/images/<filename>). */
  readonly filename: string;
  readonly length: number;
  readonly hashes: { readonly sha256: string };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The file name a delta is served and signed under: the two images' SHA-256, "from" first. */
export const deltaFileName = (fromSha256: string, toSha256: string): string => `${fromSha256}-${toSha256}.delta`;

/**
 * custom.ecuIdentifiers[serial].delta of Director target `filename`, parsed strictly at the edge
 * (docs/code-style.md R9): the known scheme, sha256 hashes, lengths that are safe integers, and a
 * name that is the pair's own (so nothing else can be asked for). A malformed one is signed by the
 * Director, so it is an attack on the ECU (DirectorTargetsError naming the field), as for a
 * malformed encryption entry; undefined when the entry offers no delta.
 */
export function parseEcuImageDelta(value: unknown, filename: string, serial: string, target: { readonly hashes: Readonly<Record<string, string>> }, ctx: ErrorContext): EcuImageDelta | undefined {
  if (value === undefined) return undefined;
  const field = `${filename} custom.ecuIdentifiers.${serial}.delta`;
  const fail = (name: string, why: string): never => {
    throw new DirectorTargetsError(`Director target ${field}${name === '' ? '' : `.${name}`} ${why}`, ctx);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const length = (v: unknown, name: string): number => (Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : fail(name, 'must be a positive integer'));
  const sha256Of = (v: unknown, name: string): string => {
    if (!isObject(v) || typeof v.sha256 !== 'string' || !SHA256_HEX.test(v.sha256)) fail(`${name}.sha256`, 'must be 64 lowercase hex characters');
    return (v as { sha256: string }).sha256;
  };
  if (!isObject(value)) return fail('', 'must be an object');
  if (value.scheme !== DELTA_SCHEME) fail('scheme', `must be ${DELTA_SCHEME}, not ${JSON.stringify(value.scheme)}`);
  if (!isObject(value.from)) return fail('from', 'must be an object');
  const from = { length: length(value.from.length, 'from.length'), hashes: { sha256: sha256Of(value.from.hashes, 'from.hashes') } };
  const toSha256 = target.hashes.sha256;
  if (toSha256 === undefined) return fail('', 'is offered for a target with no sha256');
  if (from.hashes.sha256 === toSha256) fail('from', 'is the target itself');
  const expectedName = deltaFileName(from.hashes.sha256, toSha256);
  if (value.filename !== expectedName) fail('filename', `must be ${expectedName}`);
  return { scheme: DELTA_SCHEME, from, filename: expectedName, length: length(value.length, 'length'), hashes: { sha256: sha256Of(value.hashes, 'hashes') } };
}
