// The catalogue guard (issue 20): every attack test in test/attacks/ is played from the catalogue
// (sim/attacks/catalogue.ts, so `uptane sim attack` plays it too, held to the same five checks), or
// is kept out of it on purpose, with its reason here (test/attacks/README.md "Kept out of the
// catalogue, and why" says the same). It reads the test files' syntax, so it needs no run of them.
//
// How an attack test is recognised: a test in test/attacks/*.test.ts, named after its threat-model
// id ("G16 ...", "UR §3.5 ...", "L12: ...", or in its describe's title). A group's file (the
// catalogue's `test`) must iterate the group with it.each, and every other test in it must be kept
// out here by its exact title. A file kept out whole names the ids it may hold: a test there with
// another id fails, and so does any file that is neither.
import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ATTACK_GROUPS, ATTACKS } from '../../sim/attacks/catalogue.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SELF = 'catalogue-guard.test.ts';

/** A whole file kept out of the catalogue: the threat ids its tests may carry, and why. */
interface KeptOutFile {
  readonly ids: readonly string[];
  readonly reason: string;
}

/** Files kept out whole. */
const KEPT_OUT_FILES: Readonly<Record<string, KeptOutFile>> = {
  'signed-urls.test.ts': {
    ids: ['L11', 'L12', 'L13'],
    reason: 'server access checks: a request the Image repository or Director refuses (401, 403, 429); no vehicle cycle, so nothing for the five checks to hold',
  },
  'mutual-tls.test.ts': {
    ids: ['L16'],
    reason: 'server access checks: the Director refuses a connection by its client certificate before any vehicle cycle',
  },
  'online-key-rotation.test.ts': {
    ids: ['B13', 'B14', 'B15', 'B16', 'B17', 'B18'],
    reason: 'server access and start-up checks of the online key rotation (which root a server takes, which key files it starts with, who may rotate, restarts); B13 is an honest vehicle across a key switch',
  },
  'eavesdropper.test.ts': {
    ids: ['L14'],
    reason: 'a passive attacker: nothing is refused; the check is what a recording of the traffic shows',
  },
  'limits.test.ts': {
    ids: ['UR §3.5', 'G12', 'E8', 'F6'],
    reason: 'what the design cannot stop: the attack succeeds (or costs a cycle), so the five checks would fail by design',
  },
  'delta.test.ts': {
    ids: ['F8', 'F9', 'F10'],
    reason:
      'the attacked cycle does not fail: the primary refuses the delta and installs the full image in the same cycle (F8, F9), which checks 1 and 3 cannot express; the scene also needs the delta pair the Director made',
  },
  'offline-bundles.test.ts': {
    ids: ['OB1', 'OB2', 'OB3', 'OB4', 'OB5', 'OB6'],
    reason:
      'no online cycle: the vehicle installs from a bundle folder with no network, a scene the catalogue does not stage; each holds the five checks through its own expectRefused',
  },
  'install-bundles.test.ts': {
    ids: ['M30', 'M31', 'M32'],
    reason:
      'M32 is a compromised primary calling a secondary directly, with no attack cycle; M30 and M31 fit the catalogue (a staged forgery, the five checks) and are not in it yet: they came with the install bundles, after the catalogue',
  },
  'malicious-gateway.test.ts': {
    ids: ['GW1', 'GW2', 'GW3', 'GW4', 'GW5'],
    reason:
      "each is a network attack of the catalogue played from a hostile gateway's seat, held to the same checks with that attack's expected code (read from the catalogue); the scene needs the real gateway behind its owner's front (test/support/), which the catalogue's scene does not start",
  },
};

