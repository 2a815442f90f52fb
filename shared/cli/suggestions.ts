// "Did you mean" for a mistyped option: yargs recommends the nearest command itself
// (recommendCommands) but says only "Unknown argument: jsn" for an option. The root cli.ts hands the
// failing command's option names here, and the nearest one is offered the way yargs offers commands.

/** Edit distance (insertions, deletions, substitutions, and a swap of two neighbours counts as one). */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The candidate nearest to `word` (at most a third of its length away, and at most 3), or undefined. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

const UNKNOWN_ARGUMENTS = /^Unknown arguments?: (.+)$/;

/**
 * For yargs' "Unknown argument(s): a, b" message, `did you mean --y?` for each unknown option near a
 * known one (`known`: the failing command's option names and aliases, camelCase spellings left out).
 * Only words given as options in `rawArgs` count: a mistyped command is yargs' recommendCommands' job.
 */
export function optionSuggestions(message: string, known: readonly string[], rawArgs: readonly string[]): string[] {
  const match = UNKNOWN_ARGUMENTS.exec(message);
  if (match === null) return [];
  const options = known.filter((name) => name.length > 1 && !/[A-Z]/.test(name));
  const givenAsOption = (word: string) => rawArgs.some((arg) => arg === `--${word}` || arg.startsWith(`--${word}=`) || arg === `--no-${word}`);
  const lines: string[] = [];
  for (const unknown of match[1]!.split(', ')) {
    if (!givenAsOption(unknown)) continue;
    const suggestion = nearest(unknown, options);
    if (suggestion !== undefined) lines.push(`--${unknown}: did you mean --${suggestion}?`);
  }
  return lines;
}
