// The bearer-token check both repositories put in front of their write APIs (docs/threat-model.md
// HR-10): a client over its failure budget gets 429 before its token is even looked at (so guessing
// learns nothing more), an unknown, expired or revoked token gets 401 with a code that says which,
// and every failure is one log line with the client address and the token id, never the token.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { bearerToken, checkTokenUsable, tokenIdOf, type StoredTokenState } from './access-tokens.js';
import type { FailedAuthThrottle } from './auth-throttle.js';
import type { Clock } from '../core/clock.js';
import { AuthenticationError, TooManyAttemptsError, UptaneError } from '../core/errors.js';

/** What a server gives its token check: the time, its failed-attempt limits, where failures are logged. */
export interface TokenAuthContext {
  readonly clock: Clock;
  readonly throttle: FailedAuthThrottle;
  readonly log?: ((line: string) => void) | undefined;
}

export interface BearerAuthOptions<T extends StoredTokenState> extends TokenAuthContext {
  readonly kind: 'operator' | 'uploader';
  /** The stored token a presented token hashes to, or undefined (from a token store, maybe over the network). */
  readonly lookup: (token: string) => Promise<T | undefined>;
  /** Refusal message for a missing or unknown token. */
  readonly unknownMessage: string;
  /** How to get a new token, for expired and revoked ones. */
  readonly renew: string;
  /** Takes over once the token is valid: checks its scope for this request and calls next. */
  readonly accept: (req: Request, res: Response, token: T, next: NextFunction) => void;
}

export function bearerAuth<T extends StoredTokenState>(options: BearerAuthOptions<T>): RequestHandler {
  const { kind, throttle, log } = options;
  return async (req, res, next) => {
    const address = req.socket.remoteAddress;
    const wait = throttle.retryAfter(address);
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      next(new TooManyAttemptsError(`too many failed ${kind} authentications from this address; try again in ${wait} s`, wait));
      return;
    }
    const token = bearerToken(req.headers.authorization);
    const stored = token === undefined ? undefined : await options.lookup(token);
    try {
      if (stored === undefined) throw new AuthenticationError(options.unknownMessage);
      checkTokenUsable(kind, stored, options.clock.now(), options.renew);
    } catch (err) {
      const blocked = throttle.recordFailure(address);
      const presented = token === undefined ? 'no bearer token' : `token id ${tokenIdOf(token)}${stored === undefined ? '' : ` (${stored.name})`}`;
      const code = err instanceof UptaneError ? err.code : 'unauthorized';
      log?.(
        `${kind} authentication failed from ${address ?? 'an unknown address'}: ${presented}, ${code}` +
          (blocked ? `; this address is refused for ${throttle.retryAfter(address)} s` : ''),
      );
      next(err);
      return;
    }
    options.accept(req, res, stored, next);
  };
}
