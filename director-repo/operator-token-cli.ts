// `uptane director operator add|list|revoke|remove`: operator tokens, managed on the Director host in
// its data folder, never over HTTP (docs/threat-model.md HR-10). A token has a public id (printed by
// add and list), a scope (read < operator < admin, see operator-auth.ts) and an expiry (90 days
// unless --expires says otherwise; `never` only when asked for). Only its SHA-256 is stored.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import { confirmDestructive, withYes, type YesArgs } from '../shared/cli/confirm.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { tokenStatus } from '../shared/server/access-tokens.js';
import { addTokenCommand, existingDatabase, listTokensCommand, revokeTokenCommand, type AddTokenArgs, type DataDirArgs, type TokenGroup, type WithDataDir } from '../shared/cli/token-cli.js';
import { printJson } from './operator-client.js';
import { describeDirectorDatabase, openDirectorStore, parseDirectorDatabase } from './store/open-store.js';
import { OPERATOR_SCOPES, type OperatorScope, type OperatorTokenRecord } from './store/operator-tokens.js';
import type { DirectorStorage } from './store/director-store.js';

const DEFAULT_SCOPE: OperatorScope = 'operator';

const OPERATOR_TOKENS: TokenGroup<DirectorStorage, OperatorTokenRecord> = {
  kind: 'operator',
  group: 'director operator',
  // A SQLite file must exist already (the server makes it on its first start); PostgreSQL is opened
  // (and migrated) as a starting replica would, so a token can be added before the first serve there.
  withExisting: existingDatabase(
    parseDirectorDatabase,
    (dir, path, named) =>
      named ? `${path} is no Director database: check --database` : `${dir} holds no Director database: give the Director's data folder with --data-dir (or UPTANE_DIRECTOR_DATA_DIR), or its database with --database; a new Director makes its database when first started (\`uptane director serve --data-dir DIR\`)`,
    openDirectorStore,
  ),
  tokens: (storage) => storage.operatorTokens(),
  revoke: (storage, tokenId, now) => storage.revokeOperatorToken(tokenId, now),
};

interface AddArgs extends AddTokenArgs {
  readonly scope: OperatorScope;
}

const addCommand = (io: CliEnvironment, withDataDir: WithDataDir) =>
  addTokenCommand(io, withDataDir, OPERATOR_TOKENS, {
    describe: 'create an operator token and print it once (only its SHA-256 is stored); run on the Director host',
    nameDescribe: 'who the token is for, e.g. alice or campaign-bot',
    options: (yargs) =>
      yargs.option('scope', {
        choices: OPERATOR_SCOPES,
        default: DEFAULT_SCOPE,
        describe: 'read: sees everything, changes nothing; operator: registers, assigns, runs campaigns; admin: also publishes the Director root',
      }),
    jsonDescribe: 'print {name, token, tokenId, scope, expiresAt} as JSON',
    examples: [
      ['$0 director operator add alice', 'prints a token; give it to alice, who puts it in UPTANE_OPERATOR_TOKEN'],
      ['$0 director operator add dashboard --scope read --expires 30d', 'a token that can only look'],
      ['export UPTANE_OPERATOR_TOKEN=$($0 director operator add ci-bot)', 'straight into the environment of a script'],
      ['$0 director operator add alice --database postgres://uptane@db.example/uptane', 'a token every replica of a Director on PostgreSQL accepts'],
    ],
    epilogue:
      'The token is printed alone on standard output and never again; its id, scope and expiry go to standard error. ' +
      'Lose it and revoke it (`operator revoke TOKEN-ID`), then add the operator anew.',
    grant: (argv: AddArgs) => ({ scope: argv.scope }),
    add: (storage, name, token, now, { scope }, expiresAt) => storage.addOperator(name, token, now, { scope, expiresAt }),
    summary: ({ scope }) => `scope ${scope}`,
    recorded: (storage, record, now) => storage.audit('cli', 'add_operator', record, now),
  });

const listCommand = (io: CliEnvironment, withDataDir: WithDataDir) =>
  listTokensCommand(io, withDataDir, OPERATOR_TOKENS, {
    describe: 'list operator tokens: id, operator, scope, created, expires, and whether active, expired or revoked',
    columns: [['SCOPE', (t) => t.scope]],
    example: ['$0 director operator list', 'who holds which token'],
  });

const revokeCommand = (io: CliEnvironment, withDataDir: WithDataDir) =>
  revokeTokenCommand(io, withDataDir, OPERATOR_TOKENS, {
    recorded: (storage, token, now) => storage.audit('cli', 'revoke_operator_token', { name: token.name, tokenId: token.tokenId }, now),
  });

interface RemoveArgs extends DataDirArgs, YesArgs {
  readonly name: string;
  readonly json: boolean;
}

const removeCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, RemoveArgs> => ({
  command: 'remove <name>',
  describe: "revoke every token of an operator at once; run on the Director host",
  builder: (yargs) =>
    withYes(withDataDir(yargs))
      .positional('name', { type: 'string', demandOption: true, describe: 'the operator name given to `operator add`' })
      .option('json', { type: 'boolean', default: false, describe: 'print {name, removed, tokenIds} as JSON' })
      .example('$0 director operator remove alice', "asks first on a terminal; alice's token stops working immediately")
      .example('$0 director operator remove alice --yes', 'the same from a script, without asking') as unknown as Argv<RemoveArgs>,
  handler: (argv) =>
    OPERATOR_TOKENS.withExisting(
      argv.dataDir,
      async (storage) => {
        const now = systemClock.now();
        const active = (await storage.operatorTokens()).filter((t) => t.name === argv.name && tokenStatus(t, now) === 'active');
        if (active.length > 0) await confirmDestructive(io, argv, `remove operator ${argv.name} (revoke token ${active.map((t) => t.tokenId).join(', ')})`);
        const revoked = await storage.removeOperator(argv.name, now);
        if (revoked.length === 0) throw new Error(`no operator named ${argv.name} with a token in force in ${describeDirectorDatabase(parseDirectorDatabase(resolve(argv.dataDir), argv.database))}`);
        await storage.audit('cli', 'remove_operator', { name: argv.name, tokenIds: revoked }, now);
        if (argv.json) printJson(io, { name: argv.name, removed: true, tokenIds: revoked });
        else io.print(`removed operator ${argv.name}; its token no longer works`);
      },
      argv.database,
    ),
});

/** The `operator` subcommands, for cli.ts's group (withDataDir adds its --data-dir and --database options). */
export function operatorTokenCommands(io: CliEnvironment, withDataDir: WithDataDir): (yargs: Argv) => Argv {
  return (y) => y.command(addCommand(io, withDataDir)).command(listCommand(io, withDataDir)).command(revokeCommand(io, withDataDir)).command(removeCommand(io, withDataDir));
}