/** Single tests kept out of a group's file, by exact title. */
const KEPT_OUT_TESTS: ReadonlyArray<{ readonly file: string; readonly title: string; readonly reason: string }> = [
  {
    file: 'network.test.ts',
    title: 'eavesdrop on a deployment without its defences: plain HTTP, a public Image repository, an image not encrypted; Director metadata still goes only to its vehicle',
    reason: 'a passive attacker: it shows what can be read, nothing is refused',
  },
  {
    file: 'compromised-ecu.test.ts',
    title: 'replay of its own old version report: the Director refuses the manifest (report counter reused), and records nothing from it',
    reason: "seen only by the Director: the vehicle's cycle does not fail and no ECU detects it (checks 1 and 4 are about the vehicle)",
  },
  {
    file: 'compromised-ecu.test.ts',
    title: '(limit) a secondary that reports a false installed image: the Director records what it says, and the vehicle believes it too',
    reason: 'what the design cannot stop: nothing refuses it',
  },
  {
    file: 'image-encryption.test.ts',
    title: 'G13 installs on the primary, a partial and a full secondary: each slot holds the exact plaintext, and the plaintext never crosses the network',
    reason: 'not an attack: the honest encrypted install',
  },
  {
    file: 'image-encryption.test.ts',
    title: 'F6 a ciphertext download cut by the network resumes from where it stopped, with a range request to the Director',
    reason: 'not an attack: a dropped connection, resumed in the same cycle',
  },
  {
    file: 'image-encryption.test.ts',
    title: 'HTTP secondary transport: the image stream is the ciphertext, capped at its encrypted length, decrypted by the secondary alone',
    reason: 'not an attack: what the HTTP bus carries',
  },
  {
    file: 'security-profiles.test.ts',
    title:
      'SP2 a full-verification secondary handed a high-minimum image by a compromised primary and Director refuses it itself (security_profile_too_low), stages nothing, and reports it',
    reason: "a compromised primary calling the secondary directly, with no attack cycle (the honest primary refuses the image first: SP1), as install-bundles.test.ts M32",
  },
];

/** A threat-model id (docs/threat-model.md, first column), wherever it stands in a title. */
const THREAT_ID = /(?<![A-Za-z0-9-])(UR §\d+\.\d+|HR-\d+[a-z]?|[A-Z]{1,2}\d+[a-z]?)(?![A-Za-z0-9])/g;

const threatIds = (title: string): string[] => [...new Set([...title.matchAll(THREAT_ID)].map((m) => m[1]!))];

/** One test as written in a file. */
interface TestCase {
  readonly title: string;
  /** Its own ids, or else those of the nearest describe that has some. */
  readonly ids: readonly string[];
  /** For it.each: the identifiers its table is built from. */
  readonly table?: readonly string[];
}

interface TestFile {
  readonly tests: readonly TestCase[];
  /** Local name to module specifier, for every named import. */
  readonly imports: ReadonlyMap<string, string>;
}

/** `it`, `test`, `describe`, with .each / .only / .skip / .concurrent, and what is called on it. */
function callee(expr: ts.Expression): { readonly base: string; readonly each?: ts.Expression } | undefined {
  if (ts.isIdentifier(expr)) return { base: expr.text };
  if (ts.isPropertyAccessExpression(expr)) return callee(expr.expression);
  if (ts.isCallExpression(expr)) {
    // it.each(table)('title', fn)
    const inner = expr.expression;
    if (ts.isPropertyAccessExpression(inner) && inner.name.text === 'each') {
      const base = callee(inner.expression);
      return base && { base: base.base, each: expr.arguments[0] };
    }
  }
  return undefined;
}

function titleOf(node: ts.Expression | undefined, source: ts.SourceFile): string | undefined {
  if (node === undefined) return undefined;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.getText(source).slice(1, -1);
  return undefined;
}

function identifiersIn(node: ts.Node): string[] {
  const found: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n)) found.push(n.text);
    ts.forEachChild(n, visit);
  };
  visit(node);
  return found;
}

