// Who may call the Director's operator API, route by route (docs/threat-model.md HR-10). Every
// /api/v1 route has a row in OPERATOR_ROUTE_SCOPES; a token's scope must reach that row's scope:
// read < operator < admin. read sees everything and changes nothing; operator registers vehicles,
// assigns images and runs campaigns; admin also publishes the Director's root (tokens themselves
// are managed on the Director host with `uptane director operator`, never over HTTP). A request
// that matches no row needs admin, so a route added without a row is closed, not open, and the test
// of the table (test/hardening/tokens.test.ts) names it.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { InsufficientScopeError } from '../shared/core/errors.js';
import { bearerAuth, type TokenAuthContext } from '../shared/server/token-auth.js';
import { OPERATOR_SCOPES, type OperatorScope, type OperatorTokenRecord, type OperatorTokenStore } from './store/operator-tokens.js';
import { runWithToken } from './token-context.js';
import type { OperatorRoute } from './api/operator-api.js';
import { cookieAuth, usesUiCookie, type CookieRequest, type UiSessionContext } from './dashboard/ui-session.js';

/** Every route of the operator API (api/operator-api.ts), `METHOD /path` under /api/v1, and the scope it needs. */
export const OPERATOR_ROUTE_SCOPES: Readonly<Record<OperatorRoute, OperatorScope>> = {
  'GET /online-keys': 'read',
  'PUT /metadata/root': 'admin',
  'POST /online-keys/rotate': 'admin',
  'POST /vehicles': 'operator',
  'GET /vehicles': 'read',
  'GET /vehicles/:vin': 'read',
  'POST /inventory/lookup': 'read',
  'GET /vehicles/:vin/manifests': 'read',
  'GET /fleet/overview': 'read',
  'GET /attacks': 'read',
  'GET /images': 'read',
  'GET /events': 'read',
  'POST /vehicles/:vin/ecus/:serial/replace': 'operator',
  'PUT /vehicles/:vin/ecus/:serial/profile': 'operator',
  'PATCH /vehicles/:vin/attributes': 'operator',
  'POST /vehicles/:vin/offline-metadata': 'operator',
  'POST /assignments': 'operator',
  'DELETE /assignments/:id': 'operator',
  'POST /install-bundles': 'operator',
  'GET /install-bundles/:id': 'read',
  'GET /audit': 'read',
  'POST /groups': 'operator',
  'GET /groups': 'read',
  'GET /groups/:name': 'read',
  'POST /campaigns': 'operator',
  'GET /campaigns': 'read',
  'GET /campaigns/:campaign': 'read',
  'GET /campaigns/:campaign/vehicles': 'read',
  'POST /campaigns/:campaign/retry': 'operator',
  'POST /campaigns/:campaign/:action': 'operator',
  'GET /repositories/health': 'read',
  'GET /alerts': 'read',
};

const ROUTES = Object.entries(OPERATOR_ROUTE_SCOPES).map(([key, scope]) => {
  const [method, path] = key.split(' ') as [string, string];
  return { method, segments: path.split('/').slice(1), scope };
});

/** The scope `method path` (relative to /api/v1) needs; admin when no row matches. */
export function requiredScope(method: string, path: string): OperatorScope {
  const verb = method === 'HEAD' ? 'GET' : method; // express answers HEAD with the GET route
  const segments = path.replace(/(.)\/$/, '$1').split('/').slice(1);
  const route = ROUTES.find(
    (r) =>
      r.method === verb &&
      r.segments.length === segments.length &&
      r.segments.every((s, i) => (s.startsWith(':') ? segments[i]!.length > 0 : s.toLowerCase() === segments[i]!.toLowerCase())),
  );
  return route?.scope ?? 'admin';
}

export const scopeCovers = (held: OperatorScope, needed: OperatorScope): boolean => OPERATOR_SCOPES.indexOf(held) >= OPERATOR_SCOPES.indexOf(needed);

/**
 * The operator router's first middleware: a valid, unexpired, unrevoked token whose scope covers the
 * route (else 401 or 403 insufficient_scope), then the rest of the request runs with `req.operator`
 * set and the token id in token-context.ts for the audit log.
 */
export function requireOperator({ storage, session, ...context }: TokenAuthContext & { storage: OperatorTokenStore; session?: UiSessionContext | undefined }): RequestHandler {
  // Holds the token to the route's scope, then runs the rest of the request with its id.
  const accept = (req: Request & { operator?: string }, token: OperatorTokenRecord, next: NextFunction) => {
    req.operator = token.name;
    const needed = requiredScope(req.method, req.path);
    runWithToken(token.tokenId, () => {
      if (scopeCovers(token.scope, needed)) next();
      else {
        next(
          new InsufficientScopeError(
            `operator token ${token.tokenId} (${token.name}) has scope ${token.scope}; ${req.method} /api/v1${req.path} needs ${needed}: ` +
              `ask an admin for a token with --scope ${needed}`,
          ),
        );
      }
    });
  };
  const bearer = bearerAuth({
    ...context,
    kind: 'operator',
    lookup: (token) => storage.operatorToken(token),
    unknownMessage: 'a valid operator token is required (Authorization: Bearer <token>); create one with `uptane director operator add`',
    renew: '`uptane director operator add NAME` on the Director host',
    accept: (req: Request & { operator?: string }, _res, token, next) => accept(req, token, next),
  });
  if (session === undefined) return bearer;
  // The dashboard's cookie, when a request has no bearer token (dashboard/ui-session.ts): the same
  // token checks and scopes, plus CSRF proof for writes.
  const cookie = cookieAuth(session);
  return (req: Request, res: Response, next: NextFunction) => {
    if (!usesUiCookie(req)) {
      void bearer(req, res, next);
      return;
    }
    void cookie(req, res, (err?: unknown) => {
      if (err !== undefined) next(err);
      else accept(req, (req as CookieRequest).uiToken!, next);
    });
  };
}
