// What every command prints, and the one way it reaches the terminal. Anything a command prints may
// quote a vehicle, an upload or a server (a VIN, a refused manifest's key, an error message), so every
// line is written through terminalOutput, which makes terminal control characters visible instead of
// letting them clear the screen, retitle the window or overwrite a line (docs/threat-model.md HR-6),
// and which stops quietly when the reader of the output goes away (docs/threat-model.md HR-9k).
// Aligned tables for people, JSON for tools, both built on it.
import type { CliEnvironment } from './environment.js';
import { escapeTerminalText } from '../util/terminal-text.js';

/** The writable side of stdout or stderr, as terminalOutput uses it. */
export interface OutputStream {
  write(chunk: string): boolean;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** Where commands' lines go: one call is one line, escaped. */
export interface TerminalOutput {
  /** One line on standard output; a newline inside `line` is data and is shown as `\n`. */
  print(line: string): void;
  /** One line on standard error (progress, server logs the operator reads while waiting). */
  warn(line: string): void;
  /**
   * A failure on standard error as `error: <message>`. The message's newlines are kept: commands
   * put them there between a failure and its next step, and server answers are escaped where the
   * clients quote them.
   */
  error(message: string): void;
}

/**
 * The terminal output of one process. When a reader closes early (`uptane ... | head -1`), writing
 * fails with EPIPE: nothing more is written and `onClosed` runs once, instead of the stream's
 * unhandled error crashing the process with a stack trace. Any other write error is rethrown.
 */
export function terminalOutput(streams: { readonly stdout: OutputStream; readonly stderr: OutputStream }, onClosed: () => void): TerminalOutput {
  let closed = false;
  const watch = (stream: OutputStream) =>
    stream.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      if (closed) return;
      closed = true;
      onClosed();
    });
  watch(streams.stdout);
  watch(streams.stderr);
  const write = (stream: OutputStream, lines: readonly string[]) => {
    if (!closed) stream.write(lines.map((line) => `${escapeTerminalText(line)}\n`).join(''));
  };
  return {
    print: (line) => write(streams.stdout, [line]),
    warn: (line) => write(streams.stderr, [line]),
    error: (message) => write(streams.stderr, `error: ${message}`.split('\n')),
  };
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  // Cells are escaped before they are measured, so an escaped value keeps its column aligned.
  const safeRows = rows.map((r) => r.map(escapeTerminalText));
  const widths = headers.map((h, i) => Math.max(h.length, ...safeRows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...safeRows.map(line)];
}

export function printTable(io: CliEnvironment, headers: readonly string[], rows: ReadonlyArray<readonly string[]>, empty = '(none)'): void {
  if (rows.length === 0) {
    io.print(`  ${empty}`);
    return;
  }
  for (const line of table(headers, rows)) io.print(`  ${line}`);
}

/**
 * `value` as JSON for tools: indented over several lines, or on one line with `compact` (a stream of
 * records, one a line). JSON.stringify escapes C0 controls inside strings but not DEL, C1, U+2028/9
 * or bidi controls; print escapes those as \uXXXX, which is still valid JSON of the same value. The
 * line breaks between values are JSON.stringify's own, never a string's, so each is printed as a line.
 */
export function printJson(io: CliEnvironment, value: unknown, { compact = false } = {}): void {
  const text = compact ? JSON.stringify(value) : JSON.stringify(value, null, 2);
  for (const line of text.split('\n')) io.print(line);
}