/** The tests in one file's source, with the describe titles around each. */
function parseTests(fileName: string, text: string): TestFile {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const tests: TestCase[] = [];
  const imports = new Map<string, string>();
  const visit = (node: ts.Node, describeIds: readonly string[]): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const bindings = node.importClause?.namedBindings;
      if (bindings !== undefined && ts.isNamedImports(bindings)) for (const e of bindings.elements) imports.set(e.name.text, node.moduleSpecifier.text);
    }
    if (ts.isCallExpression(node)) {
      const called = callee(node.expression);
      const title = titleOf(node.arguments[0], source);
      if (called !== undefined && title !== undefined) {
        const own = threatIds(title);
        if (called.base === 'describe') {
          const ids = own.length > 0 ? own : describeIds;
          node.arguments.slice(1).forEach((a) => visit(a, ids));
          return;
        }
        if (called.base === 'it' || called.base === 'test') {
          tests.push({ title, ids: own.length > 0 ? own : describeIds, ...(called.each === undefined ? {} : { table: identifiersIn(called.each) }) });
          return;
        }
      }
    }
    ts.forEachChild(node, (child) => visit(child, describeIds));
  };
  visit(source, []);
  return { tests, imports };
}

/** Whether `test` plays the catalogue's `attacks`: an it.each over an export of sim/attacks that is that very array. */
async function iterates(file: TestFile, test: TestCase, attacks: readonly unknown[]): Promise<boolean> {
  for (const name of test.table ?? []) {
    const from = file.imports.get(name);
    if (from === undefined || !from.startsWith('../../sim/attacks/')) continue;
    const module = (await import(resolve(HERE, from.replace(/\.js$/, '.ts')))) as Record<string, unknown>;
    if (module[name] === attacks) return true;
  }
  return false;
}

/** What the guard finds wrong with test/attacks/, one sentence each; [] when every attack is catalogued or kept out. */
async function uncatalogued(dir: string, keptOutFiles = KEPT_OUT_FILES, keptOutTests = KEPT_OUT_TESTS): Promise<string[]> {
  const problems: string[] = [];
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts') && f !== SELF).sort();
  const used = new Set<string>();
  for (const name of files) {
    const parsed = parseTests(name, readFileSync(join(dir, name), 'utf8'));
    const group = ATTACK_GROUPS.find((g) => g.test === name);
    const keptOut = keptOutFiles[name];
    if (group !== undefined) {
      let played = false;
      for (const t of parsed.tests) {
        if (t.table !== undefined && (await iterates(parsed, t, group.attacks))) {
          played = true;
          continue;
        }
        const entry = keptOutTests.find((k) => k.file === name && k.title === t.title);
        if (entry === undefined) problems.push(`${name}: "${t.title}" is not in the catalogue (sim/attacks/, group ${group.name}) nor kept out in ${SELF}`);
        else used.add(`${name}\u0000${t.title}`);
      }
      if (!played) problems.push(`${name}: does not iterate the catalogue's ${group.name} group with it.each`);
    } else if (keptOut !== undefined) {
      const seen = new Set<string>();
      for (const t of parsed.tests) {
        t.ids.forEach((id) => seen.add(id));
        const other = t.ids.filter((id) => !keptOut.ids.includes(id));
        if (other.length > 0) problems.push(`${name}: "${t.title}" is an attack (${other.join(', ')}) that is not in the catalogue, and ${SELF} keeps only ${keptOut.ids.join(', ')} of this file out`);
      }
      const stale = keptOut.ids.filter((id) => !seen.has(id));
      if (stale.length > 0) problems.push(`${name}: ${SELF} keeps ${stale.join(', ')} out, but no test here carries ${stale.length === 1 ? 'it' : 'them'}`);
    } else {
      problems.push(`${name}: a new attack file: iterate a group of the catalogue (sim/attacks/catalogue.ts) or keep it out, with its reason, in ${SELF}`);
    }
  }
  for (const k of keptOutTests) if (files.includes(k.file) && !used.has(`${k.file}\u0000${k.title}`)) problems.push(`${k.file}: ${SELF} keeps out "${k.title}", which is no test there`);
  for (const g of ATTACK_GROUPS) if (!files.includes(g.test)) problems.push(`${g.test}: the catalogue's ${g.name} group names it, but there is no such file`);
  return problems;
}

