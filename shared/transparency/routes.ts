// The transparency log's HTTP routes, mounted at /log on the Image repository and the Director
// (docs/transparency-log.md "Server routes"). Reads are public: the log exists to be read by anyone.
// The one write, a witness's cosignature, is opened by the witness's own key, not a token. Every
// query is parsed strictly (known keys only, each once, canonical decimal, bounded length) and every
// refusal is a typed error handed to the app's error handler, so it leaves as {error:{code,message}}.
//
// Only the core and express: the dependency rule keeps shared/transparency off shared/server, so the
// body of a cosignature is read here with its own cap.
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { BadRequestError, BodyTooLargeError, LogRangeError, MalformedLogDataError, NotFoundError } from '../core/errors.js';
import { DEFAULT_LOG_STORE_OPTIONS } from './log-store.js';
import { encodeConsistencyProof, encodeInclusionProof, parseHashHex } from './proofs.js';
import type { LogServer } from './server-log.js';
import { encodeSignedTreeHead, parseSignedTreeHead, type TreeHeadSignature } from './tree-head.js';

/** Largest cosignature request body: a head (itself capped at 16 KiB as a file) and one signature. */
export const MAX_COSIGNATURE_BODY_BYTES = 16 * 1024;
/** Longest query string any log route reads; a leaf hash and a size fit in a tenth of it. */
export const MAX_LOG_QUERY_LENGTH = 512;
/** A size or index: canonical decimal, at most 16 digits (2^53 - 1 has 16). */
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
const KEYID = /^[0-9a-f]{1,128}$/;
const SIG_HEX = /^[0-9a-f]{2,2048}$/;

export interface LogRouteOptions {
  /** Entries one GET /log/entries answers at most; a longer range is answered with its first this many. */
  readonly pageSize?: number;
}

/** The query of `req` as `keys` name them, each present once; BadRequestError for anything else. */
function queryOf<K extends string>(req: Request, keys: readonly K[]): Record<K, string> {
  const url = req.originalUrl ?? req.url;
  const at = url.indexOf('?');
  const text = at < 0 ? '' : url.slice(at + 1);
  if (text.length > MAX_LOG_QUERY_LENGTH) throw new BadRequestError(`a query of ${text.length} characters; the log's routes read at most ${MAX_LOG_QUERY_LENGTH}`);
  const params = new URLSearchParams(text);
  const out: Partial<Record<K, string>> = {};
  for (const key of new Set(params.keys())) {
    if (!(keys as readonly string[]).includes(key)) throw new BadRequestError(`unknown query parameter ${JSON.stringify(key.slice(0, 40))}; this route reads ${keys.join(' and ')}`);
    if (params.getAll(key).length > 1) throw new BadRequestError(`query parameter ${key} given more than once`);
  }
  for (const key of keys) {
    const value = params.get(key);
    if (value === null) throw new BadRequestError(`query parameter ${key} is missing; this route reads ${keys.join(' and ')}`);
    out[key] = value;
  }
  return out as Record<K, string>;
}

