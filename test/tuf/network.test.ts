// Group F of docs/threat-model.md over real HTTP: size limits on metadata (F1), endless data (F2),
// short or altered images (F3), slow retrieval (F4) and HTTP failures (F5). The real
// RepositoryUpdater and HttpFetcher talk to test/support/static-server.ts on 127.0.0.1, which
// misbehaves on request. Timeouts are configured small, so every case ends in well under a second
// of waiting.
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DownloadLengthError,
  FetchError,
  LengthMismatchError,
  RemoteNotFoundError,
  SlowRetrievalError,
} from '../../shared/core/errors.js';
import type { HttpFetcherConfig } from '../../shared/client/fetcher.js';
import { DEFAULT_UPDATER_CONFIG, localTargetPath } from '../../shared/client/updater.js';
import { expectRejected, expectRejectedKeepingVerified, type TestClient } from '../support/client.js';
import { RepositorySimulator } from '../support/repo-simulator.js';
import type { Misbehaviour, StaticServer } from '../support/static-server.js';
import { cleanupServersClientsAndTempDirs, expectCorruptedImageRefused, httpClient, imageBytes, serveRepository, sha256, tempDir } from '../support/tuf-helpers.js';

const ENDLESS_CAP = 64 * 1024 * 1024;

afterEach(cleanupServersClientsAndTempDirs);

interface Setup {
  readonly sim: RepositorySimulator;
  readonly server: StaticServer;
  readonly client: TestClient;
  readonly data: Buffer;
  /** Raw URL path of the image on the server. */
  readonly imagePath: string;
  /** Where the image is served from on disk. */
  readonly imageFile: string;
}

/**
 * A repository with one image `ecu/app.bin`, exported and served over HTTP, and a client that has
 * completed one honest refresh (root v1, timestamp/snapshot/targets v2).
 */
async function setup(
  fetcherConfig: Partial<HttpFetcherConfig> = {},
  { hashes = false, size = 100_000 }: { hashes?: boolean; size?: number } = {},
): Promise<Setup> {
  const sim = new RepositorySimulator({ computeMetafileHashesAndLength: hashes });
  const data = imageBytes('app', size);
  sim.addTarget('ecu/app.bin', data);
  sim.release();
  const server = await serveRepository(sim, { endlessCapBytes: ENDLESS_CAP });
  const client = httpClient(sim, server, fetcherConfig);
  await client.updater.refresh();
  const imagePath = `/targets/ecu/${sha256(data)}.app.bin`;
  return { sim, server, client, data, imagePath, imageFile: join(server.root, imagePath) };
}

function misbehaveOn(server: StaticServer, path: string, misbehaviour: Misbehaviour): void {
  server.misbehave = (request) => (request.path === path ? misbehaviour : undefined);
}

