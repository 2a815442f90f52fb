// Runs the `uptane` binary for tests that drive it as a user would. test/global-setup.js builds
// dist/ once before any test file runs, so no test rebuilds it (parallel rebuilds of dist/ made
// other workers' CLI imports fail at random).
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The binary the tests run, as `npm run build` makes it. */
export const CLI = join(REPO_ROOT, 'dist', 'cli.js');

/** The CLI's path, once the global setup has built it. */
export async function buildCli(): Promise<string> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run the tests with npm test (its global setup builds the CLI)`);
  return CLI;
}

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `uptane <args>` to the end. Asynchronous on purpose: the servers it talks to run in the test's
 * own process, and a synchronous spawn would stop them from answering.
 */
export function runCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill(), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}

/**
 * Runs `uptane <args>` with a reader that goes away as `head` does: this side of the child's stdout is
 * closed on its first chunk (`'first-chunk'`), or at once, before the child can write anything
 * (`'start'`, so that its first write certainly finds the pipe closed). Standard error is kept whole.
 */
export function runCliClosingStdout(
  args: readonly string[],
  when: 'start' | 'first-chunk',
  options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<CliResult & { readonly signal: NodeJS.Signals | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    if (when === 'start') child.stdout.destroy();
    else child.stdout.setEncoding('utf8').once('data', (chunk: string) => {
      stdout = chunk;
      child.stdout.destroy();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill(), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolvePromise({ status, signal, stdout, stderr });
    });
  });
}

/** A long-running `uptane` process (a server), its output so far, and a way to stop it. */
export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves with the first output line matching `pattern`; rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then the exit status. */
  stop(): Promise<number | null>;
}

export function startCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: options.env ?? process.env });
  let output = '';
  const exited = new Promise<number | null>((r) => child.on('close', (status) => r(status)));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return {
    child,
    output: () => output,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (match === null) return false;
          cleanup();
          resolvePromise(match);
          return true;
        };
        const onData = () => void check();
        const onClose = (status: number | null) => {
          if (check()) return;
          cleanup();
          reject(new Error(`uptane ${args.join(' ')} exited (${String(status)}) before printing ${String(pattern)}:\n${output}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`uptane ${args.join(' ')} did not print ${String(pattern)} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          child.stderr.off('data', onData);
          child.off('close', onClose);
        };
        if (check()) return;
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.on('close', onClose);
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Whether util-linux `script` is here to run a command on a pseudo-terminal (the prompt tests). */
export const hasPseudoTerminal: boolean = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
})();
