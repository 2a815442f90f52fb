// Figure 14: signature schemes (issue 17). How fast ECDSA P-256 and RSA-3072 (RSA-PSS-SHA256)
// signatures verify against Ed25519 on both Ed25519 backends, each through PublicKey.verify as
// metadata verification calls it; then what an Image repository signed with ECDSA P-256 keys (root,
// targets, snapshot and timestamp all ECDSA) costs an ECU's verification against the same repository
// signed with Ed25519 keys: same 5,000 targets, same ECU settings (the primary's backend: noble behind
// its verification cache), through the RepositoryUpdater a primary's Image repository client runs,
// reading the metadata over HTTP from a plain server. The metadata is signed here, in the bench, since
// the bench Image repository's online keys are Ed25519.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { type Ed25519Backend, nobleBackend, nodeBackend, withVerificationCache } from '../../shared/core/crypto/ed25519.js';
import { type KeyType, PrivateKey, type PublicKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { TargetFile, TargetsSigned } from '../../shared/core/metadata/types.js';
import { FIXTURE_EXPIRES, rootMetadata } from '../../sim/harness/fleet-fixtures.js';
import type { BenchContext } from '../lib/context.js';
import { startPlainServer } from '../lib/plain-server.js';
import type { Figure, Row } from '../lib/report.js';
import { fmt, median, timeLoop } from '../lib/stats.js';

const TARGETS = 5_000;

interface Scheme {
  readonly label: string;
  readonly type: KeyType;
  readonly backend: Ed25519Backend;
}

const SCHEMES: readonly Scheme[] = [
  { label: 'Ed25519, node:crypto backend (servers)', type: 'ed25519', backend: nodeBackend },
  { label: 'Ed25519, @noble/ed25519 backend (the ECU default)', type: 'ed25519', backend: nobleBackend },
  { label: 'ECDSA P-256 (ecdsa-sha2-nistp256, node:crypto)', type: 'ecdsa-p256', backend: nobleBackend },
  { label: 'RSA-3072, RSA-PSS-SHA256 (rsassa-pss-sha256, node:crypto)', type: 'rsa-3072', backend: nobleBackend },
];

/** Verifications per second of one key's signature over `message`, through PublicKey.verify. */
async function verifyRate(key: PublicKey, message: Uint8Array, signature: string, backend: Ed25519Backend, maxMs: number): Promise<number> {
  const loop = await timeLoop(() => {
    if (!key.verify(message, signature, backend)) throw new Error('figure 14: a signature did not verify');
  }, { maxMs, maxCount: 1_000_000, minCount: 20 });
  return loop.perSecond;
}

/** The four top-level files of an Image repository whose every role key is of `type`, served as a repository serves them. */
function signedRepository(type: KeyType, targets: Readonly<Record<string, TargetFile>>): { root: Uint8Array; files: Map<string, Uint8Array> } {
  const key = () => PrivateKey.generate(type);
  const keys = { root: key(), targets: key(), snapshot: key(), timestamp: key() };
  const entry = (k: PrivateKey) => [{ keyid: k.keyid, key: k.publicKey.tuf }];
  const root = serializeMetadata(signMetadata(rootMetadata(1, { root: entry(keys.root), targets: entry(keys.targets), snapshot: entry(keys.snapshot), timestamp: entry(keys.timestamp) }), [keys.root]));
  const targetsSigned: TargetsSigned = { _type: 'targets', spec_version: SPEC_VERSION, version: 1, expires: FIXTURE_EXPIRES, targets: { ...targets } };
  const targetsBytes = serializeMetadata(signMetadata(targetsSigned, [keys.targets]));
  const snapshot = serializeMetadata(
    signMetadata({ _type: 'snapshot', spec_version: SPEC_VERSION, version: 1, expires: FIXTURE_EXPIRES, meta: { 'targets.json': { version: 1, length: targetsBytes.length, hashes: digestBytes(targetsBytes) } } }, [keys.snapshot]),
  );
  const timestamp = serializeMetadata(
    signMetadata({ _type: 'timestamp', spec_version: SPEC_VERSION, version: 1, expires: FIXTURE_EXPIRES, meta: { 'snapshot.json': { version: 1, length: snapshot.length, hashes: digestBytes(snapshot) } } }, [keys.timestamp]),
  );
  const files = new Map<string, Uint8Array>([
    ['/metadata/1.root.json', root],
    ['/metadata/timestamp.json', timestamp],
    ['/metadata/1.snapshot.json', snapshot],
    ['/metadata/1.targets.json', targetsBytes],
  ]);
  return { root, files };
}

export async function figure14(ctx: BenchContext): Promise<Figure> {
  const started = performance.now();
  const quick = ctx.settings.quick;
  const notes: string[] = [];
  const rows: Row[] = [];

  // 1. Verifications per second. The message is the canonical signed part of a timestamp, the file
  // an ECU verifies most often; every scheme signs the same bytes.
  const message = canonicalBytes({
    _type: 'timestamp',
    spec_version: SPEC_VERSION,
    version: 1234,
    expires: FIXTURE_EXPIRES,
    meta: { 'snapshot.json': { version: 1234, length: 1_600, hashes: { sha256: randomBytes(32).toString('hex'), sha512: randomBytes(64).toString('hex') } } },
  });
  const signers = new Map(SCHEMES.map((s) => [s.type, PrivateKey.generate(s.type)]));
  const signatures = new Map(SCHEMES.map((s) => [s.type, signers.get(s.type)!.sign(message)]));
  const rates = new Map<string, number[]>(SCHEMES.map((s) => [s.label, []]));
  // Interleaved rounds, median per scheme: a neighbour's burst on this shared host then hits every scheme alike.
  for (let round = 0; round < 3; round++) {
    for (const s of SCHEMES) rates.get(s.label)!.push(await verifyRate(signers.get(s.type)!.publicKey, message, signatures.get(s.type)!, s.backend, quick ? 200 : 700));
  }
  const rate = (s: Scheme) => median(rates.get(s.label)!);
  const [edNode, edNoble] = [rate(SCHEMES[0]!), rate(SCHEMES[1]!)];
  for (const s of SCHEMES) {
    const r = rate(s);
    rows.push({
      label: `${s.label}: verifications/s (per verification; against noble: ${fmt(r / edNoble, 2)}x)`,
      value: `${fmt(r, 0)}/s (${fmt(1e6 / r, 0)} us)`,
      baseline: `${fmt(edNode, 0)}/s`,
      ratio: `${fmt(r / edNode, 2)}x`,
    });
  }

  // 2. An ECU's verification of the Image repository: the same targets, signed once with Ed25519 keys
  // and once with ECDSA P-256 keys.
  const targets: Record<string, TargetFile> = {};
  for (let i = 0; i < TARGETS; i++) {
    targets[`bench/f14/ecu-${i % 97}/image-${i}.bin`] = {
      length: 1_000_000 + i,
      hashes: { sha256: randomBytes(32).toString('hex'), sha512: randomBytes(64).toString('hex') },
      custom: { hardwareIds: [`ecu-${i % 97}`], releaseCounter: 1 + (i % 5) },
    };
  }
  const repositories = (['ed25519', 'ecdsa-p256'] as const).map((type) => ({ type, ...signedRepository(type, targets) }));
  const servers = await Promise.all(repositories.map((r) => startPlainServer(r.files)));
  const fetcher = new HttpFetcher();
  const folder = mkdtempSync(join(ctx.tmp, 'f14-'));
  const first = new Map<string, number[]>(repositories.map((r) => [r.type, []]));
  const later = new Map<string, number[]>(repositories.map((r) => [r.type, []]));
  try {
    let n = 0;
    for (let round = 0; round < (quick ? 2 : 5); round++) {
      for (const [i, repository] of repositories.entries()) {
        // A fresh ECU: its provisioned root only, its own verification cache (as Primary wraps its backend).
        const store = new FileMetadataStore(join(folder, `ecu-${n++}`));
        store.persist('root', repository.root);
        const updater = new RepositoryUpdater({
          repository: 'image',
          metadataUrl: `${servers[i]!.url}/metadata`,
          store,
          fetcher,
          clock: ctx.clock,
          backend: withVerificationCache(nobleBackend),
        });
        const t0 = performance.now();
        const result = await updater.refresh();
        first.get(repository.type)!.push(performance.now() - t0);
        if (!result.snapshotChanged || Object.keys(updater.trusted.targets!.signed.targets).length !== TARGETS) throw new Error('figure 14: first refresh incomplete');
        for (let k = 0; k < 3; k++) {
          const t1 = performance.now();
          const again = await updater.refresh();
          later.get(repository.type)!.push(performance.now() - t1);
          if (again.snapshotChanged) throw new Error('figure 14: a later refresh found new metadata');
        }
      }
    }
  } finally {
    fetcher.close();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(folder, { recursive: true, force: true });
  }
  const kib = repositories.map((r) => r.files.get('/metadata/1.targets.json')!.length / 1024);
  const [edFirst, ecFirst] = repositories.map((r) => median(first.get(r.type)!));
  const [edLater, ecLater] = repositories.map((r) => median(later.get(r.type)!));
  rows.push(
    {
      label: `ECU verification of the Image repository, first refresh (root, timestamp, snapshot, ${fmt(TARGETS, 0)}-entry targets fetched and verified; median of ${first.get('ed25519')!.length}): ECDSA P-256 keys vs Ed25519 keys`,
      value: `${fmt(ecFirst!, 1)} ms`,
      baseline: `${fmt(edFirst!, 1)} ms`,
      ratio: `${fmt(ecFirst! / edFirst!, 2)}x`,
    },
    {
      label: `the same, later refreshes (stored files re-verified, nothing new; median of ${later.get('ed25519')!.length}): ECDSA P-256 vs Ed25519`,
      value: `${fmt(ecLater!, 2)} ms`,
      baseline: `${fmt(edLater!, 2)} ms`,
      ratio: `${fmt(ecLater! / edLater!, 2)}x`,
    },
  );
  notes.push(
    'Verifications per second: one key per scheme signs the canonical signed part of a timestamp (the file an ECU verifies most often), and PublicKey.verify checks it in a loop, with the signature as hex, as metadata verification calls it; 3 interleaved rounds per scheme, median. The ratio column is against Ed25519 on node:crypto; the label gives it against the noble backend the ECUs use. ECDSA and RSA-PSS always verify through node:crypto (OpenSSL), whatever Ed25519 backend an ECU chose.',
    `Image repository rows: the same ${fmt(TARGETS, 0)} targets (${fmt(kib[0]!, 0)} KiB signed with Ed25519, ${fmt(kib[1]!, 0)} KiB with ECDSA), signed once with four Ed25519 keys and once with four ECDSA P-256 keys (root, targets, snapshot, timestamp), served from plain node:http; the ECU is a RepositoryUpdater as a primary's Image repository client runs it (noble behind withVerificationCache, files stored durably), started from its provisioned root for every first refresh; ${quick ? 2 : 5} interleaved rounds.`,
    `The ECU caches only Ed25519 results (withVerificationCache): a later refresh re-verifies the stored root, timestamp, snapshot and targets, so with ECDSA keys it repeats 4 OpenSSL verifications (about 4 x ${fmt(1e6 / rate(SCHEMES[2]!), 0)} us, plus hashing each message, which the Ed25519 cache must hash too to look a result up) where Ed25519 repeats none. Against a noble verification (${fmt(1e6 / edNoble, 0)} us) that is nothing worth remembering, and the later-refresh row is within noise of Ed25519's, so ECDSA and RSA-PSS get no such cache.`,
  );
  return {
    id: 14,
    title: 'Signature schemes: ECDSA P-256 and RSA-3072 against Ed25519',
    target: 'no numeric target: verification rates and the cost of an ECDSA-signed Image repository reported',
    baselineIs: 'Ed25519 through node:crypto (verifications); the same Image repository signed with Ed25519 keys (ECU rows)',
    rows,
    verdict: 'INFO',
    notes,
    seconds: (performance.now() - started) / 1000,
  };
}