describe('F1: metadata over its byte limit is aborted', () => {
  it('F1: a timestamp over maxTimestampBytes (declared Content-Length) is aborted with DownloadLengthError', async () => {
    const { sim, server, client } = await setup();
    // A validly signed timestamp v3, padded with an unknown field past the 16 KiB limit.
    Object.assign(sim.timestamp, { padding: 'x'.repeat(DEFAULT_UPDATER_CONFIG.maxTimestampBytes) });
    sim.updateTimestamp();
    sim.exportTo(server.root);
    expect(readFileSync(join(server.root, 'metadata', 'timestamp.json')).length).toBeGreaterThan(DEFAULT_UPDATER_CONFIG.maxTimestampBytes);

    const err = await expectRejected(client, () => client.newUpdater().refresh(), DownloadLengthError, 'download_length');
    expect(err.message).toMatch(/declares \d+ bytes, over the 16384-byte limit/);
    // The limit was the only reason: a client allowing 64 KiB accepts the very same file.
    const lenient = httpClient(sim, server, {}, { maxTimestampBytes: 64 * 1024 });
    expect((await lenient.updater.refresh()).timestampVersion).toBe(3);

    Reflect.deleteProperty(sim.timestamp, 'padding');
    sim.updateTimestamp();
    sim.exportTo(server.root);
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(4);
  });

  it('F1: a timestamp over maxTimestampBytes sent chunked, without a length, is cut off at the limit', async () => {
    const { sim, server, client } = await setup();
    Object.assign(sim.timestamp, { padding: 'x'.repeat(DEFAULT_UPDATER_CONFIG.maxTimestampBytes) });
    sim.updateTimestamp();
    sim.exportTo(server.root);
    misbehaveOn(server, '/metadata/timestamp.json', { kind: 'chunked' });

    const err = await expectRejected(client, () => client.newUpdater().refresh(), DownloadLengthError, 'download_length');
    expect(err.message).toMatch(/sends more than 16384 bytes/);

    Reflect.deleteProperty(sim.timestamp, 'padding');
    sim.updateTimestamp();
    sim.exportTo(server.root);
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(4);
  });

  it('F1: a root over maxRootBytes is aborted with DownloadLengthError and the client stays on root v1', async () => {
    const { sim, server, client } = await setup();
    Object.assign(sim.root, { padding: 'x'.repeat(DEFAULT_UPDATER_CONFIG.maxRootBytes) });
    sim.publishRoot();
    sim.exportTo(server.root);
    expect(readFileSync(join(server.root, 'metadata', '2.root.json')).length).toBeGreaterThan(DEFAULT_UPDATER_CONFIG.maxRootBytes);

    await expectRejected(client, () => client.newUpdater().refresh(), DownloadLengthError, 'download_length');
    expect(Buffer.from(client.store.load('root')!).equals(sim.publishedRoots[0]!)).toBe(true);

    // The repository replaces root v2 with a normal-size one: the next refresh takes it.
    Reflect.deleteProperty(sim.root, 'padding');
    sim.publishRoot({ bumpVersion: false });
    sim.exportTo(server.root);
    expect((await client.newUpdater().refresh()).rootVersion).toBe(2);
  });

  it('F1: a snapshot longer than the length timestamp states is aborted with DownloadLengthError', async () => {
    const { sim, server, client } = await setup({}, { hashes: true });
    sim.release();
    sim.exportTo(server.root);
    const stated = sim.timestamp.meta['snapshot.json'].length!;
    // A validly signed snapshot v3 with extra bytes: longer than timestamp says.
    const longer = sim.sign({ ...sim.snapshot, padding: 'x'.repeat(1_000) }, sim.signers.get('snapshot')!);
    expect(longer.length).toBeGreaterThan(stated);
    writeFileSync(join(server.root, 'metadata', '3.snapshot.json'), longer);

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), DownloadLengthError, 'download_length', {
      timestamp: sim.signedRole('timestamp'),
    });

    sim.exportTo(server.root);
    expect(await client.newUpdater().refresh()).toEqual({ rootVersion: 1, timestampVersion: 3, snapshotChanged: true, targetsVersion: 3 });
  });

  it('F1: targets served endlessly is cut off at the length snapshot states', async () => {
    const { sim, server, client } = await setup({}, { hashes: true });
    sim.release();
    sim.exportTo(server.root);
    misbehaveOn(server, '/metadata/3.targets.json', { kind: 'endless' });

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), DownloadLengthError, 'download_length', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });
    await server.settled();
    const served = server.requests.filter((r) => r.path === '/metadata/3.targets.json');
    expect(served.map((r) => r.closedEarly)).toEqual([true, true]);
    for (const r of served) expect(r.bytesSent).toBeLessThan(ENDLESS_CAP);

    server.misbehave = undefined;
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });
});

describe('F2, F3: images are checked against their signed length and hashes', () => {
  it('F2: an endless image stops at the signed length; no file is left behind', async () => {
    const { server, client, data, imagePath } = await setup();
    misbehaveOn(server, imagePath, { kind: 'endless' });
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');
    const progress: number[] = [];

    await expectRejected(
      client,
      () => client.updater.downloadTarget(lookup, destination, (p) => progress.push(p.received)),
      DownloadLengthError,
      'download_length',
    );
    expect(existsSync(destination)).toBe(false);
    expect(existsSync(`${destination}.part`)).toBe(false);
    expect(Math.max(0, ...progress)).toBeLessThanOrEqual(data.length);
    await server.settled();
    const served = server.requests.find((r) => r.path === imagePath)!;
    // The client hung up: the server stopped because the connection closed, far below its own cap.
    expect(served.closedEarly).toBe(true);
    expect(served.bytesSent).toBeLessThan(data.length + 16 * 1024 * 1024);

    server.misbehave = undefined;
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
  });

  it('F2: an image whose Content-Length exceeds the signed length is refused before its body is read', async () => {
    const { client, data, imageFile } = await setup();
    writeFileSync(imageFile, Buffer.concat([data, Buffer.alloc(10, 0x42)]));
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');

    const err = await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), DownloadLengthError, 'download_length');
    expect(err.message).toMatch(/declares 100010 bytes, over the 100000-byte limit/);
    expect(existsSync(destination)).toBe(false);
    expect(existsSync(`${destination}.part`)).toBe(false);

    writeFileSync(imageFile, data);
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
  });

  it('F3: an image shorter than signed is rejected with LengthMismatchError; no file, no .part left', async () => {
    const { client, data, imageFile } = await setup();
    writeFileSync(imageFile, data.subarray(0, data.length - 1_000));
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');

    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), LengthMismatchError, 'length_mismatch');
    expect(existsSync(destination)).toBe(false);
    expect(existsSync(`${destination}.part`)).toBe(false);

    writeFileSync(imageFile, data);
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
  });

  it('F3: an image with one corrupted byte is rejected with HashMismatchError; no file, no .part left', async () => {
    const { client, data, imageFile } = await setup();
    const lookup = await client.updater.findTarget('ecu/app.bin');
    await expectCorruptedImageRefused(client, { file: imageFile, data, lookup }, localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin'), 54_321);
  });
});

