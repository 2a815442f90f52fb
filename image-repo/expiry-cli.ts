// `uptane image expiry`: every published role of the Image repository with its expiry, judged ok,
// warning or expired, with an exit status for cron and CI (shared/cli/expiry-cli.ts). Reads the
// server's database (--data-dir, --database) on the host, or a release engineer's workspace
// (--workspace: what it last published or pulled), with no server running.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { Clock } from '../shared/core/clock.js';
import { systemClock } from '../shared/core/clock.js';
import { withDatabaseOption, type DatabaseArgs } from '../shared/cli/database-option.js';
import { EXPIRY_EPILOGUE, reportExpiry, warningsOf, withExpiryOptions, type ExpiryArgs, type VerdictCliEnvironment } from '../shared/cli/expiry-cli.js';
import { existingDatabase } from '../shared/cli/token-cli.js';
import { judgeRoles, readRoleFacts } from '../shared/uptane/role-expiry.js';
import { Workspace } from '../shared/workspace/workspace.js';
import { imageRoleFacts } from './role-expiry-reader.js';
import { IMAGE_ONLINE_ROLES } from './repository.js';
import { openImageRepoStorage, parseImageDatabase, SQLITE_FILE } from './store/open.js';

interface ImageExpiryArgs extends ExpiryArgs, DatabaseArgs {
  readonly dataDir: string;
  readonly workspace?: string | undefined;
}

const withExisting = existingDatabase(
  parseImageDatabase,
  (dir, path, named) => (named ? `${path} is no Image repository database: check --database` : `${dir} holds no Image repository database: give its data folder with --data-dir, or a workspace with --workspace`),
  openImageRepoStorage,
);

export const imageExpiryCommand = (io: VerdictCliEnvironment & { readonly clock?: Clock }): CommandModule<object, ImageExpiryArgs> => ({
  command: 'expiry',
  describe: "every published role's expiry (root, targets, delegations, snapshot, timestamp), with an exit status for cron and CI",
  builder: (yargs) =>
    withExpiryOptions(withDatabaseOption(yargs, io, { sqliteFile: SQLITE_FILE, schema: 'image' }))
      .option('data-dir', {
        type: 'string',
        default: io.env.UPTANE_IMAGE_DATA_DIR ?? '.uptane-data/image-repo',
        describe: "the Image repository server's data folder (env UPTANE_IMAGE_DATA_DIR)",
      })
      .option('workspace', { alias: 'w', type: 'string', requiresArg: true, describe: 'read a workspace\'s published metadata instead of the server\'s database' })
      .example('$0 image expiry --data-dir /var/lib/uptane/image', 'on the server host: every role, its expiry and state')
      .example('$0 image expiry -w release-ws --warn-days 60 --json', "from the release engineer's workspace, warning 60 days ahead, for scripts")
      .example('$0 image expiry --data-dir /var/lib/uptane/image || mail -s "Uptane metadata expiring ($?)" ops@example.com', 'a cron job')
      .epilogue(EXPIRY_EPILOGUE) as unknown as Argv<ImageExpiryArgs>,
  handler: async (argv) => {
    const now = (io.clock ?? systemClock).now();
    if (argv.workspace !== undefined) {
      const ws = Workspace.open(argv.workspace, io.clock);
      if (ws.repository !== 'image') throw new Error(`${ws.dir} is a workspace of the ${ws.repository} repository: use \`uptane ${ws.repository} expiry --workspace\` with it`);
      const facts = await readRoleFacts('image', (role) => ws.files.published.load(role), new Set<string>(IMAGE_ONLINE_ROLES));
      reportExpiry(io, judgeRoles(facts, now, warningsOf(argv)), argv, `Image repository (workspace ${ws.dir}, as last published or pulled)`);
      return;
    }
    const facts = await withExisting(argv.dataDir, (storage) => imageRoleFacts(storage), argv.database);
    reportExpiry(io, judgeRoles(facts, now, warningsOf(argv)), argv, `Image repository (${resolve(argv.dataDir)})`);
  },
});
