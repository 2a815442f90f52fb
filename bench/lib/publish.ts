// Publishing to a fixture Image repository without holding images in memory: streamed uploads, and
// targets metadata signed with the fixture's offline targets key (what `publishImages` does for
// small in-memory images in the tests).
import { createReadStream } from 'node:fs';
import http from 'node:http';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { FIXTURE_EXPIRES, UPLOADER_TOKEN, type Repositories } from '../../sim/harness/fleet-fixtures.js';

export interface UploadedBlob {
  readonly length: number;
  readonly hashes: { readonly sha256: string; readonly sha512: string };
}

/** Streams a file to POST /api/v1/images; returns the length and hashes the repository computed. */
export function uploadFile(repos: Repositories, path: string): Promise<UploadedBlob> {
  const url = new URL(`${repos.image.url}/api/v1/images`);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${UPLOADER_TOKEN}`, 'content-type': 'application/octet-stream' } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 201) reject(new Error(`upload refused: HTTP ${response.statusCode} ${text}`));
          else resolve(JSON.parse(text) as UploadedBlob);
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    createReadStream(path, { highWaterMark: 1024 * 1024 }).on('error', reject).pipe(request);
  });
}

/** Signs and PUTs top-level targets metadata of `version` listing `targets`. */
export async function publishTargets(repos: Repositories, version: number, targets: Readonly<Record<string, TargetFile>>): Promise<number> {
  const signed: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version, expires: FIXTURE_EXPIRES, targets: { ...targets } };
  const bytes = serializeMetadata(signMetadata(signed, [repos.imageTargetsKey]));
  const response = await fetch(`${repos.image.url}/api/v1/metadata/targets/targets`, {
    method: 'PUT',
    body: bytes,
    headers: { authorization: `Bearer ${UPLOADER_TOKEN}`, 'content-type': 'application/octet-stream' },
  });
  if (response.status !== 201) throw new Error(`targets refused: HTTP ${response.status} ${await response.text()}`);
  return bytes.length;
}

export function targetFor(blob: UploadedBlob, hardwareIds: readonly string[], releaseCounter: number): TargetFile {
  return { length: blob.length, hashes: { ...blob.hashes }, custom: { hardwareIds: [...hardwareIds], releaseCounter } };
}
