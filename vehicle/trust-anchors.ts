// The two trust anchors a vehicle leaves the factory with: the Director's root and the Image
// repository's root. Both are TUF roots of the same shape, so a root given for the wrong repository
// verifies on its own; the mistake would only show later, when every Director file fails to verify
// against the Image repository's keys, which looks exactly like an attack (issue 20, finding 7).
// Provisioning therefore checks, before any key is made:
//   - offline: the two roots are different repositories' (not the same file, no root key shared:
//     Uptane keeps the two repositories' keys apart, so a shared root key is a mix-up);
//   - online, when the servers answer: each URL serves, under the same version, the very root given
//     for it. A root served by the other URL is named as swapped, with the fix.
import type { Fetcher } from '../shared/client/fetcher.js';
import { fetchBytes } from '../shared/client/fetcher.js';
import { UptaneError } from '../shared/core/errors.js';
import { DEFAULT_UPDATER_CONFIG } from '../shared/client/updater.js';
import type { TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';

/** A trust anchor given for the wrong repository, or not the root its repository serves. */
export class TrustAnchorMismatchError extends UptaneError {
  readonly code = 'trust_anchor_mismatch';
  readonly kind = 'fault';
}

export interface TrustAnchor {
  readonly bytes: Buffer;
  readonly set: TrustedMetadataSet;
  /** The option that named the file, for messages (--director-root). */
  readonly option: string;
  readonly file: string;
  /** Where the repository serves its root files (`<url>/metadata` for the Image repository). */
  readonly metadataUrl: string;
}

/** What the online check found per repository: `matches`, or why it could not check. */
export type AnchorCheck = { readonly repository: 'director' | 'image'; readonly checked: true } | { readonly repository: 'director' | 'image'; readonly checked: false; readonly reason: string };

const rootKeyids = (anchor: TrustAnchor): Set<string> => new Set(anchor.set.root.signed.roles.root.keyids);

/** Refuses two roots that cannot be two repositories' own: the same bytes, or a root key in common. */
export function checkAnchorsOffline(director: TrustAnchor, image: TrustAnchor): void {
  if (director.bytes.equals(image.bytes)) {
    throw new TrustAnchorMismatchError(`${director.option} and ${image.option} are the same root (${director.file}, ${image.file}): give the Director's root to ${director.option} and the Image repository's to ${image.option}`);
  }
  const imageKeys = rootKeyids(image);
  const shared = [...rootKeyids(director)].filter((keyid) => imageKeys.has(keyid));
  if (shared.length > 0) {
    throw new TrustAnchorMismatchError(
      `${director.option} ${director.file} and ${image.option} ${image.file} share root key ${shared[0]!.slice(0, 12)}: the Director and the Image repository never share keys, so one of the files is the other repository's root (or a copy of it)`,
    );
  }
}

/**
 * Compares each anchor with the root of the same version its repository serves. Unreachable or
 * refusing servers are reported, not fatal: a factory may provision offline, and the offline
 * checks still ran. Throws TrustAnchorMismatchError for a swap or for a root its server contradicts.
 */
export async function checkAnchorsOnline(fetcher: Fetcher, director: TrustAnchor, image: TrustAnchor): Promise<AnchorCheck[]> {
  const served = async (anchor: TrustAnchor, other: TrustAnchor): Promise<Buffer | string> => {
    const name = `${anchor.set.root.signed.version}.root.json`;
    try {
      return await fetchBytes(fetcher, `${other.metadataUrl}/${name}`, { maxBytes: DEFAULT_UPDATER_CONFIG.maxRootBytes });
    } catch (err) {
      return (err as Error).message;
    }
  };
  const results: AnchorCheck[] = [];
  for (const [repository, anchor, other, otherName] of [
    ['director', director, image, 'the Image repository'],
    ['image', image, director, 'the Director'],
  ] as const) {
    const own = await served(anchor, anchor);
    if (typeof own === 'string') {
      results.push({ repository, checked: false, reason: own });
      continue;
    }
    if (own.equals(anchor.bytes)) {
      results.push({ repository, checked: true });
      continue;
    }
    // Not what this repository serves: is it the other one's?
    const swapped = (await served(anchor, other)) as Buffer | string;
    if (typeof swapped !== 'string' && swapped.equals(anchor.bytes)) {
      throw new TrustAnchorMismatchError(
        `${anchor.option} ${anchor.file} is ${otherName}'s root (${other.metadataUrl} serves it): --director-root and --image-root look swapped; give ${director.option} the Director's root and ${image.option} the Image repository's`,
      );
    }
    throw new TrustAnchorMismatchError(
      `${anchor.option} ${anchor.file} is not the root ${anchor.metadataUrl} serves as version ${anchor.set.root.signed.version}: fetch the repository's own ${anchor.set.root.signed.version}.root.json (or check the URL)`,
    );
  }
  return results;
}

