// Every citation in the repository resolves inside it (docs/code-style.md R19): a citation of a
// document under docs/ names a file that exists and an id or heading that file defines; a test or
// comment that opens with a threat id (`it('C7: ...')`, `(C11)`) names a row of
// docs/threat-model.md; a Standard anchor (`#check_root`) is one docs/uptane-conformance.md covers;
// a relative link in a markdown file reaches a file of the repository; nothing points at documents
// kept outside it. The threat model's test column must name test files that exist, and the quoted
// test names must appear in them. The last tests feed the checker planted mistakes, so a pattern
// that stopped matching fails here instead of passing silently.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SELF = relative(ROOT, fileURLToPath(import.meta.url));
const SCANNED = /\.(ts|js|cjs|mjs|md)$/;

/** Tracked files and new ones not ignored, as they are in the working tree. */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return [...new Set(out.split('\0'))].filter((f) => f !== '' && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
}

// Documents outside the repository that citations used to point at, and the old citation forms.
const OUTSIDE = [
  /\bDESIGN\.md\b/,
  /\bSTYLE\.md\b/,
  /uptane-requirements/,
  /test[- ]catalogue/i,
  /shared\/reference/,
  /\bhandbook\b/i,
  /\bcatalogue (?:group|section|[A-N]\d)/i,
  /\bBP (?:\d|`|ecus|exceptional)/,
  /\bgoal \d+/,
];

// One threat id, one conformance section, one style rule, one decision.
const THREAT_ID = String.raw`(?:UR §3\.\d|HR-\d+[a-z]?|[A-N]\d{1,2}[a-z]?)`;
const ID_SYNTAX: Record<string, string> = {
  // After the file name anything shaped like an id must be one, so "Z9" is caught, not skipped.
  'threat-model.md': String.raw`(?:UR §3\.\d|[A-Z]{1,2}-?\d{1,2}[a-z]?)`,
  'uptane-conformance.md': String.raw`\d+(?:\.\d+)*`,
  'code-style.md': String.raw`R\d+`,
  'decisions.md': String.raw`[A-Z][A-Za-z]+`,
};
const LIST_SEPARATOR = String.raw`\s*(?:,|-|–|/|\band\b|\bor\b)\s*`;
const THREAT_LIST = new RegExp(String.raw`^${THREAT_ID}(?:${LIST_SEPARATOR}${THREAT_ID})*$`);

interface Doc {
  readonly ids: Set<string>;
  readonly headings: Set<string>;
  readonly slugs: Set<string>;
  readonly anchors: Set<string>;
  readonly text: string;
}

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function parseDoc(text: string): Doc {
  const doc: Doc = { ids: new Set(), headings: new Set(), slugs: new Set(), anchors: new Set(), text };
  for (const line of text.split('\n')) {
    const heading = /^#{1,6}\s+(.+?)\s*$/.exec(line);
    if (heading !== null) {
      const title = heading[1]!;
      doc.headings.add(title.toLowerCase());
      doc.slugs.add(slug(title));
      const first = /^(\d+(?:\.\d+)*|[A-Z][A-Za-z]+)\b/.exec(title);
      if (first !== null) doc.ids.add(first[1]!);
      for (const anchor of title.matchAll(/#([a-z]+(?:_[a-z]+)*)/g)) doc.anchors.add(anchor[1]!);
      continue;
    }
    const row = /^\|\s*([^|]+?)\s*\|/.exec(line);
    if (row !== null) doc.ids.add(row[1]!.replace(/[`*]/g, ''));
    const rule = /^\*\*(R\d+)\./.exec(line);
    if (rule !== null) doc.ids.add(rule[1]!);
  }
  return doc;
}

const docCache = new Map<string, Doc | null>();
function loadDoc(root: string, name: string): Doc | null {
  const key = `${root}\0${name}`;
  if (!docCache.has(key)) {
    const path = join(root, 'docs', name);
    docCache.set(key, existsSync(path) ? parseDoc(readFileSync(path, 'utf8')) : null);
  }
  return docCache.get(key)!;
}

