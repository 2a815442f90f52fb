// Image repository replicas on one PostgreSQL database and one shared data folder, in process: both
// start (no folder lock), a publication through one is served by the other, re-signing by both at
// once leaves one new timestamp per round and no failure on either, and a starting replica leaves
// another's upload in progress alone (blobs/incoming is shared).
import { mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { digestBytes } from '../../shared/core/hashing.js';
import { SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { serializeMetadata, signMetadata } from '../../shared/core/metadata/sign.js';
import type { RootSigned } from '../../shared/core/metadata/types.js';
import { BlobStore } from '../../image-repo/blob-store.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { describePostgres, dropSchemas, uniqueSchema, urlWithSchema } from '../support/postgres.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const EXPIRES = '2027-06-01T00:00:00Z';
const HOUR = 3_600_000;
const rootKey = PrivateKey.fromLabel('replica-root');
const targetsKey = PrivateKey.fromLabel('replica-targets');

let dir: string;
const schemas: string[] = [];
const running: RunningImageServer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'image-replicas-'));
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
  rmSync(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await dropSchemas(schemas);
});

type OnlinePublicKeys = ReturnType<RunningImageServer['repository']['onlineKeys']>;

function rootFor(server: RunningImageServer, version = 1, online: OnlinePublicKeys = server.repository.onlineKeys()): Uint8Array {
  const signed: RootSigned = {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version,
    expires: EXPIRES,
    consistent_snapshot: true,
    keys: {
      [rootKey.keyid]: rootKey.publicKey.tuf,
      [targetsKey.keyid]: targetsKey.publicKey.tuf,
      [online.timestamp.keyid]: online.timestamp.tuf,
      [online.snapshot.keyid]: online.snapshot.tuf,
    },
    roles: {
      root: { keyids: [rootKey.keyid], threshold: 1 },
      targets: { keyids: [targetsKey.keyid], threshold: 1 },
      timestamp: { keyids: [online.timestamp.keyid], threshold: 1 },
      snapshot: { keyids: [online.snapshot.keyid], threshold: 1 },
    },
  };
  return serializeMetadata(signMetadata(signed, [rootKey]));
}

describePostgres('Image repository replicas on PostgreSQL', () => {
  it('share one repository: published through one, served by the other; re-signing together fails neither', async () => {
    const schema = uniqueSchema('image_replicas');
    schemas.push(schema);
    const clock = new FixedClock(NOW);
    const logs: string[][] = [[], []];
    const dataDir = join(dir, 'shared');
    for (const log of logs) {
      running.push(await startImageServer({ dataDir, clock, database: urlWithSchema(schema), log: (line) => log.push(line) }));
    }
    const [a, b] = running as [RunningImageServer, RunningImageServer];
    // One data folder: the same online keys.
    expect(b.repository.onlineKeys().timestamp.keyid).toBe(a.repository.onlineKeys().timestamp.keyid);

    await a.repository.submitRoot(rootFor(a));
    const content = Buffer.from('engine ecu v3');
    await a.repository.uploadImage((async function* () {
      yield content;
    })(), 'release-bot');
    const targets = { _type: 'targets' as const, spec_version: SPEC_VERSION, version: 1, expires: EXPIRES, targets: { 'ecm-3.bin': { length: content.length, hashes: digestBytes(content) } } };
    await a.repository.submitTargets('targets', serializeMetadata(signMetadata(targets, [targetsKey])));
    const served = await fetch(`${b.url}/metadata/1.targets.json`);
    expect(served.status).toBe(200);
    const image = await fetch(`${b.url}/targets/${digestBytes(content).sha256}.ecm-3.bin`);
    expect(Buffer.from(await image.arrayBuffer()).equals(content)).toBe(true);

    // Timestamp (1 day) is due again after half its lifetime: both replicas check at once, each round.
    for (let round = 1; round <= 5; round++) {
      clock.advance(13 * HOUR);
      await Promise.all([a.checkResigning(), b.checkResigning()]);
      expect(a.resignStatus().consecutiveFailures).toBe(0);
      expect(b.resignStatus().consecutiveFailures).toBe(0);
      expect((await a.storage.latest('timestamp'))!.version).toBe(1 + round);
    }
    // One of the two re-signed each round; the other, finding its timestamp version taken, read again
    // and found nothing due.
    const lines = logs.flat();
    expect(lines.filter((line) => /re-signed timestamp before expiry/.test(line)).length).toBe(5);
    expect(lines.some((line) => /failed/.test(line))).toBe(false);

    // An uploader's targets through A while B re-signs: B taking the timestamp version is no reason
    // to refuse them (A reads the new state and signs again), round after round.
    for (let version = 2; version <= 6; version++) {
      clock.advance(13 * HOUR);
      const targetsV = { ...targets, version };
      const [submitted] = await Promise.all([a.repository.submitTargets('targets', serializeMetadata(signMetadata(targetsV, [targetsKey]))), b.checkResigning()]);
      expect(submitted.version).toBe(version);
      expect(b.resignStatus().consecutiveFailures).toBe(0);
    }
    // The same targets version again, through the other replica: refused, as late as it is.
    await expect(b.repository.submitTargets('targets', serializeMetadata(signMetadata({ ...targets, version: 6 }, [targetsKey])))).rejects.toMatchObject({ code: 'rollback' });
  });
});

