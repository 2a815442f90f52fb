// The protocol between a primary and its secondaries (defined in shared, so neither side imports
// the other: docs/decisions.md Components). A transport interface with two implementations:
// in-process (the secondary object itself, for tests and the simulator) and HTTP on loopback
// (HttpSecondaryClient here; the server side lives in secondary-ecu/). Images travel as streams,
// never whole.
import http from 'node:http';
import { DownloadLengthError, RemoteNotFoundError, SecondaryError, UptaneError } from '../core/errors.js';
import type { Fetcher } from '../client/fetcher.js';
import type { EcuVersionReport, InstallOutcome } from '../uptane/manifest.js';
import { suitStream } from '../suit/framing.js';
import type { SuitKeyUpdateResult } from '../suit/transport.js';

export interface SecondaryInfo {
  readonly serial: string;
  readonly hardwareId: string;
  /** Signing public key as the Director stores it: Ed25519 hex or ECDSA base64 SPKI (shared/core/crypto/ecu-keys.ts). */
  readonly publicKey: string;
  readonly verification: 'partial' | 'full';
}

/**
 * Metadata the primary hands a secondary (Uptane primary step 6): files by the name a repository
 * serves them under (`2.root.json`, `timestamp.json`, `3.targets.json` ...), base64. A partial
 * verification secondary needs the Director root chain and targets; a full one also the rest of the
 * Director's and all of the Image repository's.
 */
export interface MetadataBundle {
  readonly director: Readonly<Record<string, string>>;
  readonly image?: Readonly<Record<string, string>>;
  /** The primary's time (primary step 5), for secondaries without a clock of their own. */
  readonly time: string;
}

export interface MetadataVerdict {
  /**
   * The image this ECU must install, or null when the Director lists nothing new for it.
   * `encryptedLength`: the Director encrypted it for this ECU, so the image stream must be that
   * ciphertext, of that length (docs/image-encryption.md).
   */
  readonly target: { readonly filename: string; readonly length: number; readonly encryptedLength?: number } | null;
}

export interface SecondaryTransport {
  info(): Promise<SecondaryInfo>;
  /** A freshly signed ECU version report (new counter every call). */
  versionReport(): Promise<EcuVersionReport>;
  /** The secondary verifies the bundle itself (partial or full) and says what it will install. */
  putMetadata(bundle: MetadataBundle): Promise<MetadataVerdict>;
  /**
   * Streams the image; the secondary writes it to its inactive slot and verifies it there. For an
   * image encrypted for this ECU the stream is the ciphertext, which the secondary decrypts itself.
   */
  putImage(filename: string, body: AsyncIterable<Uint8Array>): Promise<void>;
  /** Installs the staged image (refused while the secondary sees the vehicle driving). */
  install(): Promise<InstallOutcome>;
  // Install bundles (docs/decisions.md "Install bundles"): the member's install in phases, so the
  // primary commits every member or none. Each names the bundle, which the secondary checks against
  // the one its own verified metadata puts it in; each is idempotent, for a primary resuming after a
  // power cut.
  /** Switches to the staged image and runs the boot check (and health soak); the trial is held. */
  beginTrial(bundleId: string): Promise<TrialVerdict>;
  /** Makes the held trial permanent: every member passed, and the primary recorded the decision. */
  commitTrial(bundleId: string): Promise<InstallOutcome>;
  /**
   * Returns to the previous image (a held trial rolls back, a staged image is dropped unused), with
   * `reason` as the outcome this ECU reports; `reason` null drops a staged image with no outcome
   * (the bundle stopped before any member switched, and the next cycle installs again).
   */
  rollBackTrial(bundleId: string, reason: BundleFailure | null): Promise<InstallOutcome | null>;
}

/** Why an install bundle went back: the member that failed and its typed code. */
export interface BundleFailure {
  readonly code: string;
  readonly message: string;
}

/** How a member's trial went: passed (held, waiting for the commit), or failed and already rolled back. */
export type TrialVerdict = { readonly passed: true } | { readonly passed: false; readonly outcome: InstallOutcome };

/** A typed failure reported by a secondary over the wire keeps its code. */
export class RemoteSecondaryError extends SecondaryError {
  constructor(override readonly code: string, message: string) {
    super(message);
  }
}

export const SECONDARY_PATHS = {
  info: '/info',
  versionReport: '/version-report',
  metadata: '/metadata',
  image: '/image',
  install: '/install',
  trial: '/bundle/trial',
  commit: '/bundle/commit',
  rollback: '/bundle/rollback',
  /** A constrained secondary's update: SUIT envelope and image in one stream (shared/suit/framing.ts). */
  suit: '/suit',
  /** A constrained secondary's SUIT key-update statement (shared/suit/key-update.ts), the CBOR bytes as the body. */
  suitKey: '/suit/key',
} as const;

/** Client side of the HTTP transport, used by the primary. */
export class HttpSecondaryClient implements SecondaryTransport {
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(private readonly baseUrl: string, private readonly timeoutMs = 30_000) {}

  info(): Promise<SecondaryInfo> {
    return this.call('GET', SECONDARY_PATHS.info) as Promise<SecondaryInfo>;
  }

  versionReport(): Promise<EcuVersionReport> {
    return this.call('POST', SECONDARY_PATHS.versionReport) as Promise<EcuVersionReport>;
  }

