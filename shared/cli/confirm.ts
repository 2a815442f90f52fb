// Confirmation before a command that cannot be undone (revoking a token, discarding staged work and
// its signatures, aborting a campaign). On a terminal the operator is asked; anywhere else (a script,
// CI, a pipe) nobody could answer, so the command is refused unless --yes says the caller means it,
// rather than a script silently doing what a person would have been asked about.
import { createInterface } from 'node:readline/promises';
import type { Argv } from 'yargs';
import { ConfirmationRequiredError } from '../core/errors.js';
import type { CliEnvironment } from './environment.js';

export interface YesArgs {
  readonly yes?: boolean | undefined;
}

/** --yes (-y), for a command confirmDestructive guards. */
export function withYes<T>(yargs: Argv<T>): Argv<T & YesArgs> {
  return yargs.option('yes', {
    alias: 'y',
    type: 'boolean',
    default: false,
    describe: 'do it without asking (needed when standard input is not a terminal: scripts, CI)',
  }) as unknown as Argv<T & YesArgs>;
}

/**
 * Returns when the operator agreed to `action` (a phrase such as "revoke uploader token 3fa2c9d1e0b4
 * (release-bot)"): at once with --yes, else by answering y on the terminal. Throws
 * ConfirmationRequiredError, having changed nothing, when they said no or could not be asked.
 */
export async function confirmDestructive(io: CliEnvironment, argv: YesArgs, action: string): Promise<void> {
  if (argv.yes === true) return;
  if (io.confirm === undefined) {
    throw new ConfirmationRequiredError(`${action}: this cannot be undone, and standard input is not a terminal to ask on; pass --yes to do it`);
  }
  if (!(await io.confirm(`${action}? This cannot be undone. [y/N] `))) throw new ConfirmationRequiredError(`${action}: not confirmed; nothing changed`);
}

interface QuestionInput extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
}

/** Asks `question` on `output` and reads one line from `input`: true for y or yes (any case), false otherwise or at end of input. */
export async function askYesNo(input: QuestionInput, output: NodeJS.WritableStream, question: string): Promise<boolean> {
  const rl = createInterface({ input, output, terminal: false });
  try {
    output.write(question);
    const answer = await new Promise<string | undefined>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(undefined));
    });
    return answer !== undefined && /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}
