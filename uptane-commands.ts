// The command groups of the `uptane` binary, in the order --help lists them. The root cli.ts
// registers them with the process's environment; tests walk the same list (every --help example
// parses, every command that prints a result takes --json) without starting a process.
import type { CommandModule } from 'yargs';
import { directorCommand } from './director-repo/cli.js';
import { imageCommand } from './image-repo/cli.js';
import type { CliEnvironment } from './shared/cli/environment.js';
import { keysCommand } from './shared/cli/keys-cli.js';
import { pkiCommand } from './shared/cli/pki-cli.js';
import { demoCommand, simCommand } from './sim/cli.js';
import { vectorsCommand } from './sim/vectors/vectors-cli.js';
import { vehicleCommand } from './vehicle/cli.js';

export function uptaneCommands(io: CliEnvironment): CommandModule<object, object>[] {
  return [keysCommand(io), pkiCommand(io), imageCommand(io), directorCommand(io), vehicleCommand(io), demoCommand(io), simCommand(io), vectorsCommand(io)] as unknown as CommandModule<object, object>[];
}
