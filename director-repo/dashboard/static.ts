// Serves the web dashboard's built bundle (ui/, built into dist/ui by `npm run build:ui`) at /ui on
// the Director's own origin, so its API calls carry the session cookie and the Content-Security-Policy
// can allow nothing but 'self'. Only GET and HEAD of index.html and of files directly in assets/ are
// answered; any other /ui path goes on (the session routes under /ui/api live in ui-session.ts).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { sendError } from '../../shared/server/http-errors.js';

/** Where the dashboard is mounted on the Director. */
export const DASHBOARD_PATH = '/ui';

/**
 * Headers on every dashboard response. No inline script or style is allowed (Preact renders text,
 * uPlot sets element styles through the CSSOM, which CSP does not restrict); no framing
 * (clickjacking of the campaign buttons), no referrer leaving with a VIN in the URL.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
};

/** A bundle file name as Vite writes them (name-hash.ext): one segment, no dot first, no escapes. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Hashed file names never change content: a year, immutable. index.html is checked every time. */
const ASSET_CACHE = 'public, max-age=31536000, immutable';
const INDEX_CACHE = 'no-cache';

export interface DashboardStaticOptions {
  /** The built bundle (default: dist/ui of the project this module belongs to). */
  readonly dir?: string;
}

/** dist/ui of the project: the nearest folder above this module with a package.json. */
export function defaultDashboardDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'ui');
    const parent = dirname(dir);
    if (parent === dir) return join(dirname(fileURLToPath(import.meta.url)), 'ui');
    dir = parent;
  }
}

interface CachedFile {
  readonly mtimeMs: number;
  readonly size: number;
  readonly raw: Buffer;
  readonly gzip: Buffer;
}

/** The router answering GET/HEAD /ui, /ui/, /ui/index.html and /ui/assets/<file>; mount it on the app's root. */
export function dashboardStatic({ dir = defaultDashboardDir() }: DashboardStaticOptions = {}): Router {
  const router = express.Router({ caseSensitive: true, strict: true });
  // The bundle is small: each file read once and gzipped once, again only when the build replaced it.
  const cache = new Map<string, CachedFile>();

  const load = (file: string): CachedFile | undefined => {
    let stat;
    try {
      stat = statSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (!stat.isFile()) return undefined;
    const known = cache.get(file);
    if (known !== undefined && known.mtimeMs === stat.mtimeMs && known.size === stat.size) return known;
    const raw = readFileSync(file);
    const entry = { mtimeMs: stat.mtimeMs, size: stat.size, raw, gzip: gzipSync(raw, { level: 9 }) };
    cache.set(file, entry);
    return entry;
  };

  const send = (req: Request, res: Response, file: string, type: string, cacheControl: string): boolean => {
    const entry = load(file);
    if (entry === undefined) return false;
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && entry.gzip.length < entry.raw.length;
    const body = gzip ? entry.gzip : entry.raw;
    res.status(200);
    res.set({ ...DASHBOARD_HEADERS, 'Content-Type': type, 'Cache-Control': cacheControl, Vary: 'Accept-Encoding', 'Content-Length': String(body.length) });
    if (gzip) res.set('Content-Encoding', 'gzip');
    if (req.method === 'HEAD') res.end();
    else res.end(body);
    return true;
  };

  const notBuilt = (res: Response) => {
    res.set(DASHBOARD_HEADERS);
    sendError(res, 503, 'dashboard_not_built', `the web dashboard is not built in ${dir}: run \`npm run build:ui\` (npm ci runs it) and reload`);
  };

  const index = (req: Request, res: Response) => {
    if (!send(req, res, join(dir, 'index.html'), CONTENT_TYPES['.html']!, INDEX_CACHE)) notBuilt(res);
  };

  for (const path of [DASHBOARD_PATH, `${DASHBOARD_PATH}/`, `${DASHBOARD_PATH}/index.html`]) {
    router.get(path, index);
  }

  router.get(`${DASHBOARD_PATH}/assets/:file`, (req: Request, res: Response, next: NextFunction) => {
    const name = String(req.params.file);
    const extension = /\.[a-z0-9]+$/.exec(name)?.[0] ?? '';
    const type = CONTENT_TYPES[extension];
    // One plain segment of a known type: "..", "%2e%2e", a slash or a backslash never reach the file system.
    if (!ASSET_NAME.test(name) || name.includes('..') || type === undefined) {
      res.set(DASHBOARD_HEADERS);
      sendError(res, 404, 'not_found', `no dashboard file ${name.slice(0, 64)}`);
      return;
    }
    try {
      if (send(req, res, join(dir, 'assets', name), type, ASSET_CACHE)) return;
    } catch (err) {
      next(err);
      return;
    }
    if (!existsSync(join(dir, 'index.html'))) {
      notBuilt(res);
      return;
    }
    res.set(DASHBOARD_HEADERS);
    sendError(res, 404, 'not_found', `no dashboard file ${name}`);
  });

  return router;
}
