// What every command group prints the same way: aligned tables for people, JSON for tools.
import type { CliEnvironment } from './keys-cli.js';

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

export function printTable(io: CliEnvironment, headers: readonly string[], rows: ReadonlyArray<readonly string[]>, empty = '(none)'): void {
  if (rows.length === 0) {
    io.print(`  ${empty}`);
    return;
  }
  for (const line of table(headers, rows)) io.print(`  ${line}`);
}

export const printJson = (io: CliEnvironment, value: unknown) => io.print(JSON.stringify(value, null, 2));
