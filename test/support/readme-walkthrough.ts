// Runs a README's shell blocks as a user would: in order, in one bash shell (so `export`, `cd` and
// servers started with `&` carry from one block to the next), in a scratch folder, with whatever
// environment the caller gives the shell (the test puts `uptane` on its PATH).
// test/docs/readme-walkthrough.test.ts runs the project's README with it, so the README cannot drift
// from the CLI.
//
// Conventions in the README (kept few so that it reads as a README):
// - every ```sh / ```bash / ```shell block runs, unless the line before it (blank lines allowed) is
//   `<!-- readme-test: skip (why) -->`; skips are counted and listed, each with its reason;
// - a ```text block right after a shell block is what that block prints: each of its non-empty lines
//   must appear in the block's output (standard output and error), in order; `...` inside a line
//   stands for anything;
// - `<!-- readme-test: file NAME -->` before any block writes that block's text to NAME in the
//   scratch folder, as a user would save the example file the README shows.
// A block fails when one of its commands exits non-zero (the block stops there, as under `set -e`,
// and the failure names the README line of that command), when it runs past its time, or when its
// output lacks a line its ```text block shows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const SHELL_LANGS = new Set(['sh', 'bash', 'shell']);
const MARKER = /^<!--\s*readme-test:\s*(skip|file)\b\s*(.*?)\s*-->$/;

export interface ReadmeBlock {
  /** 1-based README line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  /** The block's text, its fence's indentation removed. */
  readonly code: string;
  /** Set when a skip marker precedes the block: the reason given. */
  readonly skip?: string;
  /** Set when a file marker precedes the block: where its text goes in the scratch folder. */
  readonly file?: string;
  /** The ```text block right after a shell block: what it prints. */
  readonly expect?: { readonly line: number; readonly text: string };
}

interface Fence {
  line: number;
  lang: string;
  code: string;
  marker?: { kind: 'skip' | 'file'; arg: string; line: number };
}

