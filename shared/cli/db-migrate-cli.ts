// `uptane director|image db migrate --from sqlite:PATH --to postgres://...`: the command both
// repositories share around their own copy (director-repo/store/migrate-to-postgres.ts,
// image-repo/store/migrate-to-postgres.ts): the arguments checked, progress on standard error, the
// verification per table on standard output (or --json), exit status 0 only when it verified.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { isPostgresUrl, redactUrl } from '../server/postgres.js';
import type { CopyOptions, TableReport } from '../server/table-copy.js';
import { printJson, printTable } from './cli-output.js';
import type { CliEnvironment } from './environment.js';

/** What one repository brings to the command. */
export interface DbMigrateSpec {
  /** `director` or `image`: the command group, as typed. */
  readonly group: string;
  /** For messages: "Director", "Image repository". */
  readonly what: string;
  /** The SQLite file in its data folder, for the example. */
  readonly sqliteFile: string;
  /** The schema its tables go to when the URL names none. */
  readonly defaultSchema: string;
  readonly migrate: (sqlitePath: string, postgresUrl: string, options: CopyOptions) => Promise<TableReport[]>;
}

interface MigrateArgs {
  readonly from: string;
  readonly to: string;
  readonly json: boolean;
}

const SQLITE_PREFIX = 'sqlite:';
/** Progress lines of one table at most this often (ms), and always its total. */
const PROGRESS_EVERY_MS = 1000;

const migrateCommand = (io: CliEnvironment, spec: DbMigrateSpec): CommandModule<object, MigrateArgs> => ({
  command: 'migrate',
  describe: `copy the ${spec.what}'s SQLite database into an empty PostgreSQL database, verified`,
  builder: (yargs) =>
    yargs
      .option('from', { type: 'string', demandOption: true, requiresArg: true, describe: `the SQLite file: sqlite:PATH, e.g. sqlite:<data-dir>/${spec.sqliteFile} (a relative PATH is from the current folder, not the data folder)` })
      .option('to', {
        type: 'string',
        demandOption: true,
        requiresArg: true,
        describe: `the PostgreSQL database: postgres://USER@HOST:5432/DB (tables in schema \`${spec.defaultSchema}\`; ?schema=NAME for another); it must hold no rows`,
      })
      .option('json', { type: 'boolean', default: false, describe: 'print {from, to, verified, tables: [{table, sourceRows, targetRows, signedCompared, signedMismatches, mismatchedKeys}]} as JSON' })
      .check((argv) => {
        const from = argv.from as string;
        if (!from.startsWith(SQLITE_PREFIX) || from.length === SQLITE_PREFIX.length) throw new Error(`--from ${from}: give the SQLite file as sqlite:PATH`);
        if (!isPostgresUrl(argv.to as string)) throw new Error(`--to ${redactUrl(argv.to as string)}: give a PostgreSQL URL, postgres://USER@HOST:5432/DB`);
        return true;
      })
      .example(
        `$0 ${spec.group} db migrate --from sqlite:/var/lib/uptane/${spec.group}/${spec.sqliteFile} --to postgres://uptane@db.example:5432/uptane`,
        `copy into schema ${spec.defaultSchema} of database uptane, then start the servers with --database postgres://uptane@db.example:5432/uptane`,
      )
      .example(`$0 ${spec.group} db migrate --from sqlite:${spec.sqliteFile} --to 'postgres://uptane@db.example/uptane?schema=${spec.defaultSchema}_2' --json`, 'into a schema of its own; a summary for scripts')
      .epilogue(
        'The SQLite file is read in one read transaction: a consistent snapshot even while its server runs (what the server writes after that is not copied, ' +
          'so stop it, or stop taking writes, before the switch). The copy is one PostgreSQL transaction: on any failure the target stays empty. ' +
          'A target holding any row is refused: give a fresh database or a new schema (?schema=NAME). A SQLite file at an older schema version is refused: ' +
          `start \`uptane ${spec.group} serve\` on it once to migrate it. After copying, row counts per table and the SHA-256 of every signed file are compared; ` +
          'exit status 0 only when they all match. Progress goes to standard error. The password in --to is never printed.',
      ) as unknown as Argv<MigrateArgs>,
  handler: async (argv) => {
    const path = resolve(argv.from.slice(SQLITE_PREFIX.length));
    // A table that copies within the period shows only its total.
    let lastShown = Date.now();
    const onProgress = (table: string, rows: number, done: boolean) => {
      const now = Date.now();
      if (!done && now - lastShown < PROGRESS_EVERY_MS) return;
      lastShown = now;
      io.warn(`${table}: ${rows} row${rows === 1 ? '' : 's'} copied${done ? '' : ' so far'}`);
    };
    const reports = await spec.migrate(path, argv.to, { onProgress });
    const to = redactUrl(argv.to);
    if (argv.json) {
      printJson(io, { from: path, to, verified: true, tables: reports });
      return;
    }
    io.print(`copied ${spec.what} SQLite ${path} to PostgreSQL ${to}; verified:`);
    printTable(
      io,
      ['TABLE', 'SQLITE ROWS', 'POSTGRESQL ROWS', 'SIGNED FILES EQUAL'],
      reports.map((r) => [r.table, String(r.sourceRows), String(r.targetRows), r.signedCompared === 0 ? '-' : `${r.signedCompared - r.signedMismatches}/${r.signedCompared} (SHA-256)`]),
    );
    io.print(`next: start the ${spec.what} with --database ${to} and the same data folder`);
  },
});

/** The `db` command group of a repository: `db migrate`. */
export const dbCommand = (io: CliEnvironment, spec: DbMigrateSpec): CommandModule<object, object> => ({
  command: 'db',
  describe: `the ${spec.what}'s database: migrate from SQLite to PostgreSQL`,
  builder: (yargs) => yargs.command(migrateCommand(io, spec)).demandCommand(1, `name a db subcommand: migrate`),
  handler: () => undefined,
});
