// `--database` of the server commands and of the host commands that open a server's database
// (tokens): SQLite in the data folder unless a PostgreSQL URL (or sqlite:PATH) is given, from the
// option or UPTANE_DATABASE_URL. A URL may carry a password: it never shows in --help (or anywhere
// else the commands print: redactUrl).
import type { Argv } from 'yargs';
import { redactUrl } from '../server/postgres.js';
import type { CliEnvironment } from './environment.js';

export interface DatabaseArgs {
  readonly database?: string | undefined;
}

/** The environment variable every server's --database defaults to. */
export const DATABASE_URL_ENV = 'UPTANE_DATABASE_URL';

/**
 * Adds --database. `sqliteFile` is the data folder's default file (for the help), `schema` the
 * PostgreSQL schema the server's tables go to when the URL names none.
 */
export function withDatabaseOption<T>(yargs: Argv<T>, io: CliEnvironment, server: { readonly sqliteFile: string; readonly schema: string }): Argv<T & DatabaseArgs> {
  const fromEnv = io.env[DATABASE_URL_ENV];
  const given = fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  return yargs.option('database', {
    type: 'string',
    requiresArg: true,
    default: given,
    defaultDescription: given === undefined ? `<data-dir>/${server.sqliteFile}` : `${redactUrl(given)} (from ${DATABASE_URL_ENV})`,
    describe:
      `the database: postgres://USER@HOST:5432/DB (tables in schema \`${server.schema}\`; ?schema=NAME for another), shared by replicas; ` +
      `or sqlite:PATH (relative: inside the data folder) (env ${DATABASE_URL_ENV})`,
  }) as unknown as Argv<T & DatabaseArgs>;
}