function decimal(value: string, name: string): number {
  if (!DECIMAL.test(value) || !Number.isSafeInteger(Number(value))) throw new BadRequestError(`${name} must be a whole number in canonical decimal (no sign, no leading zero), not ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

function parseCosignature(value: unknown): TreeHeadSignature {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedLogDataError('cosignature must be an object {keyid, sig}');
  const { keyid, sig, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new MalformedLogDataError(`cosignature has an unknown field ${Object.keys(rest)[0]!.slice(0, 40)}`);
  if (typeof keyid !== 'string' || !KEYID.test(keyid)) throw new MalformedLogDataError('cosignature.keyid must be lowercase hex of at most 128 characters');
  if (typeof sig !== 'string' || !SIG_HEX.test(sig)) throw new MalformedLogDataError('cosignature.sig must be lowercase hex of at most 1024 bytes');
  return { keyid, sig };
}

/** The request's body, refused past `maxBytes` whether declared or sent; no compression. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return Promise.reject(new BadRequestError(`Content-Encoding ${encoding} is not accepted: send the body uncompressed`));
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(new BodyTooLargeError(`a body of ${declared} bytes; at most ${maxBytes}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err: Error | undefined, body?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err === undefined) resolve(body!);
      else reject(err);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        // Stop reading: the error handler closes the connection after its answer.
        req.pause();
        finish(new BodyTooLargeError(`a body over ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined, Buffer.concat(chunks, total));
    const onError = (err: Error) => finish(new BadRequestError(`the request body could not be read: ${err.message}`, { cause: err }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

type Handler = (log: LogServer, req: Request, res: Response) => Promise<void>;

/**
 * The /log routes of a server whose transparency log is `log`; a server that keeps none (no
 * `--log-key`) answers each with 404 `not_found`, as before the routes existed.
 */
export function logRouter(log: LogServer | undefined, options: LogRouteOptions = {}): express.Router {
  const pageSize = options.pageSize ?? DEFAULT_LOG_STORE_OPTIONS.maxReadEntries;
  const router = express.Router();
  const route =
    (handler: Handler) =>
    (req: Request, res: Response, next: NextFunction): void => {
      if (log === undefined) {
        next(new NotFoundError(`this server keeps no transparency log (its operator starts it with --log-key to keep one)`));
        return;
      }
      handler(log, req, res).catch(next);
    };

  router.get(
    '/tree-head',
    route(async (log, req, res) => {
      // ?min_cosignatures=N: the newest head N witnesses cosigned, for a vehicle that requires them.
      const hasQuery = (req.originalUrl ?? req.url).includes('?');
      const min = hasQuery ? decimal(queryOf(req, ['min_cosignatures']).min_cosignatures, 'min_cosignatures') : 0;
      res.set('Cache-Control', 'no-cache').json(encodeSignedTreeHead(log.treeHead(min)));
    }),
  );

  router.get(
    '/entries',
    route(async (log, req, res) => {
      const query = queryOf(req, ['start', 'end']);
      const start = decimal(query.start, 'start');
      const end = decimal(query.end, 'end');
      if (start > end) throw new BadRequestError(`start ${start} is after end ${end}`);
      // Past the log is refused (416), whatever part of the range it holds; a long range within it
      // is answered with its first page, and the client asks again from where the answer stops.
      const size = await log.size();
      if (end > size) throw new LogRangeError(`entries up to ${end} asked of a log of ${size}`);
      const entries = await log.entries(start, Math.min(end, start + pageSize));
      res.json({ entries: entries.map((e) => ({ index: e.index, entry: Buffer.from(e.data).toString('base64') })) });
    }),
  );

  router.get(
    '/proof/inclusion',
    route(async (log, req, res) => {
      const query = queryOf(req, ['leaf_hash', 'tree_size']);
      let leafHash: Uint8Array;
      try {
        leafHash = parseHashHex(query.leaf_hash, 'leaf_hash');
      } catch (err) {
        if (!(err instanceof MalformedLogDataError)) throw err;
        throw new BadRequestError(err.message, { cause: err });
      }
      const treeSize = decimal(query.tree_size, 'tree_size');
      if (treeSize === 0) throw new BadRequestError('tree_size must be at least 1: the empty tree includes nothing');
      res.json(encodeInclusionProof(await log.inclusionProof(leafHash, treeSize)));
    }),
  );

  router.get(
    '/proof/consistency',
    route(async (log, req, res) => {
      const query = queryOf(req, ['first', 'second']);
      const first = decimal(query.first, 'first');
      const second = decimal(query.second, 'second');
      if (first > second) throw new BadRequestError(`first ${first} is after second ${second}: a log only grows`);
      res.json(encodeConsistencyProof(await log.consistencyProof(first, second)));
    }),
  );

  router.post(
    '/tree-head/cosignature',
    route(async (log, req, res) => {
      queryOf(req, []);
      const body = await readBody(req, MAX_COSIGNATURE_BODY_BYTES);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new BadRequestError(`the body is not JSON: ${(err as Error).message}`, { cause: err });
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BadRequestError('the body must be {"tree_head": {...}, "cosignature": {"keyid", "sig"}}');
      const { tree_head: treeHead, cosignature, ...rest } = json as Record<string, unknown>;
      if (Object.keys(rest).length > 0) throw new BadRequestError(`unknown field ${JSON.stringify(Object.keys(rest)[0]!.slice(0, 40))}; the body is {"tree_head", "cosignature"}`);
      await log.addCosignature(parseSignedTreeHead(treeHead), parseCosignature(cosignature));
      res.status(204).end();
    }),
  );

  return router;
}