  putMetadata(bundle: MetadataBundle): Promise<MetadataVerdict> {
    return this.call('PUT', SECONDARY_PATHS.metadata, Buffer.from(JSON.stringify(bundle))) as Promise<MetadataVerdict>;
  }

  async putImage(filename: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    await this.call('PUT', `${SECONDARY_PATHS.image}?filename=${encodeURIComponent(filename)}`, body);
  }

  /**
   * A constrained secondary's update (docs/suit.md): the primary calls it only for a serial its SUIT
   * bridge lists as constrained; an ordinary secondary's server has no such route and answers 404.
   */
  async putSuit(envelope: Uint8Array, image: AsyncIterable<Uint8Array>): Promise<void> {
    await this.call('PUT', SECONDARY_PATHS.suit, suitStream(envelope, image));
  }

  /** A key-update statement for a constrained secondary (docs/suit.md "Rotating the SUIT key"). */
  async putSuitKey(statement: Uint8Array): Promise<SuitKeyUpdateResult> {
    const answer = (await this.call('PUT', SECONDARY_PATHS.suitKey, statement)) as Partial<SuitKeyUpdateResult>;
    if (typeof answer.epoch !== 'number' || (answer.status !== 'updated' && answer.status !== 'unchanged')) {
      throw new SecondaryError(`secondary at ${this.baseUrl} answered the SUIT key update with neither an epoch nor a status`);
    }
    return { epoch: answer.epoch, status: answer.status };
  }

  install(): Promise<InstallOutcome> {
    return this.call('POST', SECONDARY_PATHS.install) as Promise<InstallOutcome>;
  }

  beginTrial(bundleId: string): Promise<TrialVerdict> {
    return this.call('POST', SECONDARY_PATHS.trial, Buffer.from(JSON.stringify({ bundleId }))) as Promise<TrialVerdict>;
  }

  commitTrial(bundleId: string): Promise<InstallOutcome> {
    return this.call('POST', SECONDARY_PATHS.commit, Buffer.from(JSON.stringify({ bundleId }))) as Promise<InstallOutcome>;
  }

  async rollBackTrial(bundleId: string, reason: BundleFailure | null): Promise<InstallOutcome | null> {
    const answer = (await this.call('POST', SECONDARY_PATHS.rollback, Buffer.from(JSON.stringify({ bundleId, reason })))) as { outcome: InstallOutcome | null };
    return answer.outcome;
  }

  close(): void {
    this.agent.destroy();
  }

  private call(method: string, path: string, body?: Uint8Array | AsyncIterable<Uint8Array>): Promise<unknown> {
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const request = http.request(url, { method, agent: this.agent, timeout: this.timeoutMs, headers: { 'content-type': 'application/octet-stream' } }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > 4_000_000) response.destroy(new SecondaryError(`secondary at ${this.baseUrl} answered more than 4 MB`));
          else chunks.push(chunk);
        });
        response.on('error', (err) => reject(err instanceof UptaneError ? err : new SecondaryError(`secondary at ${this.baseUrl}: ${err.message}`)));
        response.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch (err) {
            reject(new SecondaryError(`secondary at ${this.baseUrl} answered with invalid JSON`, { cause: err }));
            return;
          }
          const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
          if ((response.statusCode ?? 500) >= 400 || error !== undefined) {
            reject(new RemoteSecondaryError(String(error?.code ?? 'secondary_failed'), String(error?.message ?? `HTTP ${response.statusCode}`)));
            return;
          }
          resolve(parsed);
        });
      });
      request.on('timeout', () => request.destroy(new SecondaryError(`secondary at ${this.baseUrl} did not answer within ${this.timeoutMs} ms`)));
      request.on('error', (err) => reject(err instanceof UptaneError ? err : new SecondaryError(`secondary at ${this.baseUrl}: ${err.message}`, { cause: err })));
      if (body === undefined) request.end();
      else if (body instanceof Uint8Array) request.end(body);
      else
        void (async () => {
          try {
            for await (const chunk of body) {
              // The secondary may answer (and the request end) before the whole image is sent,
              // e.g. when it refuses an image it was not assigned: stop reading the image then.
              if (request.destroyed || request.writableEnded) break;
              if (!request.write(chunk)) await writable(request);
            }
            if (!request.destroyed) request.end();
          } catch (err) {
            request.destroy(err as Error);
          }
        })();
    });
  }
}

/** Resolves once `request` can take more data or has closed (a 'drain' that never comes must not hang). */
function writable(request: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      request.off('drain', done);
      request.off('close', done);
      resolve();
    };
    request.on('drain', done);
    request.on('close', done);
  });
}

/** Serves repository files from a bundle, as a Fetcher would from a server: for full verification. */
export function bundleFile(files: Readonly<Record<string, string>> | undefined, name: string): Buffer | undefined {
  const b64 = files?.[name];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64');
}

/** A Fetcher over bundle files, so a secondary runs the ordinary updater on what the primary sent. */
export function bundleFetcher(files: Readonly<Record<string, string>> | undefined): Fetcher {
  return {
    async fetch(url, options) {
      const name = decodeURIComponent(url.slice(url.lastIndexOf('/') + 1));
      const bytes = bundleFile(files, name);
      if (bytes === undefined) throw new RemoteNotFoundError(`${name} is not in the primary's bundle`);
      if (bytes.length > options.maxBytes) throw new DownloadLengthError(`${name} in the bundle exceeds ${options.maxBytes} bytes`);
      return { offset: 0, body: (async function* () { yield bytes; })() };
    },
  };
}