/** Problems with the citations of one file's text, as "file:line: problem". */
function checkText(root: string, file: string, text: string): string[] {
  const problems: string[] = [];
  const isTest = file.endsWith('.test.ts');
  const isTs = /\.(ts|js|cjs|mjs)$/.test(file);
  const threats = (): Doc | null => loadDoc(root, 'threat-model.md');
  const checkThreatIds = (where: string, list: string): void => {
    const doc = threats();
    for (const id of list.match(new RegExp(THREAT_ID, 'g')) ?? []) {
      if (doc === null || !doc.ids.has(id)) problems.push(`${where}: ${id} is not a row of docs/threat-model.md`);
    }
  };
  text.split('\n').forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    for (const pattern of OUTSIDE) {
      const found = pattern.exec(line);
      if (found !== null) problems.push(`${where}: "${found[0]}" refers to a document outside the repository; cite docs/ instead`);
    }

    // docs/<file>.md, then an id, a list of ids, a "Heading", or a markdown #anchor.
    for (const cite of line.matchAll(/docs\/([A-Za-z0-9_-]+\.md)(#[\w-]+)?/g)) {
      const name = cite[1]!;
      const doc = loadDoc(root, name);
      if (doc === null) {
        problems.push(`${where}: docs/${name} does not exist`);
        continue;
      }
      if (cite[2] !== undefined) {
        if (!doc.slugs.has(cite[2].slice(1))) problems.push(`${where}: docs/${name} has no heading for ${cite[2]}`);
        continue;
      }
      // A file name in backticks may be followed by its id outside them: `docs/threat-model.md` C7.
      const rest = line.slice(cite.index! + cite[0].length).replace(/^`/, '');
      const quoted = /^,?\s+"([^"]+)"/.exec(rest);
      if (quoted !== null) {
        if (!doc.headings.has(quoted[1]!.toLowerCase())) problems.push(`${where}: docs/${name} has no heading "${quoted[1]}"`);
        continue;
      }
      const syntax = ID_SYNTAX[name];
      if (syntax === undefined) continue;
      const list = new RegExp(String.raw`^,?\s+(${syntax}(?:${LIST_SEPARATOR}${syntax})*)(?![\w§])`).exec(rest);
      if (list === null) continue;
      for (const id of list[1]!.match(new RegExp(syntax, 'g')) ?? []) {
        if (!doc.ids.has(id)) problems.push(`${where}: docs/${name} defines no ${id}`);
      }
    }

    // The Standard's anchors (#check_root, #full_verification ...).
    for (const anchor of line.matchAll(/(?<![\w/.])#([a-z]+(?:_[a-z]+)+)\b/g)) {
      const conformance = loadDoc(root, 'uptane-conformance.md');
      if (conformance === null || !conformance.anchors.has(anchor[1]!)) problems.push(`${where}: #${anchor[1]} is not covered by docs/uptane-conformance.md`);
    }

    if (isTs) {
      // A parenthesized list of threat ids, "(C11)", "(A1, A2, B2)", "(E1-E5)".
      for (const group of line.matchAll(/\(\s*([^()]+?)\s*\)/g)) {
        if (THREAT_LIST.test(group[1]!)) checkThreatIds(where, group[1]!);
      }
      // A comment that opens with ids: "// I1-I6: traversal ...".
      const opening = new RegExp(String.raw`^\s*(?://|\*)\s*(${THREAT_ID}(?:${LIST_SEPARATOR}${THREAT_ID})*):`).exec(line);
      if (opening !== null) checkThreatIds(where, opening[1]!);
    }
    if (isTest) {
      // A test named after its ids: it('E7/G1 arbitrary software ...'), it.each(...)('H6 ...').
      for (const title of line.matchAll(new RegExp(String.raw`\(\s*['"\`](${THREAT_ID}(?:\s*(?:/|,)\s*${THREAT_ID})*)(?=[:\s(])`, 'g'))) {
        checkThreatIds(where, title[1]!);
      }
      for (const row of line.matchAll(/\bid: '([^']+)'/g)) checkThreatIds(where, row[1]!);
    }

    if (file.endsWith('.md')) {
      for (const link of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = link[1]!;
        if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const absolute = resolve(root, dirname(file), path);
        if (relative(root, absolute).startsWith('..')) {
          problems.push(`${where}: link ${target} leaves the repository`);
        } else if (!existsSync(absolute)) {
          problems.push(`${where}: link ${target} names no file of the repository`);
        } else if (anchor !== undefined && path.endsWith('.md') && !parseDoc(readFileSync(absolute, 'utf8')).slugs.has(anchor)) {
          problems.push(`${where}: link ${target}: no such heading`);
        }
      }
    }
  });
  return problems;
}

/** The threat model's test column: test files that exist, with the quoted test names in them. */
function checkThreatModelTests(root: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  const path = join(root, 'docs', 'threat-model.md');
  if (!existsSync(path)) return ['docs/threat-model.md does not exist'];
  let testColumn: number | undefined;
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      const where = `docs/threat-model.md:${index + 1}`;
      if (!line.startsWith('|')) {
        testColumn = undefined;
        return;
      }
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      if (testColumn === undefined) {
        const header = cells.indexOf('test');
        testColumn = header === -1 ? -1 : header;
        return;
      }
      if (testColumn < 0 || /^-+$/.test(cells[0] ?? '')) return;
      const cell = cells[testColumn] ?? '';
      const named: string[] = [];
      for (const token of cell.matchAll(/`([^`]+)`|"([^"]+)"/g)) {
        if (token[1] !== undefined) {
          if (!/\.(ts|js)$|\/$/.test(token[1])) continue;
          const found = token[1].includes('/') ? [token[1]] : files.filter((f) => basename(f) === token[1]);
          if (found.length !== 1 || !existsSync(join(root, found[0]!))) {
            problems.push(`${where}: test ${token[1]} ${found.length > 1 ? 'is ambiguous' : 'does not exist'}`);
            continue;
          }
          named.push(found[0]!);
        } else {
          const pieces = token[2]!.split('...').map((p) => p.trim()).filter((p) => p !== '');
          const holds = (file: string): boolean => {
            if (!file.endsWith('.ts')) return false;
            const text = readFileSync(join(root, file), 'utf8');
            return pieces.every((p) => text.includes(p));
          };
          if (named.length === 0 || !named.some(holds)) problems.push(`${where}: no test "${token[2]}" in ${named.join(', ') || '(no file named before it)'}`);
        }
      }
    });
  return problems;
}

/**
 * Repository paths a document names in backticks (`shared/core/errors.ts`, `director-repo/store/`)
 * that do not exist: files move, and a map of the house that points at the old rooms misleads.
 * Only paths under the project's own top-level folders are checked, so example paths in prose
 * (`keys/root.pem`, a user's data folder) are left alone.
 */
const PROJECT_FOLDERS = ['shared', 'image-repo', 'director-repo', 'primary-ecu', 'secondary-ecu', 'vehicle', 'gateway', 'sim', 'test', 'bench', 'docs'];
function checkNamedPaths(root: string, file: string, text: string): string[] {
  const pattern = new RegExp(String.raw`\`((?:${PROJECT_FOLDERS.join('|')})/[\w./-]*)\``, 'g');
  const problems: string[] = [];
  text.split('\n').forEach((line, index) => {
    for (const match of line.matchAll(pattern)) {
      const path = match[1]!.replace(/[.:]$/, '');
      if (/[<>*]/.test(path)) continue;
      if (!existsSync(join(root, path))) problems.push(`${file}:${index + 1}: names ${path}, which does not exist`);
    }
  });
  return problems;
}

