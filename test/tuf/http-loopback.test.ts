// The real RepositoryUpdater with the real HttpFetcher against a real static HTTP server on
// 127.0.0.1 serving a tree exported from the simulator: consistent-snapshot naming over the wire
// (docs/threat-model.md E10) and resuming an interrupted image download with HTTP Range (F6).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { FetchError } from '../../shared/core/errors.js';
import { localTargetPath, type DownloadProgress } from '../../shared/client/updater.js';
import { expectRejected } from '../support/client.js';
import { RepositorySimulator } from '../support/repo-simulator.js';
import { misbehaveOnce, startStaticServer, type Misbehaviour } from '../support/static-server.js';
import { cleanupServersClientsAndTempDirs, httpClient, imageBytes, serveRepository, sha256, tempDir } from '../support/tuf-helpers.js';

afterEach(cleanupServersClientsAndTempDirs);

/** A drop that cuts the connection only once the client reported it stored `cutAt` bytes. */
function dropAfterStored(cutAt: number): { misbehaviour: Misbehaviour; onProgress: (p: DownloadProgress) => void } {
  let stored!: () => void;
  const cutWhen = new Promise<void>((resolve) => (stored = resolve));
  return {
    misbehaviour: { kind: 'drop', afterBytes: cutAt, cutWhen },
    onProgress: (p) => {
      if (p.received >= cutAt) stored();
    },
  };
}

