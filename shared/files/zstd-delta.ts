// Binary deltas between two builds of an image (issue 21 item 2; docs/decisions.md "Delta updates"):
// zstd with the old image as its reference ("patch-from"), from Node's own zlib. The new image is
// compressed with the old one loaded as a raw-content dictionary, with a window that covers both,
// so every run the two builds share becomes a back-reference into the old image; applying is a zstd
// decompression with the same dictionary. No dependency: Node 24's zlib links libzstd and exposes
// the dictionary option on its streaming classes.
//
// Memory: the reference is handed to zstd whole (the API takes a Buffer), and the window spans the
// new image, so making or applying a delta holds about twice the image size; the callers offer and
// take deltas only for images under a configured cap (DEFAULT_DELTA_MAX_IMAGE_BYTES). The delta
// itself and the new image stream through, one chunk at a time.
import { createReadStream } from 'node:fs';
import type { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';

/** The scheme name signed with each delta: what made it, so an ECU never applies another kind. */
export const DELTA_SCHEME = 'zstd-patch-from';

/** Images larger than this get no delta (both the "from" and the "to"): the cost is about twice this in memory. */
export const DEFAULT_DELTA_MAX_IMAGE_BYTES = 64 * 1024 * 1024;

/**
 * zstd's magic for a formatted dictionary: a reference starting with it would be read as one, not as
 * raw content, so such an image is never a delta's base (isDeltaBase).
 */
const ZSTD_DICTIONARY_MAGIC = 0xec30a437;

/** Output chunks of the delta's inflater (zlib's default is 16 KiB). */
const CHUNK_BYTES = 64 * 1024;

/** The window log for `bytes`: the smallest power of two covering them, at least zstd's minimum. */
function windowLogFor(bytes: number): number {
  return Math.max(10, Math.ceil(Math.log2(Math.max(bytes, 1))));
}

/** Whether `reference` can be a delta's base: zstd would take one starting with its dictionary magic for a formatted dictionary. */
export function isDeltaBase(reference: Uint8Array): boolean {
  return reference.length < 4 || Buffer.from(reference.buffer, reference.byteOffset, reference.byteLength).readUInt32LE(0) !== ZSTD_DICTIONARY_MAGIC;
}

/**
 * zstd level 3 with long-distance matching, a window over both images, and hash and chain tables
 * large enough that the whole reference is indexed: zstd loads only the last 2^max(hashLog+3,
 * chainLog+1) bytes of a dictionary, so at the level's own table sizes (1 MiB at level 3) a larger
 * reference is mostly ignored and the "delta" is the image compressed alone (bench figure 20). The
 * two tables then take 4 bytes per 8 bytes of window each: about the image size together.
 */
function compressParams(referenceBytes: number, imageBytes: number): Record<number, number> {
  const c = zlib.constants;
  // The window spans the reference AND the image: the copy of old byte p that new byte p needs is
  // about one reference length back, plus whatever was inserted before it (zstd's --patch-from
  // sizes its window the same way).
  const windowLog = windowLogFor(referenceBytes + imageBytes);
  return {
    [c.ZSTD_c_compressionLevel]: 3,
    [c.ZSTD_c_windowLog]: windowLog,
    [c.ZSTD_c_hashLog]: windowLog - 3,
    [c.ZSTD_c_chainLog]: windowLog - 3,
    [c.ZSTD_c_enableLongDistanceMatching]: 1,
    [c.ZSTD_c_checksumFlag]: 1,
  };
}

/** The delta from `reference` to the image read from `image` (a file path or stream), as a stream of the delta's bytes. */
export function createDeltaStream(reference: Buffer, image: string | Readable, imageBytes: number): Readable {
  const source = typeof image === 'string' ? createReadStream(image, { highWaterMark: 1024 * 1024 }) : image;
  const compressor = zlib.createZstdCompress({ dictionary: reference, chunkSize: CHUNK_BYTES, params: compressParams(reference.length, imageBytes) });
  source.on('error', (err: Error) => compressor.destroy(err));
  return source.pipe(compressor);
}

/**
 * The inflater that turns a delta made against `reference` back into the image. A delta whose frame
 * asks for a window larger than `maxImageBytes` can cover is refused by zstd itself (an error on the
 * stream), so a hostile delta cannot make the ECU allocate more than the cap it configured.
 */
export function createDeltaApplier(reference: Buffer, maxImageBytes: number): Transform {
  return zlib.createZstdDecompress({
    dictionary: reference,
    chunkSize: CHUNK_BYTES,
    params: { [zlib.constants.ZSTD_d_windowLogMax]: windowLogFor(reference.length + maxImageBytes) },
  });
}
