// `uptane image uploader add|list|revoke|remove`: uploader tokens, managed on the Image repository
// host in its data folder (docs/threat-model.md HR-10). A token has a public id (printed by add and
// list), an expiry (90 days unless --expires says otherwise; `never` only when asked for), and
// optionally the roles (--role) and image paths (--path) it may publish; only its SHA-256 is stored.
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import { printJson } from '../shared/cli/cli-output.js';
import { confirmDestructive, withYes, type YesArgs } from '../shared/cli/confirm.js';
import { tokenStatus } from '../shared/server/access-tokens.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { checkRoleName } from '../shared/core/metadata/paths.js';
import { addTokenCommand, existingDatabase, listTokensCommand, revokeTokenCommand, type AddTokenArgs, type DataDirArgs, type TokenGroup, type WithDataDir } from '../shared/cli/token-cli.js';
import { openImageRepoStorage, parseImageDatabase } from './store/open.js';
import type { ImageRepoStorage } from './store/storage.js';
import type { UploaderTokenRecord } from './store/uploader-tokens.js';

const PATH_PATTERN = /^[\x21-\x7e]{1,255}$/;

const UPLOADER_TOKENS: TokenGroup<ImageRepoStorage, UploaderTokenRecord> = {
  kind: 'uploader',
  group: 'image uploader',
  // No keys made, no folders: a SQLite file must exist already, so a typo in --data-dir makes no
  // empty one; PostgreSQL is opened (and migrated) as the server would.
  withExisting: existingDatabase(
    parseImageDatabase,
    (dir, path, named) => (named ? `${path} is no Image repository database: check --database` : `${dir} holds no Image repository database: give its data folder with --data-dir (or UPTANE_IMAGE_DATA_DIR), or its database with --database; a new Image repository makes its database when first started (\`uptane image serve --data-dir DIR\`)`),
    openImageRepoStorage,
  ),
  tokens: (storage) => storage.uploaderTokens(),
  revoke: (storage, tokenId, now) => storage.revokeUploaderToken(tokenId, now),
};

interface AddArgs extends AddTokenArgs {
  readonly role?: string[] | undefined;
  readonly path?: string[] | undefined;
}

const addCommand = (io: CliEnvironment, withDataDir: WithDataDir) =>
  addTokenCommand(io, withDataDir, UPLOADER_TOKENS, {
    describe: 'create an uploader token and print it once (only its SHA-256 is stored)',
    nameDescribe: 'who the token is for, e.g. release-bot',
    options: (yargs) =>
      yargs
        .option('role', { type: 'string', array: true, requiresArg: true, describe: 'a role it may publish (root, targets, or a delegated role); repeat; default: every role' })
        .option('path', { type: 'string', array: true, requiresArg: true, describe: "image paths it may add, change or remove, as TUF patterns ('acme/*'); repeat; default: every path" }),
    jsonDescribe: 'print {name, token, tokenId, roles, paths, expiresAt} as JSON',
    examples: [
      ['$0 image uploader add release-bot', 'prints a bearer token for the upload API'],
      ["$0 image uploader add acme-ci --role acme --path 'acme/*'", "a supplier's token: publishes role acme only, images under acme/ only"],
      ['$0 image uploader add release-bot --database postgres://uptane@db.example/uptane', 'a token for every replica of a repository on PostgreSQL'],
    ],
    epilogue: 'The token is printed alone on standard output and never again; its id, roles, paths and expiry go to standard error.',
    check: (argv: AddArgs) => {
      for (const role of argv.role ?? []) checkRoleName(role);
      for (const path of argv.path ?? []) if (!PATH_PATTERN.test(path)) throw new Error(`--path ${JSON.stringify(path)}: give a pattern such as 'acme/*' (printable, no spaces)`);
    },
    grant: (argv) => ({
      roles: argv.role === undefined ? null : [...new Set(argv.role)],
      paths: argv.path === undefined ? null : [...new Set(argv.path)],
    }),
    add: (storage, name, token, now, { roles, paths }, expiresAt) => storage.addUploader(name, token, now, { roles, paths, expiresAt }),
    summary: ({ roles, paths }) => `roles ${roles?.join(', ') ?? 'any'}, paths ${paths?.join(', ') ?? 'any'}`,
  });

const listCommand = (io: CliEnvironment, withDataDir: WithDataDir) =>
  listTokensCommand(io, withDataDir, UPLOADER_TOKENS, {
    describe: 'list uploader tokens: id, uploader, roles, paths, created, expires, and whether active, expired or revoked',
    example: ['$0 image uploader list --json', 'every token with its status, for scripts'],
    columns: [
      ['ROLES', (t) => t.roles?.join(',') ?? 'any'],
      ['PATHS', (t) => t.paths?.join(',') ?? 'any'],
    ],
  });

const revokeCommand = (io: CliEnvironment, withDataDir: WithDataDir) => revokeTokenCommand(io, withDataDir, UPLOADER_TOKENS);

interface RemoveArgs extends DataDirArgs, YesArgs {
  readonly name: string;
  readonly json: boolean;
}

const removeCommand = (io: CliEnvironment, withDataDir: WithDataDir): CommandModule<object, RemoveArgs> => ({
  command: 'remove <name>',
  describe: 'revoke every token of an uploader',
  builder: (yargs) =>
    withYes(withDataDir(yargs))
      .positional('name', { type: 'string', demandOption: true, describe: 'the uploader, as `uploader list` shows it' })
      .option('json', { type: 'boolean', default: false, describe: 'print {name, revoked: [token ids]} as JSON' })
      .example('$0 image uploader remove release-bot', 'asks first on a terminal; the token stops working at once')
      .example('$0 image uploader remove release-bot --yes', 'the same from a script, without asking') as unknown as Argv<RemoveArgs>,
  handler: (argv) =>
    UPLOADER_TOKENS.withExisting(
      argv.dataDir,
      async (storage) => {
        const now = systemClock.now();
        const active = (await storage.uploaderTokens()).filter((t) => t.name === argv.name && tokenStatus(t, now) === 'active');
        if (active.length > 0) await confirmDestructive(io, argv, `remove uploader ${argv.name} (revoke token ${active.map((t) => t.tokenId).join(', ')})`);
        const revoked = await storage.removeUploader(argv.name, now);
        if (revoked.length === 0) throw new Error(`no uploader named ${argv.name} with a token in force: \`uptane image uploader list\` shows them`);
        if (argv.json) printJson(io, { name: argv.name, revoked });
        else io.print(`removed uploader ${argv.name}`);
      },
      argv.database,
    ),
});

/** The `uploader` subcommands, for cli.ts's group (withDataDir adds its --data-dir and --database options). */
export function uploaderCommands(io: CliEnvironment, withDataDir: WithDataDir): (yargs: Argv) => Argv {
  return (y) => y.command(addCommand(io, withDataDir)).command(listCommand(io, withDataDir)).command(revokeCommand(io, withDataDir)).command(removeCommand(io, withDataDir));
}