describe('every attack in test/attacks/ is in the catalogue, or kept out with its reason', () => {
  it('no test file holds an attack the catalogue does not play, and every exclusion still names a test', async () => {
    expect(await uncatalogued(HERE)).toEqual([]);
  });

  it('every catalogued attack is named after its threat-model id (but drop-request and mixed bundles, which have none), read as the threat model writes ids', () => {
    // The ids are how the guard tells an attack from another test in a file kept out whole.
    const unnamed = ATTACKS.filter((a) => threatIds(a.title).length === 0 && !/^(drop-request|mixed bundles)/.test(a.title)).map((a) => a.name);
    expect(unnamed).toEqual([]);
    expect(threatIds('UR §3.5 / G12 both repositories compromised')).toEqual(['UR §3.5', 'G12']);
    expect(threatIds('L12: after the burst (docs/threat-model.md HR-10), E7/G1, D4a')).toEqual(['L12', 'HR-10', 'E7', 'G1', 'D4a']);
    expect(threatIds('SHA256 over TLS 1.3 to tcu-1, root v2, ECU A')).toEqual([]);
  });

  it('fails on an attack test added outside the catalogue: in a group file, with a new id in a file kept out, in a new file; and on a stale exclusion', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'uptane-catalogue-guard-'));
    try {
      for (const name of readdirSync(HERE)) if (name.endsWith('.test.ts')) copyFileSync(join(HERE, name), join(copy, name));
      expect(await uncatalogued(copy)).toEqual([]);
      appendFileSync(join(copy, 'network.test.ts'), "\nit('G1 an image modified some new way', async () => {});\n");
      appendFileSync(join(copy, 'limits.test.ts'), "\ndescribe('G18 a new threat', () => { it('is refused', async () => {}); });\n");
      writeFileSync(join(copy, 'gateway.test.ts'), "it('F2 an endless answer through the gateway', async () => {});\n");
      const ecu = join(copy, 'compromised-ecu.test.ts');
      writeFileSync(ecu, readFileSync(ecu, 'utf8').replace('(limit) a secondary', 'a secondary'));
      expect(await uncatalogued(copy)).toEqual([
        expect.stringMatching(/^compromised-ecu\.test\.ts: "a secondary that reports a false installed image.*" is not in the catalogue/),
        'gateway.test.ts: a new attack file: iterate a group of the catalogue (sim/attacks/catalogue.ts) or keep it out, with its reason, in catalogue-guard.test.ts',
        'limits.test.ts: "is refused" is an attack (G18) that is not in the catalogue, and catalogue-guard.test.ts keeps only UR §3.5, G12, E8, F6 of this file out',
        'network.test.ts: "G1 an image modified some new way" is not in the catalogue (sim/attacks/, group network) nor kept out in catalogue-guard.test.ts',
        expect.stringMatching(/^compromised-ecu\.test\.ts: catalogue-guard\.test\.ts keeps out "\(limit\) a secondary.*", which is no test there$/),
      ]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('reads titles through describe blocks, it.each tables and template literals', () => {
    const parsed = parseTests('x.test.ts', "describe('G18 a new threat', () => { describe('inner', () => { it('an untitled case', () => {}); it.each([[1]])(`F6 ${'%s'}`, () => {}); }); it.each(NETWORK_ATTACKS.map((a) => [a.title, a]))('%s', async () => {}); });");
    expect(parsed.tests.map((t) => [t.title, t.ids, t.table?.[0]])).toEqual([
      ['an untitled case', ['G18'], undefined],
      ["F6 ${'%s'}", ['F6'], undefined],
      ['%s', ['G18'], 'NETWORK_ATTACKS'],
    ]);
  });
});
