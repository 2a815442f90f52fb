// The command groups of the `uptane` binary, in the order --help lists them. The root cli.ts
// registers them with the process's environment; tests walk the same list (every --help example
// parses, every command that prints a result takes --json) without starting a process.
//
// Each group's modules are imported only when it is asked for: loading the whole tree (express, the
// stores, the simulator) took 1.4 to 1.8 s before any command ran, paid by every `uptane` call.
// `uptane image ...` loads the image group alone; a first word that names no group (--help, a typo
// for "did you mean", nothing) loads them all.
import type { CommandModule } from 'yargs';
import type { CliEnvironment } from './shared/cli/environment.js';

type Command = CommandModule<object, object>;
const one = (command: unknown): Command[] => [command as Command];

const GROUPS: Readonly<Record<string, (io: CliEnvironment) => Promise<Command[]>>> = {
  keys: async (io) => one((await import('./shared/cli/keys-cli.js')).keysCommand(io)),
  pki: async (io) => one((await import('./shared/cli/pki-cli.js')).pkiCommand(io)),
  image: async (io) => one((await import('./image-repo/cli.js')).imageCommand(io)),
  director: async (io) => one((await import('./director-repo/cli.js')).directorCommand(io)),
  vehicle: async (io) => one((await import('./vehicle/cli.js')).vehicleCommand(io)),
  gateway: async (io) => one((await import('./gateway/cli.js')).gatewayCommand(io)),
  demo: async (io) => one((await import('./sim/cli.js')).demoCommand(io)),
  sim: async (io) => one((await import('./sim/cli.js')).simCommand(io)),
  log: async (io) => one((await import('./shared/cli/log-cli.js')).logCommand(io)),
  vectors: async (io) => one((await import('./sim/vectors/vectors-cli.js')).vectorsCommand(io)),
};

/** The names of the command groups, in --help order. */
export const COMMAND_GROUPS: readonly string[] = Object.keys(GROUPS);

/** The group `first` names (the command line's first word), or every group when it names none. */
export async function uptaneCommands(io: CliEnvironment, first?: string): Promise<Command[]> {
  const names = first !== undefined && Object.hasOwn(GROUPS, first) ? [first] : COMMAND_GROUPS;
  // One group after another: loading is one thread's work either way, and Jest's ESM loader cannot
  // link two overlapping module graphs imported at the same time.
  const commands: Command[] = [];
  for (const name of names) commands.push(...(await GROUPS[name]!(io)));
  return commands;
}
