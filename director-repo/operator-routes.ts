// A route of the operator API contract (api/operator-api.ts) mounted on express: the method and path
// come from the route's key, and the handler's answer must be the route's answer type, so the
// compiler holds every /api/v1 answer to the contract the CLI and other clients read.
import type { Request, RequestHandler, Response, Router } from 'express';
import { parseRotationRequest } from '../shared/server/online-keys.js';
import type { OperatorAnswer, OperatorPathParams, OperatorRoute } from './api/operator-api.js';
import type { DirectorServices } from './director.js';
import { DIRECTOR_SIGNING_ROLES } from './vehicle-metadata.js';

/** A request past requireOperator (operator-auth.ts): `operator` names the token's holder. */
export type OperatorHttpRequest = Request & { operator?: string };

/** What a route's handler answers: the route's answer type, 201 for a route that creates. */
export interface OperatorReply<R extends OperatorRoute> {
  readonly status?: 200 | 201;
  readonly answer: OperatorAnswer<R>;
}

type Method = 'get' | 'put' | 'post' | 'patch' | 'delete';

/**
 * Mounts `route` on `router`, with `body` (the capped body reader) before the handler when the
 * route takes one. A handler's rejection goes to the router's error handlers, as express 5 does
 * for any async handler.
 */
export function operatorRoute<R extends OperatorRoute>(
  router: Router,
  route: R,
  body: RequestHandler | undefined,
  handle: (req: OperatorHttpRequest & { params: OperatorPathParams<R> }) => Promise<OperatorReply<R>>,
): void {
  const space = route.indexOf(' ');
  const method = route.slice(0, space).toLowerCase() as Method;
  const path = route.slice(space + 1);
  const answer = async (req: Request, res: Response) => {
    const { status = 200, answer: json } = await handle(req as OperatorHttpRequest & { params: OperatorPathParams<R> });
    res.status(status).json(json);
  };
  if (body === undefined) router[method](path, answer);
  else router[method](path, body, answer);
}

/**
 * The online-key routes: GET /online-keys (the keys in use and those pending) and POST
 * /online-keys/rotate (admin: a new pending key per role; docs/decisions.md "Online key rotation").
 * `rawBody` is the capped body reader; the rotation request is parsed strictly here.
 */
export function onlineKeyRoutes(router: Router, services: Pick<DirectorServices, 'root'>, rawBody: RequestHandler, log?: (line: string) => void): void {
  operatorRoute(router, 'GET /online-keys', undefined, async () => {
    const pending = services.root.pendingKeysJson();
    // `pending` only while a rotation waits: otherwise the answer is what it always was.
    return { answer: { ...services.root.onlineKeysJson(), ...(Object.keys(pending).length === 0 ? {} : { pending }) } };
  });
  operatorRoute(router, 'POST /online-keys/rotate', rawBody, async (req) => {
    const { roles, replace } = parseRotationRequest(req.body as Buffer, DIRECTOR_SIGNING_ROLES);
    const answer = await services.root.rotateOnlineKeys(roles, replace, req.operator!);
    log?.(`online ${roles.join(', ')} key rotation started by ${req.operator}: pending ${Object.values(answer.pending).map((key) => key.keyid).join(', ')}`);
    return { status: 201, answer };
  });
}
