// Hashing a file on disk in 1 MiB chunks, so an image is never held whole in memory.
import { open } from 'node:fs/promises';
import { MultiHasher, PUBLISHED_HASHES, READ_CHUNK_BYTES, type HashAlgorithm } from '../core/hashing.js';

/** Length and hex digests of a file, read in 1 MiB chunks. */
export async function digestFile(
  path: string,
  algorithms: readonly HashAlgorithm[] = PUBLISHED_HASHES,
  onProgress?: (bytesRead: number) => void,
): Promise<{ length: number; hashes: Record<string, string> }> {
  const hasher = new MultiHasher(algorithms);
  const handle = await open(path, 'r');
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let length = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hasher.update(buffer.subarray(0, bytesRead));
      length += bytesRead;
      onProgress?.(length);
    }
  } finally {
    await handle.close();
  }
  return { length, hashes: hasher.digests() };
}
