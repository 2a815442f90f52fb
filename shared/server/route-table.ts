// The requests a server answers on plain node:http before express's router: what every vehicle or
// client sends on every cycle (metadata GETs, manifests), where express's routing cost more than the
// work itself (bench/RESULTS.md, figures 1 and 2). Each server declares its fast routes once, as a
// table; the server dispatches through it (withFastRoutes), and the fuzzer's route table
// (test/fuzz/route-table.ts) reads the same table, so a route is answered in one place only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadRequestError } from '../core/errors.js';
import { sendRawError } from './http-errors.js';
import { closeAfterAnswer, type RequestHandler } from './http-server.js';

export type RouteParams = Readonly<Record<string, string>>;

export interface FastRoute {
  /** GET also answers HEAD (node:http leaves out the body), as express's GET routes do. */
  readonly method: 'GET' | 'POST';
  /**
   * The path as express would write it: literal segments and `:name` parameters, one segment each
   * (`/vehicle/metadata/:file`). It matches with or without a trailing slash and whatever the query.
   */
  readonly path: string;
  /** Answers the request, now or later (a rejected promise becomes a clean 500: guardRequests). */
  handle(req: IncomingMessage, res: ServerResponse, params: RouteParams): unknown;
}

/** "METHOD /path", how route tables name a route (the fuzzer's generators are keyed by it). */
export const routeKey = (route: Pick<FastRoute, 'method' | 'path'>): string => `${route.method} ${route.path}`;

interface CompiledRoute {
  readonly route: FastRoute;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

function compile(route: FastRoute): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1));
      return '([^/?#]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}/?(?:\\?.*)?$`), names };
}

/**
 * The parameters of `req` if it is `compiled`'s route, else undefined. A parameter is decoded once;
 * one that is not valid percent-encoding is refused as express refuses it (400, same message).
 */
function matchRoute(compiled: CompiledRoute, req: IncomingMessage): RouteParams | undefined {
  const { method } = compiled.route;
  if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) return undefined;
  const match = compiled.pattern.exec(req.url ?? '');
  if (match === null) return undefined;
  const params: Record<string, string> = {};
  compiled.names.forEach((name, i) => {
    const raw = match[i + 1]!;
    try {
      params[name] = decodeURIComponent(raw);
    } catch (err) {
      if (err instanceof URIError) throw new BadRequestError(`Failed to decode param '${raw}'`);
      throw err;
    }
  });
  return params;
}

/** The route pattern each request was dispatched to, for metrics and request logs (never its path). */
const ROUTE_PATTERNS = new WeakMap<IncomingMessage, string>();

/** Records the pattern (`/vehicle/metadata/:file`) `req` was answered by. */
export function markRoutePattern(req: IncomingMessage, pattern: string): void {
  ROUTE_PATTERNS.set(req, pattern);
}

/** The pattern `req` was answered by, if a route took it (undefined for a 404 of no route). */
export function routePatternOf(req: IncomingMessage): string | undefined {
  return ROUTE_PATTERNS.get(req);
}

/** One request handler: the first of `routes` that matches answers, else `fallback` (express). */
export function withFastRoutes(routes: readonly FastRoute[], fallback: RequestHandler): RequestHandler {
  const compiled = routes.map(compile);
  return (req, res) => {
    for (const route of compiled) {
      let params: RouteParams | undefined;
      try {
        params = matchRoute(route, req);
      } catch (err) {
        closeAfterAnswer(req, res);
        sendRawError(res, err);
        return undefined;
      }
      if (params !== undefined) {
        markRoutePattern(req, route.route.path);
        return route.route.handle(req, res, params);
      }
    }
    return fallback(req, res);
  };
}
