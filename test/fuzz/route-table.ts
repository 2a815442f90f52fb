// The fuzzer's input: every HTTP route each server answers, read from the server's own tables: the
// fast routes it answers on plain node:http before express (shared/server/route-table.ts) and the
// express app's router (express 5: app.router.stack, mounted routers followed). Built from the real
// factories, so a route added to either server shows up here and the route-table test fails until
// the fuzzer knows how to generate requests for it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp as createDirectorApp, vehicleFastRoutes } from '../../director-repo/app.js';
import type { ImageCatalog } from '../../director-repo/image-catalog.js';
import { openDirector } from '../../director-repo/server.js';
import { createApp as createImageApp, metadataFastRoutes } from '../../image-repo/app.js';
import { openImageRepository } from '../../image-repo/server.js';
import { systemClock } from '../../shared/core/clock.js';
import { routeKey } from '../../shared/server/route-table.js';

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

/** The Image repository's routes, from an app built on a scratch data folder. */
export function imageRouteTable(): RouteKey[] {
  const dir = mkdtempSync(join(tmpdir(), 'uptane-fuzz-routes-'));
  try {
    const { storage, repository } = openImageRepository(dir, systemClock);
    try {
      const app = createImageApp({ repository, storage }) as unknown as { router: { stack: RouterLayer[] } };
      return [...metadataFastRoutes({ repository }).map(routeKey), ...expressRoutes(app.router.stack)];
    } finally {
      storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Director's routes (campaign routes mounted, as `director serve` does). */
export async function directorRouteTable(): Promise<RouteKey[]> {
  const dir = mkdtempSync(join(tmpdir(), 'uptane-fuzz-routes-'));
  try {
    // The route table needs no Image repository: nothing here is asked of the catalog.
    const images = {} as ImageCatalog;
    const { services, storage } = await openDirector({ dataDir: dir, imageRepoUrl: 'http://127.0.0.1:9', images });
    try {
      const app = createDirectorApp({ services, storage }) as unknown as { router: { stack: RouterLayer[] } };
      return [...vehicleFastRoutes({ services }).map(routeKey), ...expressRoutes(app.router.stack)];
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
