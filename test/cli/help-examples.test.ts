// Every command's --help holds to the rules a user relies on (issue 20, finding 9): each example
// parses as written (the command exists, every option exists, every choice is allowed, nothing
// required is missing), and every Image repository command that prints a result takes --json.
// The tree is read from the same command list the binary registers (test/support/command-tree.ts);
// each example goes through the real yargs parser with the binary's settings (strict), stopped
// after validation so that no handler runs.
import yargs from 'yargs';
import { uptaneCommands } from '../../uptane-commands.js';
import { allCommands, commandTree, leafCommands, QUIET_IO } from '../support/command-tree.js';

/** Thrown by the middleware that runs after validation: the command line parsed. */
class Parsed extends Error {}
class Refused extends Error {}

/** The words of one shell command line, as sh would split them (quotes, escapes, $(...) kept as one word). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    const add = (text: string) => (word = (word ?? '') + text);
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      add(line.slice(i + 1, end));
      i = end;
    } else if (ch === '"') {
      let j = i + 1;
      let text = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        text += line[j];
        j++;
      }
      add(text);
      i = j;
    } else if (ch === '$' && line[i + 1] === '(') {
      let depth = 0;
      let j = i;
      for (; j < line.length; j++) {
        if (line[j] === '(') depth++;
        if (line[j] === ')' && --depth === 0) break;
      }
      add(line.slice(i, j + 1));
      i = j;
    } else if (ch === '\\' && i + 1 < line.length) {
      add(line[++i]!);
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else if ('|;&<>'.includes(ch)) {
      if (word !== null) words.push(word);
      word = null;
      let op = ch;
      while (i + 1 < line.length && '|&<>'.includes(line[i + 1]!)) op += line[++i];
      words.push(op);
    } else add(ch);
  }
  if (word !== null) words.push(word);
  return words;
}

const OPERATORS = new Set(['|', '||', '&&', ';', '&']);
const REDIRECTIONS = /^[0-9]?(>|>>|<|>&)$/;

/** The argument lists of every `uptane` (`$0`) invocation in an example line. */
function invocations(example: string): string[][] {
  const found: string[][] = [];
  let current: string[] | null = null;
  let skipNext = false;
  for (const word of shellWords(example)) {
    if (OPERATORS.has(word)) {
      if (current !== null) found.push(current);
      current = null;
      continue;
    }
    // An invocation inside $(...), alone or assigned (`export T=$($0 ... add ci-bot)`).
    const inner = /\$\((.*)\)$/.exec(word);
    if (inner !== null) found.push(...invocations(inner[1]!));
    if (current === null) {
      if (word === '$0' || word === 'uptane') current = [];
      continue;
    }
    if (skipNext) {
      skipNext = false;
      continue;
    }
    if (REDIRECTIONS.test(word)) {
      skipNext = true;
      continue;
    }
    if (/^[0-9]?>/.test(word)) continue;
    current.push(word);
  }
  if (current !== null) found.push(current);
  return found;
}

/** Parses `args` as the binary would, stopping after validation; undefined when it parsed, else yargs' complaint. */
async function parseProblem(args: readonly string[]): Promise<string | undefined> {
  const parser = (await uptaneCommands(QUIET_IO))
    .reduce((y, command) => y.command(command), yargs([...args]).scriptName('uptane'))
    .demandCommand(1)
    .strict()
    .help()
    .version('0.0.0')
    .exitProcess(false)
    .middleware(() => {
      throw new Parsed();
    }, false)
    .fail((message, error) => {
      throw error ?? new Refused(message);
    });
  try {
    let helped = false;
    await parser.parseAsync([...args], {}, (_err, _argv, output) => {
      if (output !== '') helped = true;
    });
    return helped ? undefined : 'parsed but neither ran nor showed help';
  } catch (err) {
    if (err instanceof Parsed) return undefined;
    return (err as Error).message;
  }
}

const tree = await commandTree();

