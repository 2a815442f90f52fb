// The product changes made while building these benchmarks, with the figures before and after, as
// measured when they were made (A/B in one process where possible; this machine's load varies, so
// figures of separate runs differ). RESULTS.md prints them after the figures.

export interface Fix {
  readonly figure: string;
  readonly change: string;
  readonly files: readonly string[];
  readonly before: string;
  readonly after: string;
}

export const FIXES: readonly Fix[] = [
  {
    figure: '1, 5, 6 (every signature a server or the simulator makes)',
    change: 'nodeBackend.sign imported the PKCS#8 private key on every call, which cost 13 times the signature; the imported KeyObject is now kept per seed buffer (WeakMap).',
    files: ['shared/core/crypto/ed25519.ts'],
    before: '281 signatures/s (same-process A/B, node:crypto)',
    after: '3,778 signatures/s (13.4x); figure 1 pre-signed 813 manifests in 19.1 s before, 1,986 in 1.4 s after; profile of figure 5: signing had been 35% of registration time',
  },
  {
    figure: '2',
    change:
      'Metadata GETs are answered on plain node:http before express\'s router (serveVehicleMetadata in director-repo/app.ts, serveMetadata in image-repo/app.ts; server.ts dispatches; the express routes call the same functions, errors leave through errorResponse in shared/server/http-errors.ts), and the Director reads a vehicle\'s three metadata files in one SELECT, opening a transaction only when one is due for re-signing.',
    files: ['director-repo/app.ts', 'director-repo/server.ts', 'director-repo/vehicle-metadata.ts', 'director-repo/storage.ts', 'image-repo/app.ts', 'image-repo/server.ts', 'shared/server/http-errors.ts'],
    before: 'session-token GETs 21%, Image repository GETs 30%, signed GETs 15% of plain node:http; Director.vehicleMetadata in-process 13,000/s',
    after: 'session-token 57%, Image repository 72%, signed 19% (bounded by its signature check, see figure 2); Director.vehicleMetadata 42,000/s; at 117,000 vehicles, lookups went from 1,900/s to 28,000/s',
  },
  {
    figure: '3',
    change:
      'withVerificationCache: an Ed25519 backend that remembers the (key, signature, SHA-256 of message) triples it found valid; the primary ECU wraps its backend with it, so re-checking unchanged stored metadata repeats no curve arithmetic.',
    files: ['shared/core/crypto/ed25519.ts', 'primary-ecu/primary.ts'],
    before: '5 verifications per "nothing new" check; 22-24 ms per check (noble)',
    after: '0 verifications (1 when the Director has re-signed timestamp); 5.3-5.5 ms per check, in consecutive runs at the same load',
  },
  {
    figure: '4',
    change:
      'downloadTarget awaited a thread-pool write of every 64 KiB chunk before reading the next; chunks are now written synchronously (microseconds into the page cache) and the file fsync\'d once at the end, so the client thread does not wait for, nor compete with, a thread-pool thread.',
    files: ['shared/client/updater.ts'],
    before: '126, 124, 146 MB/s (256 MiB, same-process A/B, interleaved; local hashing 212-353 MB/s); figure 4 ratio 38-45%',
    after: '166, 179, 195 MB/s (+42% median); figure 4 ratio 53-54% (tried and dropped: one thread-pool write in flight, +8%; gathering 1 MiB writes, -20%)',
  },
  {
    figure: '1, 2, 3',
    change:
      'The primary ECU polls with a session token: one signed POST /vehicle/session per 15 minutes, then Bearer for metadata GETs and manifests (stateless HMAC tokens, director-repo/vehicle-sessions.ts). The Director checks an HMAC instead of an Ed25519 signature per request.',
    files: ['primary-ecu/primary.ts', 'director-repo/vehicle-sessions.ts', 'director-repo/director.ts'],
    before: '7 verifications per manifest; every metadata GET signed (13-19% of plain node:http, bounded at 26-39% by its signature check)',
    after: '6 verifications per manifest; GETs through the session path (figure 2); a nothing-new check sends 651 instead of 811 bytes',
  },
  {
    figure: '1',
    change:
      'Group commit: manifests read in the same turn of the event loop share one SQLite transaction (a savepoint each) and one fsync; the manifest POST is answered before express\'s router; keyids are computed lazily and PublicKeys built from hex cached; unchanged manifests are recorded without their body, and the vehicle-state row is rewritten only when it changed.',
    files: ['director-repo/group-commit.ts', 'director-repo/director.ts', 'director-repo/app.ts', 'director-repo/server.ts', 'director-repo/storage.ts', 'shared/core/crypto/keys.ts'],
    before: 'idle machine, start of the session: sequential 253/s (24%), concurrent 288/s (27%) of the 5-check baseline; in-process 409/s',
    after: 'concurrent 458-738/s, 40-63% across runs (median rounds); in-process one at a time 598-681/s, 8 at a time 511-865/s (tried and dropped: committing with synchronous=NORMAL and fdatasync of the WAL in the thread pool, slower in A/B: sequential 22% vs 23-35%; tried again in 6 interleaved concurrent rounds of one process, lower in every pair: 38-51% vs 40-55%)',
  },
  {
    figure: '4',
    change:
      'downloadTarget datasyncs every 8 MiB in the thread pool while the download continues (the final fsync finds little left); the Image repository reads blobs in 1 MiB pieces instead of 64 KiB (send passes highWaterMark to createReadStream).',
    files: ['shared/client/updater.ts', 'image-repo/app.ts'],
    before: '53% on an idle machine at the start of the session; A/B without the write-back: 52%, 47%',
    after: 'with both: 61-68% between runs; A/B with the write-back: 68%, 54% (tried and dropped: 1 MiB writev batches, 50-53% vs 51-57% without)',
  },
  {
    figure: '5',
    change:
      'Per-vehicle Director metadata is signed on the vehicle\'s next read: registration signs nothing, and a change of assignments marks the targets stale in its transaction (vehicle_metadata.stale) instead of re-signing targets, snapshot and timestamp there.',
    files: ['director-repo/vehicle-metadata.ts', 'director-repo/storage.ts', 'director-repo/director.ts', 'director-repo/campaigns.ts'],
    before: 'assign to 100,000 vehicles: 77.5 s in one transaction (300,000 signatures; the Director answered nobody meanwhile); service registration 1,700 vehicles/s',
    after: 'assign to 100,000 vehicles: 5.4 s; service registration 4,375 vehicles/s; the first targets fetch after an assignment carries the 3 signatures (823/s)',
  },
  {
    figure: '2',
    change:
      'Director sessions remember the tokens found authentic (only tokens the process issued; capped) and each primary key\'s VIN (forgotten whenever an ECU is registered or replaced, so a replaced key still ends its sessions), instead of a MAC, a parse and a SQLite read per GET.',
    files: ['director-repo/vehicle-sessions.ts', 'director-repo/director.ts'],
    before: 'session GETs 22-49% of plain node:http (3,800-10,400/s) once tokens became stateless HMACs',
    after: '63-72% (20,485/s against 29,762/s), same machine',
  },
  {
    figure: '1',
    change:
      'The Director canonicalizes each version report once and reuses its text inside the manifest\'s canonical bytes (manifestSignedBytes, canonicalJsonReusing), instead of serializing the five reports again for the manifest\'s signature; a request body is hashed only when the request is signed; the S < L check compares bytes instead of building a BigInt.',
    files: ['shared/core/canonical.ts', 'shared/uptane/manifest.ts', 'director-repo/manifest-checks.ts', 'shared/uptane/vehicle-auth.ts', 'shared/core/crypto/ed25519.ts'],
    before: 'canonical bytes of a manifest and its 5 reports: 83-88 us (same-process A/B)',
    after: '57-78 us; the figure itself moved within its noise (42-51% in quick runs of the same hour)',
  },
  {
    figure: '2',
    change:
      'The Director keeps the three signed metadata files of the last 4,096 vehicles it served in memory (storage.ts, vehicleMetadataFiles): every write of a vehicle\'s metadata drops its entry, nothing read inside a transaction is kept. The SELECT had been the largest Director-specific cost of a GET.',
    files: ['director-repo/storage.ts'],
    before: 'session GETs 43-53% of plain node:http (quick runs) and 47-50% in the last full runs',
    after: '85-106% (quick runs, same session)',
  },
  {
    figure: '4',
    change:
      'Images from 8 MiB up are hashed on a second thread (shared/client/parallel-hasher.ts): the download thread receives, copies into one of four 1 MiB slabs moved to the hashing thread and back, and writes; inline, receiving and hashing never overlapped.',
    files: ['shared/client/parallel-hasher.ts', 'shared/client/updater.ts', 'shared/core/hashing.ts'],
    before: '56-59% (same-session runs; 53-68% across sessions); hashing inline without even writing a file: 65-83%',
    after: '256 MiB: 54-92% over 14 runs of the same session, median 75% (three full runs: 54%, 60%, 73%); the disk alone, measured from then on, ran at 91-117% of the local hash',
  },
  {
    figure: '4',
    change:
      'The Image repository sends a blob from four reused 1 MiB slabs (image-repo/blob-sender.ts: a slab is read into again once the socket has taken it, a single Range and If-None-Match honoured, the sha256 as a strong ETag) instead of express\'s sendFile, which allocated a new 1 MiB buffer per MiB sent: the server thread collected garbage 385 times (1.4 s) during figure 4.',
    files: ['image-repo/blob-sender.ts', 'image-repo/app.ts'],
    before: 'server thread during figure 4 (10 downloads and 10 stream reads per size): 1,362 ms in 385 garbage collections, 5.7 s busy',
    after: '84 ms in 31 collections, 3.0 s busy; 256 MiB download in interleaved pairs of one process: 78% and 68% of the local hash with sendFile, 91% and 90% with the slabs (medians of 5 pairs, prototype); with the final code, 1.04 s against 1.17 s per download (means of 10 pairs on a busier host)',
  },
  {
    figure: '7',
    change:
      'A primary re-read its stored Image repository targets file (5,000 entries, 1.7 MiB) twice per update cycle and parsed it from scratch each time (JSON, schema, canonical form of the signed part, deep freeze): once to verify it, once more to check its expiry before installing; it also base64-encoded every stored file for secondaries before knowing whether any would install. Parses of byte-identical metadata are now kept (ParsedMetadataMemo: one per repository, shared by the updater and the expiry check; a hit needs the very same bytes, failures are never kept, and every check still runs on what it returns), and the secondaries\' bundle is built for the first secondary that installs.',
    files: ['shared/core/trusted-metadata-set.ts', 'shared/client/updater.ts', 'primary-ecu/primary.ts'],
    before: 'later "something new" cycle 238 ms against a 102 ms baseline (2.3x, last full run); same-process A/B, interleaved cycles with the memo bypassed and the bundle built eagerly: median 263 ms (idle host; 462 ms under load)',
    after: 'median 101 ms in the same A/B (baseline 92 ms: 1.1x; 171 ms under load); the stored targets file now costs a byte comparison, its hashes and a cache lookup per cycle (2-5 ms instead of 50-60 ms)',
  },
];
