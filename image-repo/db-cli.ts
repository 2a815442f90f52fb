// `uptane image db migrate`: the Image repository's SQLite database copied into PostgreSQL
// (store/migrate-to-postgres.ts), through the command both repositories share (shared/cli/db-migrate-cli.ts).
import type { CommandModule } from 'yargs';
import { dbCommand } from '../shared/cli/db-migrate-cli.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { migrateImageRepoToPostgres } from './store/migrate-to-postgres.js';

export const imageDbCommand = (io: CliEnvironment): CommandModule<object, object> =>
  dbCommand(io, { group: 'image', what: 'Image repository', sqliteFile: 'image-repo.sqlite', defaultSchema: 'image', migrate: migrateImageRepoToPostgres });
