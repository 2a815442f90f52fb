// `uptane director db migrate`: the Director's SQLite database copied into PostgreSQL
// (store/migrate-to-postgres.ts), through the command both repositories share (shared/cli/db-migrate-cli.ts).
import type { CommandModule } from 'yargs';
import { dbCommand } from '../shared/cli/db-migrate-cli.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { migrateDirectorToPostgres } from './store/migrate-to-postgres.js';

export const directorDbCommand = (io: CliEnvironment): CommandModule<object, object> =>
  dbCommand(io, { group: 'director', what: 'Director', sqliteFile: 'director.sqlite', defaultSchema: 'director', migrate: migrateDirectorToPostgres });
