// Online keys of a repository server: loaded from the server's key folder, created on first start.
// Any other key file in that folder means an offline key (root, Image targets, supplier) was put on
// the server, and the server refuses to start (docs/decisions.md Keys).
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrivateKey, savePrivateKey } from '../files/key-files.js';
import { PrivateKey } from '../core/crypto/keys.js';
import { OfflineKeyOnServerError } from '../core/errors.js';

export function loadOnlineKeys<R extends string>(keyDir: string, roles: readonly R[], repository: string): Record<R, PrivateKey> {
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const allowed = new Set(roles.map((role) => `${role}.pem`));
  for (const file of readdirSync(keyDir)) {
    if (!allowed.has(file)) {
      throw new OfflineKeyOnServerError(
        `${join(keyDir, file)} is not an online key of this ${repository} repository; offline keys never live on the server. Remove it to start.`,
        { repository },
      );
    }
  }
  const keys = {} as Record<R, PrivateKey>;
  for (const role of roles) {
    const path = join(keyDir, `${role}.pem`);
    if (!existsSync(path)) savePrivateKey(path, PrivateKey.generate());
    keys[role] = loadPrivateKey(path);
  }
  return keys;
}
