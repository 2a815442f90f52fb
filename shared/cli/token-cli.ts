// The token subcommands both servers share (docs/threat-model.md HR-10): `add` (check the name, parse
// --expires, store a new token and print it once), `list` (the tokens with their status, as a table or
// JSON) and `revoke` (one token by id), plus opening a data folder's existing database for them.
// What a token may do is each server's own (operator scopes, uploader roles and paths): its CLI file
// passes those options, columns and messages in, and keeps `remove`, whose wording is its own.
// Everything is printed through the CliEnvironment (shared/cli/cli-output.ts escapes every line).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_TOKEN_LIFETIME, isTokenId, newToken, parseExpiry, tokenStatus, type StoredTokenState } from '../server/access-tokens.js';
import { printJson, printTable } from './cli-output.js';
import { systemClock } from '../core/clock.js';
import { ConflictError } from '../core/errors.js';
import { confirmDestructive, withYes, type YesArgs } from './confirm.js';
import type { CliEnvironment } from './environment.js';

export interface DataDirArgs {
  readonly dataDir: string;
  /** --database, where the server's group adds it (a database outside the data folder: PostgreSQL). */
  readonly database?: string | undefined;
}
export type WithDataDir = <T>(yargs: Argv<T>) => Argv<T & DataDirArgs>;

// The stores behind these commands answer by promise, as a network database does.
interface Closable {
  close(): Promise<void>;
}

/**
 * Runs `fn` on a server's existing database, as `--data-dir` and `--database` name it, and closes
 * it. `locate` says which: a SQLite file must exist already (a typo in --data-dir must not make an
 * empty one; `missing` says what to give instead); a network database (PostgreSQL) is there when it
 * answers, and `open` migrates it as a starting server would.
 */