describe('RepositoryUpdater over real HTTP (loopback)', () => {
  it('E10: refresh, delegated lookup and download of several images use N.role.json and hash-prefixed URLs; the store keeps unversioned names', async () => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
    const images: Record<string, Buffer> = {
      'ecu/engine.bin': imageBytes('engine', 300_000),
      'brake.bin': imageBytes('brake', 4_096),
      'infotainment/ö map.bin': imageBytes('map', 70_000),
      'supplier/fw.bin': imageBytes('supplier', 150_000),
    };
    sim.addTarget('ecu/engine.bin', images['ecu/engine.bin']!, { hardwareIds: ['engine-hw'], releaseCounter: 1 });
    sim.addTarget('brake.bin', images['brake.bin']!);
    sim.addTarget('infotainment/ö map.bin', images['infotainment/ö map.bin']!);
    sim.addDelegation('targets', { name: 'supplier', terminating: true, paths: ['supplier/*'] });
    sim.addTarget('supplier/fw.bin', images['supplier/fw.bin']!, { hardwareIds: ['fw-hw'] }, 'supplier');
    sim.release();
    const server = await serveRepository(sim);
    const client = httpClient(sim, server);

    const result = await client.updater.refresh();
    expect(result).toEqual({ rootVersion: 1, timestampVersion: 2, snapshotChanged: true, targetsVersion: 2 });

    const targetDir = tempDir('uptane-images-');
    for (const [name, data] of Object.entries(images)) {
      const lookup = await client.updater.findTarget(name);
      expect(lookup.role).toBe(name.startsWith('supplier/') ? 'supplier' : 'targets');
      const destination = localTargetPath(targetDir, name);
      await client.updater.downloadTarget(lookup, destination);
      expect(readFileSync(destination).equals(data)).toBe(true);
      expect(existsSync(`${destination}.part`)).toBe(false);
    }

    await server.settled();
    expect(server.requests.map((r) => `${r.status} ${r.path}`)).toEqual([
      '404 /metadata/2.root.json',
      '200 /metadata/timestamp.json',
      '200 /metadata/2.snapshot.json',
      '200 /metadata/2.targets.json',
      `200 /targets/ecu/${sha256(images['ecu/engine.bin']!)}.engine.bin`,
      `200 /targets/${sha256(images['brake.bin']!)}.brake.bin`,
      `200 /targets/infotainment/${sha256(images['infotainment/ö map.bin']!)}.%C3%B6%20map.bin`,
      '200 /metadata/1.supplier.json',
      `200 /targets/supplier/${sha256(images['supplier/fw.bin']!)}.fw.bin`,
    ]);
    // Stored under plain role names, holding exactly the bytes served under the versioned names.
    expect(readdirSync(client.store.directory).sort()).toEqual(['root.json', 'snapshot.json', 'supplier.json', 'targets.json', 'timestamp.json']);
    expect(Buffer.from(client.store.load('snapshot')!).equals(readFileSync(join(server.root, 'metadata', '2.snapshot.json')))).toBe(true);
    expect(Buffer.from(client.store.load('targets')!).equals(readFileSync(join(server.root, 'metadata', '2.targets.json')))).toBe(true);
    expect(Buffer.from(client.store.load('supplier')!).equals(readFileSync(join(server.root, 'metadata', '1.supplier.json')))).toBe(true);
    expect(readdirSync(targetDir).sort()).toEqual(
      ['brake.bin', 'ecu%2Fengine.bin', 'infotainment%2F%C3%B6%20map.bin', 'supplier%2Ffw.bin'].sort(),
    );
  });

  it('E10: a new release is fetched under its new versioned names and replaces the unversioned stored files', async () => {
    const sim = new RepositorySimulator();
    sim.addTarget('a.bin', imageBytes('a', 1_000));
    sim.release();
    const server = await serveRepository(sim);
    const client = httpClient(sim, server);
    await client.updater.refresh();

    sim.addTarget('b.bin', imageBytes('b', 2_000));
    sim.release();
    sim.exportTo(server.root);
    const seen = server.requests.length;
    const result = await client.newUpdater().refresh();
    expect(result).toEqual({ rootVersion: 1, timestampVersion: 3, snapshotChanged: true, targetsVersion: 3 });
    await server.settled();
    expect(server.requests.slice(seen).map((r) => `${r.status} ${r.path}`)).toEqual([
      '404 /metadata/2.root.json',
      '200 /metadata/timestamp.json',
      '200 /metadata/3.snapshot.json',
      '200 /metadata/3.targets.json',
    ]);
    expect(readdirSync(client.store.directory).sort()).toEqual(['root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);
    expect(Buffer.from(client.store.load('targets')!).equals(readFileSync(join(server.root, 'metadata', '3.targets.json')))).toBe(true);

    // Nothing new: only root N+1 and timestamp are asked for.
    const again = server.requests.length;
    expect((await client.newUpdater().refresh()).snapshotChanged).toBe(false);
    await server.settled();
    expect(server.requests.slice(again).map((r) => `${r.status} ${r.path}`)).toEqual(['404 /metadata/2.root.json', '200 /metadata/timestamp.json']);
  });

  it('F6: a download cut mid-body keeps a .part file; the next downloadTarget (after a restart) resumes with Range and ends with the right bytes', async () => {
    const sim = new RepositorySimulator();
    const data = imageBytes('resume', 256 * 1024);
    sim.addTarget('ecu/big.bin', data);
    sim.release();
    const server = await serveRepository(sim);
    const client = httpClient(sim, server);
    await client.updater.refresh();
    const lookup = await client.updater.findTarget('ecu/big.bin');
    const targetPath = `/targets/ecu/${sha256(data)}.big.bin`;
    const cutAt = 100_000;
    const drop = dropAfterStored(cutAt);
    server.misbehave = misbehaveOnce(targetPath, drop.misbehaviour);
    const destination = localTargetPath(tempDir('uptane-images-'), 'ecu/big.bin');

    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination, drop.onProgress), FetchError, 'fetch_failed');
    expect(existsSync(destination)).toBe(false);
    const part = readFileSync(`${destination}.part`);
    expect(part.length).toBe(cutAt);
    expect(part.equals(data.subarray(0, cutAt))).toBe(true);

    // As after a restart: a new updater, same store, same .part file.
    const restarted = client.newUpdater();
    await restarted.refresh();
    const progress: number[] = [];
    await restarted.downloadTarget(await restarted.findTarget('ecu/big.bin'), destination, (p) => progress.push(p.received));
    expect(readFileSync(destination).equals(data)).toBe(true);
    expect(existsSync(`${destination}.part`)).toBe(false);
    expect(progress[0]).toBeGreaterThan(cutAt);
    expect(progress.at(-1)).toBe(data.length);

    await server.settled();
    const downloads = server.requests.filter((r) => r.path === targetPath);
    expect(downloads.map((r) => ({ range: r.range, status: r.status, bytesSent: r.bytesSent, closedEarly: r.closedEarly }))).toEqual([
      { range: undefined, status: 200, bytesSent: cutAt, closedEarly: true },
      { range: `bytes=${cutAt}-`, status: 206, bytesSent: data.length - cutAt, closedEarly: false },
    ]);
  });

  it('F6: a server that ignores Range still ends with the right bytes', async () => {
    const sim = new RepositorySimulator();
    const data = imageBytes('norange', 200 * 1024);
    sim.addTarget('fw.bin', data);
    sim.release();
    const server = await serveRepository(sim);
    const client = httpClient(sim, server);
    await client.updater.refresh();
    const lookup = await client.updater.findTarget('fw.bin');
    const targetPath = `/targets/${sha256(data)}.fw.bin`;
    const destination = localTargetPath(tempDir('uptane-images-'), 'fw.bin');
    const drop = dropAfterStored(50_000);
    server.misbehave = misbehaveOnce(targetPath, drop.misbehaviour);
    await expectRejected(client, () => client.updater.downloadTarget(lookup, destination, drop.onProgress), FetchError, 'fetch_failed');
    expect(statSync(`${destination}.part`).size).toBe(50_000);

    server.misbehave = (request) => (request.path === targetPath ? { kind: 'ignore-range' } : undefined);
    await client.updater.downloadTarget(lookup, destination);
    expect(readFileSync(destination).equals(data)).toBe(true);
    expect(existsSync(`${destination}.part`)).toBe(false);

    await server.settled();
    const last = server.requests.at(-1)!;
    expect({ path: last.path, range: last.range, status: last.status, bytesSent: last.bytesSent }).toEqual({
      path: targetPath,
      range: 'bytes=50000-',
      status: 200,
      bytesSent: data.length,
    });
  });
});