describePostgres('Image repository replicas after an online key rotation', () => {
  it('a replica whose keys another rotated away refuses to sign until restarted, rather than publish what clients reject', async () => {
    const schema = uniqueSchema('image_replicas_rotation');
    schemas.push(schema);
    const clock = new FixedClock(NOW);
    const failures: string[] = [];
    const dataDir = join(dir, 'shared');
    const start = () => startImageServer({ dataDir, clock, database: urlWithSchema(schema), log: (line) => failures.push(line) });
    running.push(await start(), await start());
    const [a, b] = running as [RunningImageServer, RunningImageServer];
    await a.repository.submitRoot(rootFor(a));
    const content = Buffer.from('engine ecu v3');
    await a.repository.uploadImage((async function* () {
      yield content;
    })(), 'release-bot');
    const targets = (version: number) =>
      serializeMetadata(signMetadata({ _type: 'targets' as const, spec_version: SPEC_VERSION, version, expires: EXPIRES, targets: { 'ecm-3.bin': { length: content.length, hashes: digestBytes(content) } } }, [targetsKey]));
    await a.repository.submitTargets('targets', targets(1));

    // A rotates both online keys and publishes the root that lists the new ones.
    const rotation = await a.repository.rotateOnlineKeys(['snapshot', 'timestamp'], false);
    await a.repository.submitRoot(rootFor(a, 2, { snapshot: rotation.pending.snapshot!, timestamp: rotation.pending.timestamp! }));
    const timestampBefore = (await b.storage.latest('timestamp'))!;

    // B still holds the old keys: it neither re-signs nor signs a new targets' snapshot.
    clock.advance(13 * 3_600_000);
    await b.checkResigning();
    expect(b.resignStatus().consecutiveFailures).toBe(1);
    expect(b.resignStatus().lastFailure!.message).toMatch(/does not list this server's (snapshot|timestamp) key .*restart this server/);
    await expect(b.repository.submitTargets('targets', targets(2))).rejects.toMatchObject({ code: 'repository_state' });
    expect((await b.storage.latest('timestamp'))!.version).toBe(timestampBefore.version);
    expect((await b.storage.latest('targets'))!.version).toBe(1);

    // Restarted, B loads the rotated keys from the shared folder and signs again.
    await b.close();
    running.splice(1, 1);
    const restarted = await start();
    running.push(restarted);
    expect(restarted.repository.onlineKeys().timestamp.keyid).toBe(rotation.pending.timestamp!.keyid);
    await restarted.checkResigning();
    expect(restarted.resignStatus().consecutiveFailures).toBe(0);
    expect((await restarted.storage.latest('timestamp'))!.version).toBe(timestampBefore.version + 1);
  });
});

describe('BlobStore.removeStaleTempFiles in a shared blobs/incoming', () => {
  it('removes only temp files untouched for the given age; without one, every temp file', () => {
    const blobs = new BlobStore(join(dir, 'blobs'));
    const stale = join(dir, 'blobs', 'incoming', 'stale.tmp');
    const live = join(dir, 'blobs', 'incoming', 'live.tmp');
    writeFileSync(stale, 'cut short by a crash');
    writeFileSync(live, 'another replica is writing this');
    const twoHoursAgo = new Date(Date.now() - 2 * HOUR);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    expect(blobs.removeStaleTempFiles(HOUR)).toBe(1);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(blobs.removeStaleTempFiles()).toBe(1);
    expect(existsSync(live)).toBe(false);
  });
});
