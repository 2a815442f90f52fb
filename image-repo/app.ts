// The Image repository's HTTP face: express app from a factory, no listen() inside (tests bind port
// 0). Read routes serve the TUF layout any TUF 1.0 client understands; write routes need an uploader
// token and hand the bytes to the ImageRepository service. Errors leave as {error: {code, message}}.
import express, { type NextFunction, type Request, type Response } from 'express';
import { AuthenticationError } from '../shared/errors.js';
import { sendError } from '../shared/http-errors.js';
import type { ImageRepository } from './repository.js';
import type { ImageRepoStorage } from './storage.js';

export interface ImageAppDeps {
  readonly repository: ImageRepository;
  readonly storage: ImageRepoStorage;
  readonly log?: (line: string) => void;
}

type UploaderRequest = Request & { uploader?: string };

export function createApp({ repository, storage, log }: ImageAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags below are content hashes we already have

  // --- Reads: the TUF repository layout ------------------------------------------------------
  app.get('/metadata/:file', (req, res) => {
    const stored = repository.metadataFile(String(req.params.file));
    if (stored === undefined) {
      sendError(res, 404, 'not_found', `no metadata ${req.params.file}`);
      return;
    }
    const etag = `"${stored.sha256}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', 'no-cache');
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    res.type('application/json').send(stored.bytes);
  });

  // Consistent snapshots: /targets/<dir>/<sha256>.<basename>; the blob is found by its hash.
  app.get(/^\/targets\/(.+)$/, async (req, res, next) => {
    try {
      const path = String((req.params as Record<string, string>)[0]);
      const base = path.slice(path.lastIndexOf('/') + 1);
      const match = /^([0-9a-f]{64})\./.exec(base);
      const file = match === null ? undefined : await repository.imageFile(match[1]!);
      if (file === undefined) {
        sendError(res, 404, 'not_found', `no image ${path}`);
        return;
      }
      // send handles Range (clients resume), ETag and Last-Modified for the immutable blob.
      res.sendFile(file, { headers: { 'Content-Type': 'application/octet-stream' }, immutable: true, maxAge: '365d' });
    } catch (err) {
      next(err);
    }
  });

  app.get('/api/v1/online-keys', (_req, res) => {
    const keys = repository.onlineKeys();
    res.json({
      timestamp: { keyid: keys.timestamp.keyid, key: keys.timestamp.tuf },
      snapshot: { keyid: keys.snapshot.keyid, key: keys.snapshot.tuf },
    });
  });

  // --- Writes: uploader token required ------------------------------------------------------
  const requireUploader = (req: UploaderRequest, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const token = /^Bearer (\S+)$/.exec(header)?.[1];
    const uploader = token === undefined ? undefined : storage.uploaderFor(token);
    if (uploader === undefined) {
      next(new AuthenticationError('a valid uploader token is required (Authorization: Bearer <token>); create one with `uptane image uploader add`'));
      return;
    }
    req.uploader = uploader;
    next();
  };
  const metadataBody = express.raw({ type: () => true, limit: repository.limits.maxMetadataBytes });

  app.post('/api/v1/images', requireUploader, async (req: UploaderRequest, res, next) => {
    try {
      const blob = await repository.uploadImage(req, req.uploader!);
      log?.(`image ${blob.hashes.sha256} (${blob.length} bytes) uploaded by ${req.uploader}`);
      res.status(201).json(blob);
    } catch (err) {
      req.resume(); // drain what the client still sends so it reads our answer
      next(err);
    }
  });

  app.put('/api/v1/metadata/root', requireUploader, metadataBody, (req: UploaderRequest, res, next) => {
    try {
      const result = repository.submitRoot(req.body as Buffer);
      log?.(`root v${result.version} published by ${req.uploader}`);
      res.status(201).json(result);
    } catch (err) {
      next(err);
    }
  });

  app.put('/api/v1/metadata/targets/:role', requireUploader, metadataBody, async (req: UploaderRequest, res, next) => {
    try {
      const role = String(req.params.role);
      const result = await repository.submitTargets(role, req.body as Buffer);
      log?.(`${role} v${result.version} published by ${req.uploader}`);
      res.status(201).json(result);
    } catch (err) {
      next(err);
    }
  });

  app.use((req, res) => sendError(res, 404, 'not_found', `no route ${req.method} ${req.path}`));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => sendError(res, err));
  return app;
}
