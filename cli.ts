#!/usr/bin/env node
// The single `uptane` binary. Each component exports its command group and this file registers
// them; it is the only place that reads process.argv and process.env (docs/code-style.md R3).
// Failures print `error: <message>` on stderr and exit with status 1; shared/cli/failure-report.ts
// turns a library's or the system's error into one that says what to do. Every line goes through
// terminalOutput (shared/cli/cli-output.ts), which escapes terminal control characters
// (docs/threat-model.md HR-6). When the reader of stdout or stderr goes away (`uptane ... | head
// -1`), the process stops at once with status 141, what a shell reports for a program ended by
// SIGPIPE, like any Unix filter: no stack trace, and a pipeline under `set -o pipefail` still tells
// a cut-short run from a full one (docs/threat-model.md HR-9k).
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { terminalOutput } from './shared/cli/cli-output.js';
import { askYesNo } from './shared/cli/confirm.js';
import { describeFailure, failureTrace } from './shared/cli/failure-report.js';
import { optionSuggestions } from './shared/cli/suggestions.js';
import { type CliEnvironment } from './shared/cli/environment.js';
import { promptSecretOn } from './shared/keys/secret-prompt.js';
import { uptaneCommands } from './uptane-commands.js';

/** A command line yargs refused (unknown command or option, missing argument). */
class UsageFailure extends Error {}

/** The package's version for --version: package.json sits beside dist/ (built) or beside this file (source). */
function packageVersion(): string {
  for (const path of ['../package.json', './package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'uptane-ts' && typeof pkg.version === 'string') return pkg.version;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return 'unknown';
}

/** 128 + SIGPIPE (13): the status a shell shows for a writer whose reader closed the pipe. */
const STATUS_READER_GONE = 141;

const output = terminalOutput({ stdout: process.stdout, stderr: process.stderr }, () => process.exit(STATUS_READER_GONE));
// A token PIN or passphrase prompt, and the confirmation of a command that cannot be undone, only where standard input is a terminal.
const terminalInput = isatty(0)
  ? { promptSecret: (prompt: string) => promptSecretOn(process.stdin, process.stderr, prompt), confirm: (question: string) => askYesNo(process.stdin, process.stderr, question) }
  : {};
const io: CliEnvironment = { env: process.env, print: output.print, warn: output.warn, stdoutIsTerminal: isatty(1), ...terminalInput };

const rawArgs = hideBin(process.argv);
// yargs' recommendCommands reports "Did you mean X?" as a failure of its own just before the
// "Unknown argument" one; it is kept and shown with it.
let recommendation: string | undefined;
// Only the group the first word names is loaded (uptane-commands.ts); options come after it.
const firstWord = rawArgs.find((arg) => !arg.startsWith('-'));
// `uptane --version` alone needs no group at all.
const commands = rawArgs.length === 1 && rawArgs[0] === '--version' ? [] : await uptaneCommands(io, firstWord);
const parser = commands
  .reduce((y, command) => y.command(command), yargs(rawArgs).scriptName('uptane').usage('$0 <command> [options]'))
  .demandCommand(1, 'name a command; run uptane --help to list them')
  .strict()
  .recommendCommands()
  .help()
  .alias('h', 'help')
  .version(packageVersion())
  .wrap(Math.min(100, process.stdout.columns ?? 100))
  .epilogue('Documentation: README.md at the root of the uptane-ts repository; every command has --help with examples.')
  .fail((message, error) => {
    // Handler errors arrive as `error`; yargs' own validation failures only as `message`.
    if (error !== undefined && error !== null) throw error;
    if (/^Did you mean /.test(message)) {
      recommendation = message.replace(/^Did you mean/, 'did you mean');
      return;
    }
    // The failing command's options, while yargs is still inside it, for "did you mean --json?"
    // (getOptions is in yargs' API but not its type declarations).
    const known = Object.keys((parser as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
    const suggestions = [...(recommendation === undefined ? [] : [recommendation]), ...optionSuggestions(message, known, rawArgs)];
    throw new UsageFailure([message, ...suggestions].join('\n'));
  });

try {
  await parser.parseAsync();
} catch (err) {
  output.error(err instanceof UsageFailure ? err.message : describeFailure(err));
  if (err instanceof UsageFailure) output.warn('run with --help for usage');
  else if (process.env.UPTANE_DEBUG === '1') for (const line of failureTrace(err)) output.warn(line);
  process.exitCode = 1;
}
