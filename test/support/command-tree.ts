// The `uptane` command tree as data, for tests that hold every command to a rule (every --help
// example parses, every Image repository command takes --json). Each command module's builder is run
// against a recorder that keeps what the builder declares (subcommands, options and their choices,
// positionals, examples) and ignores the rest, so no process starts and nothing is opened.
import type { CommandModule } from 'yargs';
import type { CliEnvironment } from '../../shared/cli/environment.js';
import { uptaneCommands } from '../../uptane-commands.js';

export interface OptionSpec {
  readonly choices?: readonly unknown[];
  readonly type?: string;
  readonly alias?: string | readonly string[];
  readonly hidden?: boolean;
}

export interface CommandNode {
  /** Words after `uptane`, e.g. ['image', 'uploader', 'add']. */
  readonly path: readonly string[];
  /** The declaration, e.g. `add <name>`. */
  readonly command: string;
  /** Runs when its group is named alone too (declared with `$0`, as `online-keys` runs `online-keys show`). */
  readonly isDefault: boolean;
  readonly describe: string;
  readonly options: ReadonlyMap<string, OptionSpec>;
  readonly examples: ReadonlyArray<readonly [string, string]>;
  readonly children: readonly CommandNode[];
}

/** A CliEnvironment that prints nowhere and holds no variables. */
export const QUIET_IO: CliEnvironment = { env: {}, print: () => undefined, warn: () => undefined };

function record(module: CommandModule<object, object>, parent: readonly string[]): CommandNode {
  const declared = (Array.isArray(module.command) ? module.command : [module.command]).map(String);
  const command = declared[0]!;
  const path = [...parent, command.split(' ')[0]!];
  const options = new Map<string, OptionSpec>();
  const examples: Array<readonly [string, string]> = [];
  const children: CommandNode[] = [];
  const recorder: object = new Proxy(
    {},
    {
      get(_target, property) {
        return (...args: unknown[]) => {
          if (property === 'command') {
            const modules = Array.isArray(args[0]) ? (args[0] as CommandModule<object, object>[]) : [args[0] as CommandModule<object, object>];
            for (const m of modules) children.push(record(m, path));
          } else if (property === 'option' || property === 'positional') {
            options.set(args[0] as string, (args[1] ?? {}) as OptionSpec);
          } else if (property === 'options') {
            for (const [name, spec] of Object.entries(args[0] as Record<string, OptionSpec>)) options.set(name, spec);
          } else if (property === 'example') {
            examples.push([args[0] as string, (args[1] as string | undefined) ?? '']);
          }
          return recorder;
        };
      },
    },
  );
  if (typeof module.builder === 'function') (module.builder as (y: unknown) => unknown)(recorder);
  return { path, command, isDefault: declared.includes('$0'), describe: String(module.describe ?? ''), options, examples, children };
}

/** The whole tree, from the same list the binary registers. */
export async function commandTree(io: CliEnvironment = QUIET_IO): Promise<CommandNode[]> {
  return (await uptaneCommands(io)).map((m) => record(m, []));
}

/** Every node, depth first. */
export function allCommands(nodes: readonly CommandNode[]): CommandNode[] {
  return nodes.flatMap((n) => [n, ...allCommands(n.children)]);
}

/** The commands that run something (no subcommands). */
export function leafCommands(nodes: readonly CommandNode[]): CommandNode[] {
  return allCommands(nodes).filter((n) => n.children.length === 0);
}