describe('the command tree', () => {
  it('is read whole: every group has commands, and the known ones are there', () => {
    const paths = allCommands(tree).map((n) => n.path.join(' '));
    expect(paths).toEqual(expect.arrayContaining(['image push', 'image uploader revoke', 'director images list', 'director campaign abort', 'keys generate']));
  });

  it('every command that runs something has at least one example', () => {
    expect(leafCommands(tree).filter((n) => n.examples.length === 0).map((n) => n.path.join(' '))).toEqual([]);
  });
});

describe('shellWords and invocations', () => {
  it('split an example as sh would, keeping only the uptane invocations', () => {
    expect(invocations(`UPTANE_UPLOAD_TOKEN=... $0 image push --role 'a b' | tee out.log`)).toEqual([['image', 'push', '--role', 'a b']]);
    expect(invocations('$0 image status --check || echo "not ready: $?"')).toEqual([['image', 'status', '--check']]);
    expect(invocations('$0 director url-signing-key --data-dir D > director-url.pub')).toEqual([['director', 'url-signing-key', '--data-dir', 'D']]);
    expect(invocations('$0 image uploader revoke $(printf %s "$T" | cut -c1-12)')).toEqual([['image', 'uploader', 'revoke', '$(printf %s "$T" | cut -c1-12)']]);
  });
});

describe('every --help example', () => {
  const examples = allCommands(tree).flatMap((node) => node.examples.map(([example]) => [node, example] as const));

  it('there are examples to check', () => {
    expect(examples.length).toBeGreaterThan(100);
  });

  it('parses as written: its command, options and choices exist, and nothing required is missing', async () => {
    const problems: string[] = [];
    // An example may run other commands too (init && pull, or the `vehicle run` that uses a
    // secondary), but each command has at least one example of itself.
    for (const node of allCommands(tree).filter((n) => n.examples.length > 0)) {
      const path = node.path.join(' ');
      const names = node.isDefault ? [path, node.path.slice(0, -1).join(' ')] : [path];
      const own = (args: readonly string[]) => names.some((name) => `${args.filter((a) => !a.startsWith('-')).join(' ')} `.startsWith(`${name} `));
      if (!node.examples.some(([example]) => invocations(example).some(own))) problems.push(`${path}: no example runs \`uptane ${path}\``);
    }
    for (const [node, example] of examples) {
      const path = node.path.join(' ');
      const calls = invocations(example);
      if (calls.length === 0) problems.push(`${path}: "${example}" does not run uptane`);
      for (const args of calls) {
        const problem = await parseProblem(args);
        if (problem !== undefined) problems.push(`${path}: "${example}": ${problem}`);
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('the check itself refuses an unknown option, a bad choice and a missing argument', async () => {
    expect(await parseProblem(['image', 'status', '--jsn'])).toMatch(/Unknown argument: jsn/);
    expect(await parseProblem(['image', 'serve', '--read-access', 'nobody'])).toMatch(/Invalid values/);
    expect(await parseProblem(['image', 'discard'])).toMatch(/Missing required argument: role/);
    expect(await parseProblem(['image', 'status'])).toBeUndefined();
  });
});

describe("the Director's examples", () => {
  // The Director signs targets online, so its workspace stages root alone: an example copied from the
  // Image repository's (`sign --role targets`) would parse and then fail (issue 20, finding 9).
  it('stage, sign, review and discard root, never targets', () => {
    const workspace = ['sign', 'diff', 'discard', 'sign-request', 'root'];
    const copied = allCommands(tree)
      .filter((n) => n.path[0] === 'director' && workspace.includes(n.path[1]!))
      .flatMap((n) => n.examples.map(([example]) => example))
      .filter((example) => /targets/.test(example));
    expect(copied).toEqual([]);
  });
});

describe('--json', () => {
  // A server runs until stopped and prints a log, not a result.
  const SERVERS = new Set(['image serve']);

  it('every Image repository command that prints a result takes --json', () => {
    const image = leafCommands(tree).filter((n) => n.path[0] === 'image' && !SERVERS.has(n.path.join(' ')));
    expect(image.length).toBeGreaterThan(30);
    expect(image.filter((n) => !n.options.has('json')).map((n) => n.path.join(' '))).toEqual([]);
  });
});
