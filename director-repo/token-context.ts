// Which operator token the current request was authenticated with, for the audit log
// (docs/threat-model.md HR-10). The operator services (Director, Campaigns) audit with the operator's
// name only; the request's token id travels in an AsyncLocalStorage that the operator middleware
// opens, so every entry written while serving that request names the token, through body parsing
// and awaits alike, without threading it through every service method.
import { AsyncLocalStorage } from 'node:async_hooks';

const context = new AsyncLocalStorage<{ readonly tokenId: string }>();

/** Runs `fn` (the rest of an operator request) as authenticated with token `tokenId`. */
export function runWithToken<T>(tokenId: string, fn: () => T): T {
  return context.run({ tokenId }, fn);
}

/** The token id of the operator request being served, or undefined outside one. */
export function currentTokenId(): string | undefined {
  return context.getStore()?.tokenId;
}
