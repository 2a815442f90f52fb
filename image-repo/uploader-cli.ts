// `uptane image uploader add|list|revoke|remove`: uploader tokens, managed on the Image repository
// host in its data folder (docs/threat-model.md HR-10). A token has a public id (printed by add and
// list), an expiry (90 days unless --expires says otherwise; `never` only when asked for), and
// optionally the roles (--role) and image paths (--path) it may publish; only its SHA-256 is stored.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_TOKEN_LIFETIME, isTokenId, newToken, parseExpiry, tokenStatus } from '../shared/access-tokens.js';
import { printJson, printTable } from '../shared/cli-output.js';
import { systemClock } from '../shared/clock.js';
import { ConflictError } from '../shared/errors.js';
import type { CliEnvironment } from '../shared/keys-cli.js';
import { checkRoleName } from '../shared/metadata/paths.js';
import { openImageRepository } from './server.js';
import { ImageRepoStorage } from './storage.js';

const UPLOADER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const PATH_PATTERN = /^[\x21-\x7e]{1,255}$/;

interface DataDirArgs {
  readonly dataDir: string;
}
type WithDataDir = <T>(yargs: Argv<T>) => Argv<T & DataDirArgs>;

/** The data folder's database alone (no keys made, no folders), which must exist already. */
function withExistingStorage<T>(dataDir: string, fn: (storage: ImageRepoStorage) => T): T {
  const dir = resolve(dataDir);
  if (!existsSync(join(dir, 'image-repo.sqlite'))) throw new Error(`${dir} holds no Image repository database: give its data folder with --data-dir`);
  const storage = new ImageRepoStorage(join(dir, 'image-repo.sqlite'));
  try {
    return fn(storage);
  } finally {
    storage.close();
  }
}

interface AddArgs extends DataDirArgs {
  readonly name: string;
  readonly role?: string[] | undefined;
  readonly path?: string[] | undefined;
  readonly expires: string;
  readonly json: boolean;
}

const addCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, AddArgs> => ({
  command: 'add <name>',
  describe: 'create an uploader token and print it once (only its SHA-256 is stored)',
  builder: (yargs) =>
    withDataDir(yargs)
      .positional('name', { type: 'string', demandOption: true, describe: 'who the token is for, e.g. release-bot' })
      .option('role', { type: 'string', array: true, requiresArg: true, describe: 'a role it may publish (root, targets, or a delegated role); repeat; default: every role' })
      .option('path', { type: 'string', array: true, requiresArg: true, describe: "image paths it may add, change or remove, as TUF patterns ('acme/*'); repeat; default: every path" })
      .option('expires', { type: 'string', default: DEFAULT_TOKEN_LIFETIME, requiresArg: true, describe: 'lifetime: 90d, 12h, 30m, or never' })
      .option('json', { type: 'boolean', default: false, describe: 'print {name, token, tokenId, roles, paths, expiresAt} as JSON' })
      .example('$0 image uploader add release-bot', 'prints a bearer token for the upload API')
      .example("$0 image uploader add acme-ci --role acme --path 'acme/*'", "a supplier's token: publishes role acme only, images under acme/ only")
      .epilogue('The token is printed alone on standard output and never again; its id, roles, paths and expiry go to standard error.') as unknown as Argv<AddArgs>,
  handler: (argv) => {
    if (!UPLOADER_NAME.test(argv.name)) throw new Error(`uploader name ${JSON.stringify(argv.name)}: use 1-64 letters, digits, '.', '_', '@' or '-'`);
    for (const role of argv.role ?? []) checkRoleName(role);
    for (const path of argv.path ?? []) if (!PATH_PATTERN.test(path)) throw new Error(`--path ${JSON.stringify(path)}: give a pattern such as 'acme/*' (printable, no spaces)`);
    const now = systemClock.now();
    const expiresAt = parseExpiry(argv.expires, now);
    const roles = argv.role === undefined ? null : [...new Set(argv.role)];
    const paths = argv.path === undefined ? null : [...new Set(argv.path)];
    const { storage } = openImageRepository(resolve(argv.dataDir), systemClock);
    try {
      const token = newToken();
      let tokenId: string;
      try {
        tokenId = storage.addUploader(argv.name, token, now, { roles, paths, expiresAt });
      } catch (err) {
        if (err instanceof ConflictError) throw new Error(`uploader ${argv.name} already exists; to issue a new token, \`uptane image uploader remove ${argv.name}\` first`, { cause: err });
        throw err;
      }
      const expires = expiresAt?.toISOString() ?? null;
      if (argv.json) {
        printJson(io, { name: argv.name, token, tokenId, roles, paths, expiresAt: expires });
        return;
      }
      io.print(token);
      // On standard error (escaped, like every line): what a person reads; standard output holds only the token.
      io.warn(
        `token id ${tokenId} for ${argv.name}: roles ${roles?.join(', ') ?? 'any'}, paths ${paths?.join(', ') ?? 'any'}, ` +
          (expires === null ? 'never expires' : `expires ${expires}`),
      );
    } finally {
      storage.close();
    }
  },
});

