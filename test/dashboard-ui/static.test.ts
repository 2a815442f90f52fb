// The dashboard's file server (director-repo/dashboard/static.ts) over real HTTP, without a browser:
// strict headers on every answer, long caching only for hashed assets, gzip when asked, no way out
// of the bundle's folder, and a 503 that says what to run when the bundle was never built.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import express from 'express';
import { dashboardStatic } from '../../director-repo/dashboard/static.js';

let dir: string;
let server: Server;
let base: string;

async function serve(bundle: string): Promise<void> {
  const app = express();
  app.use(dashboardStatic({ dir: bundle }));
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'fell through' } });
  });
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** GET with the path as written (fetch would resolve dots) and the raw body bytes. */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-ui-static-'));
});

afterEach(async () => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the dashboard file server', () => {
  beforeEach(async () => {
    mkdirSync(join(dir, 'ui', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'ui', 'index.html'), '<!doctype html><script type="module" src="/ui/assets/index-abc.js"></script>');
    writeFileSync(join(dir, 'ui', 'assets', 'index-abc.js'), `console.log(${JSON.stringify('x'.repeat(4000))});`);
    writeFileSync(join(dir, 'secret.json'), '{"secret": "outside the bundle"}');
    writeFileSync(join(dir, 'ui', 'assets', '.hidden.js'), 'a dot file the build never writes');
    await serve(join(dir, 'ui'));
  });

  it('answers index.html at /ui and /ui/ with the strict headers and no caching', async () => {
    for (const path of ['/ui', '/ui/', '/ui/index.html']) {
      const answer = await get(path);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/^text\/html/);
      expect(answer.headers['cache-control']).toBe('no-cache');
      const csp = String(answer.headers['content-security-policy']);
      expect(csp).toMatch(/^default-src 'self'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(csp).not.toMatch(/unsafe/);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['referrer-policy']).toBe('no-referrer');
      expect(answer.body.toString()).toMatch(/^<!doctype html>/);
    }
  });

  it('serves hashed assets for a year, gzipped when the client takes gzip', async () => {
    const plain = await get('/ui/assets/index-abc.js');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toMatch(/^text\/javascript/);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const zipped = await get('/ui/assets/index-abc.js', { 'accept-encoding': 'gzip' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.body.length).toBeLessThan(plain.body.length);
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
  });

  it('never leaves the bundle folder, whatever the escapes', async () => {
    for (const path of [
      '/ui/assets/..%2f..%2fsecret.json',
      '/ui/assets/%2e%2e%2f%2e%2e%2fsecret.json',
      '/ui/assets/..%5c..%5csecret.json',
      '/ui/assets/../../secret.json',
      '/ui/assets/%2e%2e',
      '/ui/assets/.hidden.js',
      '/ui/assets/index-abc.js%00.js',
      '/ui/assets/missing-123.js',
      '/ui/other.html',
    ]) {
      const answer = await get(path);
      expect({ path, status: answer.status }).toEqual({ path, status: 404 });
      expect(answer.body.toString()).not.toMatch(/outside the bundle|dot file/);
    }
  });

  it('leaves other methods and /ui/api paths to the routes after it', async () => {
    const session = await get('/ui/api/session');
    expect(JSON.parse(session.body.toString())).toEqual({ error: { code: 'not_found', message: 'fell through' } });
  });
});

describe('a Director whose dashboard was never built', () => {
  it('answers /ui with 503 and the command to run', async () => {
    await serve(join(dir, 'not-built'));
    for (const path of ['/ui', '/ui/', '/ui/assets/index-abc.js']) {
      const answer = await get(path);
      expect(answer.status).toBe(503);
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(JSON.parse(answer.body.toString()).error).toMatchObject({ code: 'dashboard_not_built', message: expect.stringMatching(/npm run build:ui/) });
    }
  });
});
