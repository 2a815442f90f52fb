// The fuzzer's input: every HTTP route each server answers, read from the express app's own router
// (express 5: app.router.stack, mounted routers followed) plus the routes server.ts answers on plain
// node:http before express. Built from the real app factories, so a route added to either server
// shows up here and the route-table test fails until the fuzzer knows how to generate requests for it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp as createDirectorApp } from '../../director-repo/app.js';
import type { ImageCatalog } from '../../director-repo/image-catalog.js';
import { openDirector } from '../../director-repo/server.js';
import { createApp as createImageApp } from '../../image-repo/app.js';
import { openImageRepository } from '../../image-repo/server.js';
import { systemClock } from '../../shared/core/clock.js';
import { REPO_ROOT } from '../support/cli-runner.js';

/** "METHOD path", the path as express holds it (a pattern string or a RegExp's source text). */
export type RouteKey = string;

interface RouterLayer {
  readonly rawPath?: unknown;
  readonly route?: { readonly path: unknown; readonly methods: Record<string, boolean> };
  readonly handle?: { readonly stack?: readonly RouterLayer[] };
}

function pathText(path: unknown): string {
  if (path instanceof RegExp) return String(path);
  if (typeof path === 'string') return path;
  throw new Error(`route path ${String(path)} is neither a string nor a RegExp: teach test/fuzz/route-table.ts to read it`);
}

function join2(prefix: string, path: string): string {
  if (prefix === '' || prefix === '/') return path;
  if (path === '/') return prefix; // a router mounted on its parent's path
  if (path.startsWith('/^')) throw new Error(`a RegExp route ${path} under the mount point ${prefix}: teach test/fuzz/route-table.ts to read it`);
  return `${prefix}${path}`;
}

/** The routes of an express 5 router stack, mounted routers included (method and full path). */
export function expressRoutes(stack: readonly RouterLayer[], prefix = ''): RouteKey[] {
  const routes: RouteKey[] = [];
  for (const layer of stack) {
    if (layer.route !== undefined) {
      const path = join2(prefix, pathText(layer.route.path));
      for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') routes.push(`${method.toUpperCase()} ${path}`);
      continue;
    }
    const nested = layer.handle?.stack;
    if (nested !== undefined) {
      if (layer.rawPath === undefined) throw new Error('a mounted router without rawPath: express or router changed, update test/fuzz/route-table.ts');
      routes.push(...expressRoutes(nested, join2(prefix, pathText(layer.rawPath))));
    }
  }
  return routes;
}

/**
 * The functions each server.ts takes from its app.ts to answer before express's router (today
 * serveMetadata, serveVehicleMetadata, serveVehicleManifest), read from its source: a new fast
 * path must be named in FAST_HANDLER_ROUTES (and given a generator) before the fuzzer passes.
 */
export function fastHandlersOf(server: 'image' | 'director'): string[] {
  const source = readFileSync(join(REPO_ROOT, server === 'image' ? 'image-repo' : 'director-repo', 'server.ts'), 'utf8');
  const imports = /import \{([^}]*)\} from '\.\/app\.js';/.exec(source);
  if (imports === null) throw new Error(`${server} server.ts no longer imports from ./app.js; update test/fuzz/route-table.ts`);
  const handlers = imports[1]!.split(',').map((name) => name.trim()).filter((name) => /^serve[A-Z]\w*$/.test(name));
  // Each imported handler is called in the request handler (an unused import would not serve).
  return handlers.filter((name) => new RegExp(`\\b${name}\\(`).test(source)).sort();
}

/**
 * The fast handlers and the express routes they answer (each also has its express route, which
 * calls the same function; the fuzzer drives both since a request reaches one or the other).
 */
export const FAST_HANDLER_ROUTES: Record<string, RouteKey[]> = {
  serveMetadata: ['GET /metadata/:file'],
  serveVehicleMetadata: ['GET /vehicle/metadata/:file'],
  serveVehicleManifest: ['POST /vehicle/manifest'],
};

/** The Image repository's routes, from an app built on a scratch data folder. */
export function imageRouteTable(): RouteKey[] {
  const dir = mkdtempSync(join(tmpdir(), 'uptane-fuzz-routes-'));
  try {
    const { storage, repository } = openImageRepository(dir, systemClock);
    try {
      const app = createImageApp({ repository, storage }) as unknown as { router: { stack: RouterLayer[] } };
      return expressRoutes(app.router.stack);
    } finally {
      storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Director's routes (campaign routes mounted, as `director serve` does). */
export function directorRouteTable(): RouteKey[] {
  const dir = mkdtempSync(join(tmpdir(), 'uptane-fuzz-routes-'));
  try {
    // The route table needs no Image repository: nothing here is asked of the catalog.
    const images = {} as ImageCatalog;
    const { director, storage, campaigns } = openDirector({ dataDir: dir, imageRepoUrl: 'http://127.0.0.1:9', images });
    try {
      const app = createDirectorApp({ director, storage, campaigns }) as unknown as { router: { stack: RouterLayer[] } };
      return expressRoutes(app.router.stack);
    } finally {
      storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