describe('F4: slow retrieval', () => {
  const slow: Partial<HttpFetcherConfig> = { connectTimeoutMs: 200, idleTimeoutMs: 200, minBytesPerSecond: 1024, speedGracePeriodMs: 200 };

  it('F4: an image trickled below the minimum speed is aborted with SlowRetrievalError', async () => {
    // Idle timeout long enough that only the average-speed check can fire.
    const { server, client, data, imagePath } = await setup({ ...slow, idleTimeoutMs: 2_000 });
    misbehaveOn(server, imagePath, { kind: 'trickle', chunkBytes: 8, intervalMs: 50 });
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');

    const err = await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), SlowRetrievalError, 'slow_retrieval');
    expect(err.message).toMatch(/slower than 1024 B\/s/);
    expect(existsSync(destination)).toBe(false);
    await server.settled();
    expect(server.requests.find((r) => r.path === imagePath)!.closedEarly).toBe(true);

    server.misbehave = undefined;
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
  });

  it('F4: a timestamp trickled below the minimum speed is aborted with SlowRetrievalError', async () => {
    const { sim, server, client } = await setup({ ...slow, idleTimeoutMs: 2_000 });
    sim.release();
    sim.exportTo(server.root);
    misbehaveOn(server, '/metadata/timestamp.json', { kind: 'trickle', chunkBytes: 4, intervalMs: 50 });

    const err = await expectRejected(client, () => client.newUpdater().refresh(), SlowRetrievalError, 'slow_retrieval');
    expect(err.message).toMatch(/slower than 1024 B\/s/);

    server.misbehave = undefined;
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('F4: a server that stalls before sending response headers is aborted with SlowRetrievalError', async () => {
    const { sim, server, client } = await setup(slow);
    sim.release();
    sim.exportTo(server.root);
    misbehaveOn(server, '/metadata/timestamp.json', { kind: 'stall', afterHeaders: false });

    const err = await expectRejected(client, () => client.newUpdater().refresh(), SlowRetrievalError, 'slow_retrieval');
    expect(err.message).toMatch(/no response within 200 ms/);

    server.misbehave = undefined;
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('F4: a server that sends headers and then stalls before the first body byte is aborted with SlowRetrievalError', async () => {
    // Grace period long enough that only the idle timeout can fire.
    const { server, client, data, imagePath } = await setup({ ...slow, speedGracePeriodMs: 5_000 });
    misbehaveOn(server, imagePath, { kind: 'stall', afterHeaders: true });
    const lookup = await client.updater.findTarget('ecu/app.bin');
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/app.bin');

    const err = await expectRejected(client, () => client.updater.downloadTarget(lookup, destination), SlowRetrievalError, 'slow_retrieval');
    expect(err.message).toMatch(/no data for 200 ms/);
    expect(existsSync(destination)).toBe(false);

    server.misbehave = undefined;
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
  });
});

describe('F5: HTTP failures', () => {
  it('F5: timestamp 404 is RemoteNotFoundError and leaves the store unchanged', async () => {
    const { sim, server, client } = await setup();
    sim.release();
    sim.exportTo(server.root);
    unlinkSync(join(server.root, 'metadata', 'timestamp.json'));

    await expectRejected(client, () => client.newUpdater().refresh(), RemoteNotFoundError, 'not_found');

    sim.exportTo(server.root);
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('F5: snapshot 404 is RemoteNotFoundError; only the verified timestamp is stored', async () => {
    const { sim, server, client } = await setup();
    sim.release();
    sim.exportTo(server.root);
    unlinkSync(join(server.root, 'metadata', '3.snapshot.json'));

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), RemoteNotFoundError, 'not_found', {
      timestamp: sim.signedRole('timestamp'),
    });

    sim.exportTo(server.root);
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it('F5: targets 404 is RemoteNotFoundError; only the verified timestamp and snapshot are stored', async () => {
    const { sim, server, client } = await setup();
    sim.release();
    sim.exportTo(server.root);
    unlinkSync(join(server.root, 'metadata', '3.targets.json'));

    await expectRejectedKeepingVerified(client, () => client.newUpdater().refresh(), RemoteNotFoundError, 'not_found', {
      timestamp: sim.signedRole('timestamp'),
      snapshot: sim.signedRole('snapshot'),
    });

    sim.exportTo(server.root);
    expect((await client.newUpdater().refresh()).targetsVersion).toBe(3);
  });

  it.each([503, 408, 500])('F5: HTTP %i for timestamp is FetchError fetch_failed and leaves the store unchanged', async (status) => {
    // 503 is retried after a short wait (below); a server that stays busy still ends in fetch_failed.
    const { sim, server, client } = await setup({ maxBusyWaitMs: 10 });
    sim.release();
    sim.exportTo(server.root);
    misbehaveOn(server, '/metadata/timestamp.json', { kind: 'status', status });

    const err = await expectRejected(client, () => client.newUpdater().refresh(), FetchError, 'fetch_failed');
    expect(err.message).toContain(`HTTP ${status}`);

    server.misbehave = undefined;
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('F5: a timestamp body dropped mid-way is FetchError fetch_failed and leaves the store unchanged', async () => {
    const { sim, server, client } = await setup();
    sim.release();
    sim.exportTo(server.root);
    misbehaveOn(server, '/metadata/timestamp.json', { kind: 'drop', afterBytes: 100 });

    await expectRejected(client, () => client.newUpdater().refresh(), FetchError, 'fetch_failed');

    server.misbehave = undefined;
    expect((await client.newUpdater().refresh()).timestampVersion).toBe(3);
  });

  it('F5: a server answering every second request with 503 gives only typed failures and never corrupts the store', async () => {
    // Without retries (busyRetries 0), a refresh needs several requests in a row: each attempt ends
    // in a typed failure, and none of them changes the store.
    const { sim, server, client } = await setup({ busyRetries: 0 });
    sim.release();
    sim.exportTo(server.root);
    let count = 0;
    server.misbehave = () => (++count % 2 === 0 ? { kind: 'status', status: 503 } : undefined);

    for (let attempt = 0; attempt < 6; attempt++) {
      await expectRejected(client, () => client.newUpdater().refresh(), FetchError, 'fetch_failed');
    }
    expect(count).toBeGreaterThanOrEqual(6);

    server.misbehave = undefined;
    expect(await client.newUpdater().refresh()).toEqual({ rootVersion: 1, timestampVersion: 3, snapshotChanged: true, targetsVersion: 3 });
  });

  it('a busy repository (503 with Retry-After, as at its download cap) is waited for and tried again, so the refresh and the download complete', async () => {
    const { sim, server, client, data } = await setup({ maxBusyWaitMs: 20 });
    sim.release();
    sim.exportTo(server.root);
    let count = 0;
    server.misbehave = () => (++count % 2 === 1 ? { kind: 'status', status: 503 } : undefined);

    const updater = client.newUpdater();
    expect(await updater.refresh()).toEqual({ rootVersion: 1, timestampVersion: 3, snapshotChanged: true, targetsVersion: 3 });
    const destination = join(tempDir('uptane-busy-'), 'app.bin');
    await updater.downloadTarget(await updater.findTarget('ecu/app.bin'), destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
    expect(count).toBeGreaterThanOrEqual(8); // every request was answered 503 once, then served
  });

  it('F5: connection refused is FetchError fetch_failed and leaves the store unchanged', async () => {
    const sim = new RepositorySimulator();
    sim.release();
    const gone = await serveRepository(sim);
    await gone.stop(); // the port is now closed
    const client = httpClient(sim, gone);

    const err = await expectRejected(client, () => client.updater.refresh(), FetchError, 'fetch_failed');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });
});
