// The vehicle's link to the Director as the primary uses it: a session, Director metadata, the
// vehicle version manifest. Every metadata file that comes through it is verified by the primary
// (full verification), and every manifest carries the ECUs' signatures, so a channel is trusted for
// delivery only. HTTP is the first transport (director-channel-http.ts); another one (MQTT, say)
// implements the same calls and is passed to the primary as its `directorChannel`.
import type { Ed25519Backend } from '../core/crypto/ed25519.js';
import type { PrivateKey } from '../core/crypto/keys.js';
import type { Clock } from '../core/clock.js';
import type { Fetcher, FetchResponse } from '../client/fetcher.js';

/**
 * Signed URLs the Director issued for reading the Image repository (docs/signed-urls.md): a grant
 * for its metadata and one URL per assigned image asked for. What they open is decided by the
 * server that checks them; the images themselves are verified against signed metadata as ever.
 */
export interface ImageUrlGrants {
  /** Seconds they stay valid, timed by this ECU's clock from before the request left. */
  readonly expiresIn: number;
  /** The query to append to `<Image repository>/metadata/<file>`. */
  readonly metadata: { readonly prefix: string; readonly query: string };
  /** A signed URL per requested filename the vehicle is assigned; others are absent. */
  readonly images: Readonly<Record<string, string>>;
}

/**
 * What became of a manifest sent to the Director. `retryable`: it was not judged, for a reason that
 * passes (the Director answered 503, its database away or its workers busy, or the connection failed
 * before an answer), so the primary may send a new manifest, with new report counters, at once.
 */
export type ManifestDelivery =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly refusal: string; readonly retryable?: { readonly afterMs: number } };

export interface DirectorChannel {
  /** Where the Director's metadata comes from, as errors and logs name it (for HTTP, the metadata URL). */
  readonly metadataLocation: string;
  /**
   * Opens a session unless the current one lasts long enough for a cycle. Never fails: without a
   * session each request authenticates on its own, and the Director's answers to those decide.
   */
  openSession(): Promise<void>;
  /** Forgets the session, so the next cycle opens a new one (after a failure: the Director may have restarted). */
  resetSession(): void;
  /** One metadata file, by the name the Director serves it under (`timestamp.json`, `2.root.json`), at most `maxBytes`. */
  fetchMetadata(name: string, options: { readonly maxBytes: number }): Promise<FetchResponse>;
  /**
   * An image the Director encrypted for an ECU of this vehicle, by its name in the Director's targets
   * (`<ciphertext sha256>.enc`), from byte `offset` (a resumed download) and at most `maxBytes`
   * (docs/image-encryption.md). Authenticated like metadata; the caller checks length and hash.
   */
  fetchImage(name: string, options: { readonly maxBytes: number; readonly offset?: number }): Promise<FetchResponse>;
  /** Delivers a signed vehicle version manifest; throws if it could not be delivered and trying again would not help. */
  sendManifest(body: Uint8Array): Promise<ManifestDelivery>;
  /**
   * Signed URLs for downloading these assigned images from the Image repository, and a grant to read
   * its metadata (shared/uptane/image-access.ts). Optional: a channel without it reads the Image
   * repository with no credential, which only a public repository serves.
   */
  imageUrls?(filenames: readonly string[]): Promise<ImageUrlGrants>;
}

/** What a channel is built from: the primary ECU's address of its Director and its key. */
export interface DirectorChannelContext {
  readonly directorUrl: string;
  /** The primary ECU key: the Director derives the VIN from it. */
  readonly key: PrivateKey;
  readonly backend: Ed25519Backend;
  readonly clock: Clock;
  /** Progress lines for people watching. */
  readonly log: (line: string) => void;
}

/** Builds the channel once the primary has loaded its key. */
export type DirectorChannelFactory = (context: DirectorChannelContext) => DirectorChannel;

/** The channel as the metadata source of a Director client (a fetcher and the base URL it is asked for). */
export function channelMetadataSource(channel: DirectorChannel): { readonly metadataUrl: string; readonly fetcher: Fetcher } {
  const prefix = `${channel.metadataLocation}/`;
  return {
    metadataUrl: channel.metadataLocation,
    fetcher: { fetch: (url, options) => channel.fetchMetadata(url.slice(prefix.length), { maxBytes: options.maxBytes }) },
  };
}
