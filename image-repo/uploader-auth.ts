// Who may publish what on the Image repository (docs/threat-model.md HR-10). An uploader token is
// checked like an operator token (shared/server/token-auth.ts: expiry, revocation, failed-attempt limits),
// then limited by what it was made for: the roles it may publish (`--role targets --role acme`;
// root is a role too) and the image paths it may add, change or remove (`--path 'acme/*'`, TUF
// shell-style patterns). A supplier's token limited to role acme cannot publish targets or root.
// Signatures still decide what clients trust; these limits stop a leaked token from publishing
// metadata its holder has no business with, and keep them apart in the logs.
import type { Request, RequestHandler } from 'express';
import { canonicalJson } from '../shared/core/canonical.js';
import { InsufficientScopeError } from '../shared/core/errors.js';
import { parseMetadata } from '../shared/core/metadata/parse.js';
import { matchesPathPattern } from '../shared/core/metadata/paths.js';
import { bearerAuth, type TokenAuthContext } from '../shared/server/token-auth.js';
import type { UploaderTokenRecord, UploaderTokenStore } from './store/uploader-tokens.js';

export type UploaderRequest = Request & { uploader?: string; uploaderToken?: UploaderTokenRecord };

export function requireUploader({ storage, ...context }: TokenAuthContext & { storage: UploaderTokenStore }): RequestHandler {
  return bearerAuth({
    ...context,
    kind: 'uploader',
    lookup: (token) => storage.uploaderToken(token),
    unknownMessage: 'a valid uploader token is required (Authorization: Bearer <token>); create one with `uptane image uploader add`',
    renew: '`uptane image uploader add NAME` on the Image repository host',
    accept: (req: UploaderRequest, _res, token, next) => {
      req.uploader = token.name;
      req.uploaderToken = token;
      next();
    },
  });
}

/** Refuses (403 insufficient_scope) a token that may not publish `role`. */
export function checkMayPublishRole(token: UploaderTokenRecord, role: string): void {
  if (token.roles !== null && !token.roles.includes(role)) {
    throw new InsufficientScopeError(
      `uploader token ${token.tokenId} (${token.name}) may publish ${token.roles.join(', ') || 'no role'}, not ${role}: ask for a token with --role ${role}`,
    );
  }
}

/**
 * Refuses (403 insufficient_scope) targets metadata of `role` that adds, changes or removes an image
 * outside the token's paths, or changes delegations, compared with the published version
 * (`previous`). Images the token did not touch may lie anywhere: the top-level targets lists every
 * team's images, and a team publishing its own must not need rights to the others'.
 */
export function checkMayPublishPaths(token: UploaderTokenRecord, role: string, bytes: Uint8Array, previous: Uint8Array | undefined): void {
  const paths = token.paths;
  if (paths === null) return;
  const next = parseMetadata(bytes, 'targets', { role }).signed;
  const before = previous === undefined ? undefined : parseMetadata(previous, 'targets', { role }).signed;
  const entries = (targets: Readonly<Record<string, unknown>> | undefined) => new Map(Object.entries(targets ?? {}).map(([name, entry]) => [name, canonicalJson(entry)]));
  const now = entries(next.targets);
  const was = entries(before?.targets);
  const touched = [...new Set([...now.keys(), ...was.keys()])].filter((name) => now.get(name) !== was.get(name));
  const outside = touched.filter((name) => !paths.some((pattern) => matchesPathPattern(name, pattern)));
  if (outside.length > 0) {
    throw new InsufficientScopeError(
      `uploader token ${token.tokenId} (${token.name}) may publish images under ${paths.join(', ')}; ` +
        `this ${role} changes ${outside.slice(0, 3).join(', ')}${outside.length > 3 ? ` and ${outside.length - 3} more` : ''}`,
    );
  }
  if (canonicalJson(next.delegations ?? null) !== canonicalJson(before?.delegations ?? null)) {
    throw new InsufficientScopeError(`uploader token ${token.tokenId} (${token.name}) is limited to paths ${paths.join(', ')} and may not change ${role}'s delegations`);
  }
}