export function existingDatabase<S extends Closable>(
  locate: (dir: string, database: string | undefined) => { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres' },
  missing: (dir: string, path: string, named: boolean) => string,
  open: (dir: string, database: string | undefined) => S | Promise<S>,
): <T>(dataDir: string, fn: (storage: S) => Promise<T>, database?: string) => Promise<T> {
  return async (dataDir, fn, database) => {
    const dir = resolve(dataDir);
    const chosen = locate(dir, database);
    if (chosen.kind === 'sqlite' && !existsSync(chosen.path)) throw new Error(missing(dir, chosen.path, database !== undefined && database !== ''));
    const storage = await open(dir, database);
    try {
      return await fn(storage);
    } finally {
      await storage.close();
    }
  };
}

/** One server's token command group, as the shared subcommands need it. */
export interface TokenGroup<S extends Closable, R extends StoredTokenState> {
  readonly kind: 'operator' | 'uploader';
  /** The group after `uptane`, e.g. `director operator`. */
  readonly group: string;
  /** Runs `fn` on the data folder's database (or the one --database names), which must exist already (see existingDatabase). */
  readonly withExisting: <T>(dataDir: string, fn: (storage: S) => Promise<T>, database?: string) => Promise<T>;
  /** Every token, revoked and expired ones included, oldest first. */
  readonly tokens: (storage: S) => Promise<R[]>;
  /** Revokes one token; false when it was already revoked. */
  readonly revoke: (storage: S, tokenId: string, now: Date) => Promise<boolean>;
}

const HOLDER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

function checkHolderName(kind: string, name: string): void {
  if (!HOLDER_NAME.test(name)) throw new Error(`${kind} name ${JSON.stringify(name)}: use 1-64 letters, digits, '.', '_', '@' or '-'`);
}

/** The arguments of every `add`; each server's add extends them with what its tokens may do. */
export interface AddTokenArgs extends DataDirArgs {
  readonly name: string;
  readonly expires: string;
  readonly json: boolean;
}

/**
 * What a new token may do on one server (`G`: its scope, or its roles and paths) and how `add`
 * shows it; the options that set it sit between the name and --expires in the help.
 */
export interface AddTokenSpec<S extends Closable, A extends AddTokenArgs, G extends object> {
  readonly describe: string;
  readonly nameDescribe: string;
  readonly options: (yargs: Argv<object>) => Argv<object>;
  readonly jsonDescribe: string;
  readonly examples: ReadonlyArray<readonly [string, string]>;
  readonly epilogue: string;
  /** Refuses bad server-specific arguments, after the name is checked and before anything is opened. */
  readonly check?: (argv: A) => void;
  readonly grant: (argv: A) => G;
  /** Stores the token; returns its id, or rejects with ConflictError while `name` holds an active token. */
  readonly add: (storage: S, name: string, token: string, now: Date, grant: G, expiresAt: Date | null) => Promise<string>;
  /** The grant for a person, on standard error after `token id X for NAME: `. */
  readonly summary: (grant: G) => string;
  /** Records the new token (as printed by --json, without the token) once stored. */
  readonly recorded?: (storage: S, record: Record<string, unknown>, now: Date) => Promise<void>;
}

/** `add <name>`: a new token, printed once on standard output (only its SHA-256 is stored). */
export function addTokenCommand<S extends Closable, R extends StoredTokenState, A extends AddTokenArgs, G extends object>(
  io: CliEnvironment,
  withDataDir: WithDataDir,
  tokens: TokenGroup<S, R>,
  spec: AddTokenSpec<S, A, G>,
): CommandModule<object, A> {
  const { kind, group } = tokens;
  return {
    command: 'add <name>',
    describe: spec.describe,
    builder: (yargs) =>
      spec.examples
        .reduce(
          (y, [command, description]) => y.example(command, description),
          spec
            .options(withDataDir(yargs).positional('name', { type: 'string', demandOption: true, describe: spec.nameDescribe }))
            .option('expires', { type: 'string', default: DEFAULT_TOKEN_LIFETIME, requiresArg: true, describe: 'lifetime: 90d, 12h, 30m, or never' })
            .option('json', { type: 'boolean', default: false, describe: spec.jsonDescribe }),
        )
        .epilogue(spec.epilogue) as unknown as Argv<A>,
    handler: async (parsed) => {
      const argv = parsed as unknown as A; // yargs' camel-cased view of the same options A declares
      checkHolderName(kind, argv.name);
      spec.check?.(argv);
      const now = systemClock.now();
      const expiresAt = parseExpiry(argv.expires, now);
      const grant = spec.grant(argv);
      // An existing database only (withExisting): run from the wrong folder, `add` used to make a new
      // one there and print a token the running server had never heard of (issue 20, finding 6).
      await tokens.withExisting(argv.dataDir, async (storage) => {
        const token = newToken();
        let tokenId: string;
        try {
          tokenId = await spec.add(storage, argv.name, token, now, grant, expiresAt);
        } catch (err) {
          if (err instanceof ConflictError) throw new Error(`${kind} ${argv.name} already exists; to issue a new token, \`uptane ${group} remove ${argv.name}\` first`, { cause: err });
          throw err;
        }
        const expires = expiresAt?.toISOString() ?? null;
        await spec.recorded?.(storage, { name: argv.name, tokenId, ...grant, expiresAt: expires }, now);
        if (argv.json) {
          printJson(io, { name: argv.name, token, tokenId, ...grant, expiresAt: expires });
          return;
        }
        io.print(token);
        // On standard error (escaped, like every line): what a person reads; standard output holds only the token.
        io.warn(`token id ${tokenId} for ${argv.name}: ${spec.summary(grant)}, ${expires === null ? 'never expires' : `expires ${expires}`}`);
      }, argv.database);
    },
  };
}

interface ListArgs extends DataDirArgs {
  readonly json: boolean;
}

/** `list`: every token with its status, as a table whose server-specific `columns` follow NAME, or as JSON. */
export function listTokensCommand<S extends Closable, R extends StoredTokenState>(
  io: CliEnvironment,
  withDataDir: WithDataDir,
  tokens: TokenGroup<S, R>,
  spec: { readonly describe: string; readonly columns: ReadonlyArray<readonly [string, (token: R) => string]>; readonly example?: readonly [string, string] },
): CommandModule<object, ListArgs> {
  return {
    command: 'list',
    describe: spec.describe,
    builder: (yargs) => {
      const withJson = withDataDir(yargs).option('json', { type: 'boolean', default: false, describe: 'print {tokens} as JSON' });
      return (spec.example === undefined ? withJson : withJson.example(...spec.example)) as unknown as Argv<ListArgs>;
    },
    handler: (argv) =>
      tokens.withExisting(argv.dataDir, async (storage) => {
        const now = systemClock.now();
        const list = (await tokens.tokens(storage)).map((t) => ({ ...t, status: tokenStatus(t, now) }));
        if (argv.json) {
          printJson(io, { tokens: list });
          return;
        }
        printTable(
          io,
          ['TOKEN ID', 'NAME', ...spec.columns.map(([header]) => header), 'CREATED', 'EXPIRES', 'STATUS'],
          list.map((t) => [
            t.tokenId,
            t.name,
            ...spec.columns.map(([, cell]) => cell(t)),
            t.createdAt,
            t.expiresAt ?? 'never',
            t.status === 'revoked' ? `revoked ${t.revokedAt}` : t.status,
          ]),
          `no ${tokens.kind} tokens yet: \`uptane ${tokens.group} add NAME\` makes one`,
        );
      }, argv.database),
  };
}

interface RevokeArgs extends DataDirArgs, YesArgs {
  readonly tokenId: string;
  readonly json?: boolean;
}

/** `revoke <token-id>`: one token stops working on the next request; `recorded` notes the revocation (the Director's audit log). */
export function revokeTokenCommand<S extends Closable, R extends StoredTokenState>(
  io: CliEnvironment,
  withDataDir: WithDataDir,
  tokens: TokenGroup<S, R>,
  spec: { readonly recorded?: (storage: S, token: R, now: Date) => Promise<void> } = {},
): CommandModule<object, RevokeArgs> {
  const { kind, group } = tokens;
  return {
    command: 'revoke <token-id>',
    describe: `revoke one ${kind} token by its id; it stops working on the next request`,
    builder: (yargs) => {
      const withId = withDataDir(yargs).positional('token-id', { type: 'string', demandOption: true, describe: `the id \`${kind} add\` and \`${kind} list\` print` });
      return withYes(withId.option('json', { type: 'boolean', default: false, describe: 'print {tokenId, name, revoked} as JSON' }))
        .example(`$0 ${group} revoke 3fa2c9d1e0b4`, 'asks first on a terminal; that token is refused from now on (token_revoked)')
        .example(`$0 ${group} revoke 3fa2c9d1e0b4 --yes`, 'the same from a script, without asking') as unknown as Argv<RevokeArgs>;
    },
    handler: (argv) => {
      if (!isTokenId(argv.tokenId)) throw new Error(`token id ${JSON.stringify(argv.tokenId)}: give the 12 hex digits \`uptane ${group} list\` shows`);
      return tokens.withExisting(argv.dataDir, async (storage) => {
        const now = systemClock.now();
        const token = (await tokens.tokens(storage)).find((t) => t.tokenId === argv.tokenId);
        if (token === undefined) throw new Error(`no ${kind} token ${argv.tokenId}: \`uptane ${group} list\` shows the ids`);
        if (token.revokedAt === null) await confirmDestructive(io, argv, `revoke ${kind} token ${argv.tokenId} (${token.name})`);
        if (!(await tokens.revoke(storage, argv.tokenId, now))) throw new Error(`${kind} token ${argv.tokenId} (${token.name}) was already revoked at ${token.revokedAt}`);
        await spec.recorded?.(storage, token, now);
        if (argv.json === true) printJson(io, { tokenId: argv.tokenId, name: token.name, revoked: true });
        else io.print(`revoked ${kind} token ${argv.tokenId} (${token.name}); it no longer works`);
      }, argv.database);
    },
  };
}