describe('static test server', () => {
  it('answers Range with 206 and Content-Range, refuses other methods, and never serves outside its root', async () => {
    const sim = new RepositorySimulator();
    sim.addTarget('x.bin', imageBytes('x', 1_000));
    sim.release();
    const parent = tempDir('uptane-static-');
    sim.exportTo(join(parent, 'repo'));
    const server = await startStaticServer(join(parent, 'repo'));
    const targetPath = `/targets/${sha256(imageBytes('x', 1_000))}.x.bin`;

    const ranged = await fetch(`${server.url}${targetPath}`, { headers: { range: 'bytes=900-' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 900-999/1000');
    expect(ranged.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await ranged.arrayBuffer()).equals(imageBytes('x', 1_000).subarray(900))).toBe(true);

    const json = await fetch(`${server.url}/metadata/timestamp.json`);
    expect(json.headers.get('content-type')).toBe('application/json');
    await json.arrayBuffer();
    expect((await fetch(`${server.url}/metadata/timestamp.json`, { method: 'POST' })).status).toBe(405);
    const beyond = await fetch(`${server.url}${targetPath}`, { headers: { range: 'bytes=5000-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */1000');

    // `fetch` normalizes dot segments, so raw paths go through node:http, which sends them as written.
    const rawStatus = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: server.port, path, method: 'GET' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of ['/../repo/metadata/timestamp.json', '/metadata/..%2F..%2Frepo%2Fmetadata%2Ftimestamp.json', '/%2e%2e/repo/metadata/timestamp.json', '/metadata/%00', '/metadata']) {
      expect(await rawStatus(path)).toBe(404);
    }
    expect(await rawStatus('/metadata/timestamp.json')).toBe(200);
  });
});