/** Every fenced block of a markdown text, with the readme-test marker before it, if any. */
function fences(markdown: string): Fence[] {
  const lines = markdown.split('\n');
  const out: Fence[] = [];
  let pending: Fence['marker'];
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim();
    const marker = MARKER.exec(trimmed);
    if (marker !== null) {
      pending = { kind: marker[1] as 'skip' | 'file', arg: marker[2]!.replace(/^\((.*)\)$/, '$1'), line: i + 1 };
      continue;
    }
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (open === null) {
      if (trimmed !== '') pending = undefined;
      continue;
    }
    const indent = open[1]!.length;
    const fence = open[2]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j]!.trim().startsWith(fence) && lines[j]!.trim().replace(/[`~]/g, '') === '')) {
      body.push(lines[j]!.slice(Math.min(indent, lines[j]!.length - lines[j]!.trimStart().length)));
      j++;
    }
    out.push({ line: i + 1, lang: open[3]!.toLowerCase(), code: body.join('\n'), marker: pending });
    pending = undefined;
    i = j;
  }
  return out;
}

/** Every fenced block's language and line, so a test can refuse commands hidden in an unlabelled one. */
export function fenceLanguages(markdown: string): { readonly line: number; readonly lang: string }[] {
  return fences(markdown).map((f) => ({ line: f.line, lang: f.lang }));
}

/** The README's shell blocks in order, with their markers and expected output. */
export function parseReadme(markdown: string): ReadmeBlock[] {
  const all = fences(markdown);
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let k = 0; k < all.length; k++) {
    const f = all[k]!;
    if (f.marker?.kind === 'file') {
      blocks.push({ line: f.line, lang: f.lang, code: f.code, file: f.marker.arg });
      continue;
    }
    if (!SHELL_LANGS.has(f.lang)) continue;
    const next = all[k + 1];
    // The output block must follow with nothing but blank lines in between.
    const closing = f.line + f.code.split('\n').length + 1;
    const adjacent = next !== undefined && next.lang === 'text' && next.marker === undefined &&
      lines.slice(closing, next.line - 1).every((l) => l.trim() === '');
    blocks.push({
      line: f.line,
      lang: f.lang,
      code: f.code,
      ...(f.marker?.kind === 'skip' ? { skip: f.marker.arg === '' ? '(no reason given)' : f.marker.arg } : {}),
      ...(adjacent ? { expect: { line: next.line, text: next.code } } : {}),
    });
  }
  return blocks;
}

/** The expected lines missing from the output, in order; `...` in an expected line matches anything. */
export function missingOutput(expected: string, output: string): string[] {
  const missing: string[] = [];
  let from = 0;
  for (const raw of expected.split('\n')) {
    const want = raw.trim();
    if (want === '') continue;
    const pattern = new RegExp(want.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?'));
    const match = pattern.exec(output.slice(from));
    if (match === null) missing.push(want);
    else from += match.index + match[0].length;
  }
  return missing;
}

export interface WalkthroughFailure {
  /** README line of the failing command (or of the block, for a timeout or missing output). */
  readonly line: number;
  readonly blockLine: number;
  readonly reason: string;
  readonly output: string;
}

export interface WalkthroughResult {
  /** The README as it was read at the start (others may edit the file while it runs). */
  readonly readme: string;
  readonly ran: number;
  readonly skipped: readonly { readonly line: number; readonly reason: string }[];
  readonly failure?: WalkthroughFailure;
}

export interface WalkthroughOptions {
  readonly readmePath: string;
  /** The folder the blocks run in (the user's current folder). */
  readonly scratch: string;
  /** Where the runner keeps the block scripts and their output, outside the scratch folder. */
  readonly workDir: string;
  /** The whole environment of the shell: nothing else is inherited. */
  readonly env: Record<string, string>;
  readonly blockTimeoutMs: number;
  /** Called before each block runs, for progress. */
  readonly onBlock?: (block: ReadmeBlock) => void;
}

/** Formats a failure for a test's message: the README line, the command and what it printed. */
export function describeFailure(readmePath: string, readme: string, failure: WalkthroughFailure): string {
  const lines = readme.split('\n');
  const tail = failure.output.length > 6000 ? `...\n${failure.output.slice(-6000)}` : failure.output;
  return `${readmePath}:${failure.line}: ${failure.reason}\n  ${lines[failure.line - 1]?.trim() ?? ''}\n` +
    `(block at line ${failure.blockLine})\n--- output ---\n${tail}`;
}

/**
 * Runs every block of the README in one bash process started in its own process group; everything
 * the blocks start in the background is in that group and is ended with it, whatever happened.
 */
export async function runWalkthrough(options: WalkthroughOptions): Promise<WalkthroughResult> {
  const readme = readFileSync(options.readmePath, 'utf8');
  const blocks = parseReadme(readme);
  mkdirSync(options.scratch, { recursive: true });
  mkdirSync(options.workDir, { recursive: true });
  const shell = spawn('bash', ['--noprofile', '--norc'], { cwd: options.scratch, env: options.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const skipped: { line: number; reason: string }[] = [];
  let ran = 0;
  try {
    const reader = lineReader(shell);
    shell.stdin!.write('set -E -o pipefail\n');
    for (const [n, block] of blocks.entries()) {
      if (block.skip !== undefined) {
        skipped.push({ line: block.line, reason: block.skip });
        continue;
      }
      if (block.file !== undefined) {
        const target = resolve(options.scratch, block.file);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, `${block.code}\n`);
        continue;
      }
      options.onBlock?.(block);
      const script = join(options.workDir, `block-${n}.sh`);
      const log = join(options.workDir, `block-${n}.log`);
      writeFileSync(script, `${block.code}\n`);
      // The ERR trap stops the sourced block at its first failing command and keeps that command's
      // line; input is /dev/null so that nothing in a block reads the runner's commands.
      shell.stdin!.write(
        `__rt_status=0; __rt_line=0\n` +
        `{ trap '__rt_status=$?; __rt_line=$LINENO; trap - ERR; return $__rt_status' ERR; source ${quote(script)}; } </dev/null >${quote(log)} 2>&1\n` +
        `trap - ERR; echo "__readme_test_done ${n} $__rt_status $__rt_line"\n`,
      );
      const done = await reader.waitFor(new RegExp(`^__readme_test_done ${n} (\\d+) (\\d+)$`), options.blockTimeoutMs);
      const output = readFileSync(log, 'utf8');
      if (done === null) {
        return { readme, ran, skipped, failure: { line: block.line, blockLine: block.line, reason: `the block did not finish within ${options.blockTimeoutMs / 1000} s`, output } };
      }
      ran++;
      const status = Number(done[1]);
      if (status !== 0) {
        const line = block.line + Math.max(1, Number(done[2]));
        return { readme, ran, skipped, failure: { line, blockLine: block.line, reason: `the command exited with status ${status}`, output } };
      }
      if (block.expect !== undefined) {
        const missing = missingOutput(block.expect.text, output);
        if (missing.length > 0) {
          return {
            readme, ran, skipped,
            failure: { line: block.expect.line, blockLine: block.line, reason: `the output lacks what the README shows: ${missing.map((m) => JSON.stringify(m)).join(', ')}`, output },
          };
        }
      }
    }
    return { readme, ran, skipped };
  } finally {
    await endGroup(shell);
  }
}

function quote(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

/** Ends the shell's process group (the shell and all it started): TERM, then KILL after 5 s. */
async function endGroup(shell: ChildProcess): Promise<void> {
  const pgid = shell.pid!;
  const alive = (): boolean => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  shell.stdin!.end();
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < 5000 && alive(); waited += 100) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(-pgid, 'SIGKILL');
}

/** Reads the shell's own standard output line by line (the blocks' output goes to files). */
function lineReader(shell: ChildProcess): { waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> } {
  const seen: string[] = [];
  let wake: (() => void) | undefined;
  let partial = '';
  let closed = false;
  shell.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    seen.push(...parts);
    wake?.();
  });
  shell.stderr!.resume();
  shell.on('close', () => {
    closed = true;
    wake?.();
  });
  return {
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (seen.length > 0) {
          const match = pattern.exec(seen.shift()!);
          if (match !== null) return match;
        }
        if (closed || Date.now() >= deadline) return null;
        await new Promise<void>((r) => {
          const timer = setTimeout(r, deadline - Date.now());
          wake = () => {
            clearTimeout(timer);
            r();
          };
        });
        wake = undefined;
      }
    },
  };
}
