// `uptane director operator add|list|revoke|remove`: operator tokens, managed on the Director host in
// its data folder, never over HTTP (docs/threat-model.md HR-10). A token has a public id (printed by
// add and list), a scope (read < operator < admin, see operator-auth.ts) and an expiry (90 days
// unless --expires says otherwise; `never` only when asked for). Only its SHA-256 is stored.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_TOKEN_LIFETIME, isTokenId, newToken, parseExpiry, tokenStatus } from '../shared/access-tokens.js';
import { systemClock } from '../shared/clock.js';
import { ConflictError } from '../shared/errors.js';
import type { CliEnvironment } from '../shared/keys-cli.js';
import { printJson, printTable } from './operator-client.js';
import { openDirectorStorage } from './server.js';
import { OPERATOR_SCOPES, type DirectorStorage, type OperatorScope } from './storage.js';

const OPERATOR_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const DEFAULT_SCOPE: OperatorScope = 'operator';

interface DataDirArgs {
  readonly dataDir: string;
}
type WithDataDir = <T>(yargs: Argv<T>) => Argv<T & DataDirArgs>;

function checkOperatorName(name: string): void {
  if (!OPERATOR_NAME.test(name)) throw new Error(`operator name ${JSON.stringify(name)}: use 1-64 letters, digits, '.', '_', '@' or '-'`);
}

/** The data folder's database, which must exist already (a typo in --data-dir must not make an empty one). */
function withExistingStorage<T>(dataDir: string, fn: (storage: DirectorStorage) => T): T {
  const dir = resolve(dataDir);
  if (!existsSync(join(dir, 'director.sqlite'))) throw new Error(`${dir} holds no Director database: give the data folder of the Director with --data-dir`);
  const storage = openDirectorStorage(dir);
  try {
    return fn(storage);
  } finally {
    storage.close();
  }
}

interface AddArgs extends DataDirArgs {
  readonly name: string;
  readonly scope: OperatorScope;
  readonly expires: string;
  readonly json: boolean;
}

const addCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, AddArgs> => ({
  command: 'add <name>',
  describe: 'create an operator token and print it once (only its SHA-256 is stored); run on the Director host',
  builder: (yargs) =>
    withDataDir(yargs)
      .positional('name', { type: 'string', demandOption: true, describe: 'who the token is for, e.g. alice or campaign-bot' })
      .option('scope', {
        choices: OPERATOR_SCOPES,
        default: DEFAULT_SCOPE,
        describe: 'read: sees everything, changes nothing; operator: registers, assigns, runs campaigns; admin: also publishes the Director root',
      })
      .option('expires', { type: 'string', default: DEFAULT_TOKEN_LIFETIME, requiresArg: true, describe: 'lifetime: 90d, 12h, 30m, or never' })
      .option('json', { type: 'boolean', default: false, describe: 'print {name, token, tokenId, scope, expiresAt} as JSON' })
      .example('$0 director operator add alice', 'prints a token; give it to alice, who puts it in UPTANE_OPERATOR_TOKEN')
      .example('$0 director operator add dashboard --scope read --expires 30d', 'a token that can only look')
      .example('export UPTANE_OPERATOR_TOKEN=$($0 director operator add ci-bot)', 'straight into the environment of a script')
      .epilogue(
        'The token is printed alone on standard output and never again; its id, scope and expiry go to standard error. ' +
          'Lose it and revoke it (`operator revoke TOKEN-ID`), then add the operator anew.',
      ) as unknown as Argv<AddArgs>,
  handler: (argv) => {
    checkOperatorName(argv.name);
    const now = systemClock.now();
    const expiresAt = parseExpiry(argv.expires, now);
    const storage = openDirectorStorage(resolve(argv.dataDir));
    try {
      const token = newToken();
      let tokenId: string;
      try {
        tokenId = storage.addOperator(argv.name, token, now, { scope: argv.scope, expiresAt });
      } catch (err) {
        if (err instanceof ConflictError) {
          throw new Error(`operator ${argv.name} already exists; to issue a new token, \`uptane director operator remove ${argv.name}\` first`, { cause: err });
        }
        throw err;
      }
      const expires = expiresAt?.toISOString() ?? null;
      storage.audit('cli', 'add_operator', { name: argv.name, tokenId, scope: argv.scope, expiresAt: expires }, now);
      if (argv.json) {
        printJson(io, { name: argv.name, token, tokenId, scope: argv.scope, expiresAt: expires });
        return;
      }
      io.print(token);
      // On standard error (escaped, like every line): what a person reads; standard output holds only the token.
      io.warn(`token id ${tokenId} for ${argv.name}: scope ${argv.scope}, ${expires === null ? 'never expires' : `expires ${expires}`}`);
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
  describe: 'list operator tokens: id, operator, scope, created, expires, and whether active, expired or revoked',
  builder: (yargs) =>
    withDataDir(yargs)
      .option('json', { type: 'boolean', default: false, describe: 'print {tokens} as JSON' })
      .example('$0 director operator list', 'who holds which token') as unknown as Argv<ListArgs>,
  handler: (argv) => {
    withExistingStorage(argv.dataDir, (storage) => {
      const now = systemClock.now();
      const tokens = storage.operatorTokens().map((t) => ({ ...t, status: tokenStatus(t, now) }));
      if (argv.json) {
        printJson(io, { tokens });
        return;
      }
      printTable(
        io,
        ['TOKEN ID', 'NAME', 'SCOPE', 'CREATED', 'EXPIRES', 'STATUS'],
        tokens.map((t) => [t.tokenId, t.name, t.scope, t.createdAt, t.expiresAt ?? 'never', t.status === 'revoked' ? `revoked ${t.revokedAt}` : t.status]),
        'no operator tokens yet: `uptane director operator add NAME` makes one',
      );
    });
  },
});

interface RevokeArgs extends DataDirArgs {
  readonly tokenId: string;
  readonly json: boolean;
}

const revokeCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, RevokeArgs> => ({
  command: 'revoke <token-id>',
  describe: 'revoke one operator token by its id; it stops working on the next request',
  builder: (yargs) =>
    withDataDir(yargs)
      .positional('token-id', { type: 'string', demandOption: true, describe: 'the id `operator add` and `operator list` print' })
      .option('json', { type: 'boolean', default: false, describe: 'print {tokenId, name, revoked} as JSON' })
      .example('$0 director operator revoke 3fa2c9d1e0b4', 'that token is refused from now on (token_revoked)') as unknown as Argv<RevokeArgs>,
  handler: (argv) => {
    if (!isTokenId(argv.tokenId)) throw new Error(`token id ${JSON.stringify(argv.tokenId)}: give the 12 hex digits \`uptane director operator list\` shows`);
    withExistingStorage(argv.dataDir, (storage) => {
      const now = systemClock.now();
      const token = storage.operatorTokens().find((t) => t.tokenId === argv.tokenId);
      if (token === undefined) throw new Error(`no operator token ${argv.tokenId}: \`uptane director operator list\` shows the ids`);
      if (!storage.revokeOperatorToken(argv.tokenId, now)) throw new Error(`operator token ${argv.tokenId} (${token.name}) was already revoked at ${token.revokedAt}`);
      storage.audit('cli', 'revoke_operator_token', { name: token.name, tokenId: argv.tokenId }, now);
      if (argv.json) printJson(io, { tokenId: argv.tokenId, name: token.name, revoked: true });
      else io.print(`revoked operator token ${argv.tokenId} (${token.name}); it no longer works`);
    });
  },
});

interface RemoveArgs extends DataDirArgs {
  readonly name: string;
  readonly json: boolean;
}

const removeCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, RemoveArgs> => ({
  command: 'remove <name>',
  describe: "revoke every token of an operator at once; run on the Director host",
  builder: (yargs) =>
    withDataDir(yargs)
      .positional('name', { type: 'string', demandOption: true, describe: 'the operator name given to `operator add`' })
      .option('json', { type: 'boolean', default: false, describe: 'print {name, removed, tokenIds} as JSON' })
      .example('$0 director operator remove alice', "alice's token stops working immediately") as unknown as Argv<RemoveArgs>,
  handler: (argv) => {
    withExistingStorage(argv.dataDir, (storage) => {
      const now = systemClock.now();
      const revoked = storage.removeOperator(argv.name, now);
      if (revoked.length === 0) throw new Error(`no operator named ${argv.name} with a token in force in ${resolve(argv.dataDir)}`);
      storage.audit('cli', 'remove_operator', { name: argv.name, tokenIds: revoked }, now);
      if (argv.json) printJson(io, { name: argv.name, removed: true, tokenIds: revoked });
      else io.print(`removed operator ${argv.name}; its token no longer works`);
    });
  },
});

/** The `operator` subcommands, for cli.ts's group (withDataDir adds its --data-dir option). */
export function operatorTokenCommands(io: CliEnvironment, withDataDir: WithDataDir): (yargs: Argv) => Argv {
  return (y) => y.command(addCommand(io, withDataDir)).command(listCommand(io, withDataDir)).command(revokeCommand(io, withDataDir)).command(removeCommand(io, withDataDir));
}