interface ListArgs extends DataDirArgs {
  readonly json: boolean;
}

const listCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, ListArgs> => ({
  command: 'list',
  describe: 'list uploader tokens: id, uploader, roles, paths, created, expires, and whether active, expired or revoked',
  builder: (yargs) => withDataDir(yargs).option('json', { type: 'boolean', default: false, describe: 'print {tokens} as JSON' }) as unknown as Argv<ListArgs>,
  handler: (argv) => {
    withExistingStorage(argv.dataDir, (storage) => {
      const now = systemClock.now();
      const tokens = storage.uploaderTokens().map((t) => ({ ...t, status: tokenStatus(t, now) }));
      if (argv.json) {
        printJson(io, { tokens });
        return;
      }
      printTable(
        io,
        ['TOKEN ID', 'NAME', 'ROLES', 'PATHS', 'CREATED', 'EXPIRES', 'STATUS'],
        tokens.map((t) => [
          t.tokenId,
          t.name,
          t.roles?.join(',') ?? 'any',
          t.paths?.join(',') ?? 'any',
          t.createdAt,
          t.expiresAt ?? 'never',
          t.status === 'revoked' ? `revoked ${t.revokedAt}` : t.status,
        ]),
        'no uploader tokens yet: `uptane image uploader add NAME` makes one',
      );
    });
  },
});

interface RevokeArgs extends DataDirArgs {
  readonly tokenId: string;
}

const revokeCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, RevokeArgs> => ({
  command: 'revoke <token-id>',
  describe: 'revoke one uploader token by its id; it stops working on the next request',
  builder: (yargs) =>
    withDataDir(yargs)
      .positional('token-id', { type: 'string', demandOption: true, describe: 'the id `uploader add` and `uploader list` print' })
      .example('$0 image uploader revoke 3fa2c9d1e0b4', 'that token is refused from now on (token_revoked)') as unknown as Argv<RevokeArgs>,
  handler: (argv) => {
    if (!isTokenId(argv.tokenId)) throw new Error(`token id ${JSON.stringify(argv.tokenId)}: give the 12 hex digits \`uptane image uploader list\` shows`);
    withExistingStorage(argv.dataDir, (storage) => {
      const token = storage.uploaderTokens().find((t) => t.tokenId === argv.tokenId);
      if (token === undefined) throw new Error(`no uploader token ${argv.tokenId}: \`uptane image uploader list\` shows the ids`);
      if (!storage.revokeUploaderToken(argv.tokenId, systemClock.now())) throw new Error(`uploader token ${argv.tokenId} (${token.name}) was already revoked at ${token.revokedAt}`);
      io.print(`revoked uploader token ${argv.tokenId} (${token.name}); it no longer works`);
    });
  },
});

interface RemoveArgs extends DataDirArgs {
  readonly name: string;
}

const removeCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, RemoveArgs> => ({
  command: 'remove <name>',
  describe: 'revoke every token of an uploader',
  builder: (yargs) =>
    withDataDir(yargs)
      .positional('name', { type: 'string', demandOption: true })
      .example('$0 image uploader remove release-bot', 'the token stops working at once') as unknown as Argv<RemoveArgs>,
  handler: (argv) => {
    withExistingStorage(argv.dataDir, (storage) => {
      if (storage.removeUploader(argv.name, systemClock.now()).length === 0) throw new Error(`no uploader named ${argv.name} with a token in force`);
      io.print(`removed uploader ${argv.name}`);
    });
  },
});

/** The `uploader` subcommands, for cli.ts's group (withDataDir adds its --data-dir option). */
export function uploaderCommands(io: CliEnvironment, withDataDir: WithDataDir): (yargs: Argv) => Argv {
  return (y) => y.command(addCommand(io, withDataDir)).command(listCommand(io, withDataDir)).command(revokeCommand(io, withDataDir)).command(removeCommand(io, withDataDir));
}
