// What a CLI command group needs from the process (environment variables and the two output
// streams), handed over by the root cli.ts: only cli.ts reads process.env and writes to the real
// streams, so every command can be run in a test with its own environment.

/** What a command group needs from the process, handed over by the root cli.ts. */
export interface CliEnvironment {
  /** Environment variables (for passphrases named by --passphrase-env). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Writes one line to standard output, its control characters escaped (shared/cli/cli-output.ts). */
  readonly print: (line: string) => void;
  /** Writes one line to standard error (progress, logs), escaped the same way. */
  readonly warn: (line: string) => void;
  /** Whether standard output is a terminal (the serve commands then log in the pretty form). */
  readonly stdoutIsTerminal?: boolean;
  /**
   * Asks a yes/no question on the terminal (shared/cli/confirm.ts); the root cli.ts sets it only when
   * standard input is a terminal, so a script is never left waiting on a question nobody sees.
   */
  readonly confirm?: (question: string) => Promise<boolean>;
  /** Asks for a secret (a passphrase, a token PIN) without echo; set by the root cli.ts only when standard input is a terminal. */
  readonly promptSecret?: (prompt: string) => Promise<string>;
}

/**
 * The passphrase from the environment variable named by --passphrase-env, never from argv (which
 * other users can read in the process list). Throws for an unset or empty variable: an empty
 * passphrase would silently write an unencrypted key.
 */
export function passphraseFrom(env: CliEnvironment['env'], name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const value = env[name];
  if (value === undefined) throw new Error(`--passphrase-env ${name}: environment variable ${name} is not set`);
  if (value === '') throw new Error(`--passphrase-env ${name}: environment variable ${name} is empty`);
  return value;
}
