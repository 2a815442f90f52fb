// What to run next: errors and summaries name the exact command, in the CLI group of the
// repository the workspace signs for (`uptane image ...`, later `uptane director ...`).

export function commandHint(repository: string, subcommand: string): string {
  return `uptane ${repository} ${subcommand}`;
}

/** A short, recognizable form of a keyid for tables (the full one is in --json output). */
export function shortKeyId(keyid: string): string {
  return keyid.slice(0, 12);
}