describe('citations resolve inside the repository', () => {
  const files = repositoryFiles().filter((f) => SCANNED.test(f) && f !== SELF);

  it('every citation in code, tests and markdown names a document and an id that exist', () => {
    const problems = files.flatMap((f) => checkText(ROOT, f, readFileSync(join(ROOT, f), 'utf8')));
    expect(problems).toEqual([]);
  });

  it('every repository path the documents name exists', () => {
    const documents = files.filter((f) => f.endsWith('.md'));
    expect(documents.flatMap((f) => checkNamedPaths(ROOT, f, readFileSync(join(ROOT, f), 'utf8')))).toEqual([]);
    expect(checkNamedPaths(ROOT, 'docs/x.md', 'see `shared/no-such.ts` and `shared/core/errors.ts`')).toEqual([
      'docs/x.md:1: names shared/no-such.ts, which does not exist',
    ]);
  });

  it("every test the threat model names exists, with the quoted test name in it", () => {
    expect(checkThreatModelTests(ROOT, repositoryFiles())).toEqual([]);
  });

  it('catches planted mistakes of each kind', () => {
    const planted = [
      '// the old way (STYLE.md 3), and DESIGN.md "Servers"',
      '// see test-catalogue.md L4 and ../shared/reference/uptane-requirements.md 5.3',
      '// docs/no-such-file.md 1',
      '// docs/threat-model.md Z9 and docs/threat-model.md C7, C99',
      '// docs/uptane-conformance.md 99.1; #check_nothing step 2',
      '// docs/code-style.md R99; docs/decisions.md Nonsense; docs/decisions.md "No such heading"',
      '/** refused at once (M77). */',
      "it('K9: a test named after no row', () => {});",
    ].join('\n');
    const problems = checkText(ROOT, 'test/planted.test.ts', planted);
    const missed = [
      /:1: "STYLE\.md"/,
      /:1: "DESIGN\.md"/,
      /:2: "test-catalogue"/,
      /:2: "shared\/reference"/,
      /:3: docs\/no-such-file\.md does not exist/,
      /:4: docs\/threat-model\.md defines no Z9/,
      /:4: docs\/threat-model\.md defines no C99/,
      /:5: docs\/uptane-conformance\.md defines no 99\.1/,
      /:5: #check_nothing is not covered/,
      /:6: docs\/code-style\.md defines no R99/,
      /:6: docs\/decisions\.md defines no Nonsense/,
      /:6: docs\/decisions\.md has no heading "No such heading"/,
      /:7: M77 is not a row/,
      /:8: K9 is not a row/,
    ].filter((expected) => !problems.some((p) => expected.test(p)));
    expect(missed).toEqual([]);
    expect(problems.some((p) => /docs\/threat-model\.md defines no C7/.test(p))).toBe(false);
    expect(checkText(ROOT, 'README.md', 'see [the design](../shared/DESIGN.md) and [x](docs/missing.md)').filter((p) => /link/.test(p))).toHaveLength(2);
  });

  it('catches a threat model naming a test file or a test name that does not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'citations-'));
    try {
      mkdirSync(join(dir, 'docs'));
      mkdirSync(join(dir, 'test'));
      writeFileSync(join(dir, 'test', 'real.test.ts'), "it('A1: unsigned metadata is refused', () => {});\n");
      writeFileSync(
        join(dir, 'docs', 'threat-model.md'),
        [
          '| id | attack | what | test |',
          '|---|---|---|---|',
          '| A1 | unsigned | refused | `test/real.test.ts` "A1: unsigned" |',
          '| A2 | short | refused | `test/gone.test.ts` "A2: " |',
          '| A3 | never met | refused | `test/real.test.ts` "A3: renamed away" |',
        ].join('\n'),
      );
      const problems = checkThreatModelTests(dir, ['test/real.test.ts']);
      expect(problems).toEqual([
        'docs/threat-model.md:4: test test/gone.test.ts does not exist',
        'docs/threat-model.md:4: no test "A2: " in (no file named before it)',
        'docs/threat-model.md:5: no test "A3: renamed away" in test/real.test.ts',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
