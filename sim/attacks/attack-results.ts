// The results of `uptane sim attack` runs in the two forms CI systems read, as `uptane sim run`
// writes a fleet's (sim/control/results.ts): NDJSON (one JSON object a line, each attack then the
// summary) and JUnit XML (a test suite per group of the catalogue, a test case per attack, a <failure>
// naming each check that did not pass), so an attack that gets through fails a CI job.
import { xml } from '../control/results.js';
import type { CheckResult } from './checks.js';
import type { AttackScenario } from './scenario.js';

/** One attack played: its checks, or the error that stopped the scene before they could run. */
export interface AttackRun {
  readonly attack: AttackScenario;
  readonly group: string;
  readonly checks: readonly CheckResult[];
  /** The scene failed before the checks could judge (a server refusing the honest operator, say). */
  readonly error?: string;
  readonly ms: number;
}

export const runPassed = (run: AttackRun): boolean => run.error === undefined && run.checks.every((c) => c.ok);

/** What --json and NDJSON print of one run. */
export function runJson(run: AttackRun): Record<string, unknown> {
  const a = run.attack;
  return {
    name: a.name,
    group: run.group,
    title: a.title,
    position: a.position,
    expected: a.expected,
    verdict: a.verdict ?? 'attack',
    passed: runPassed(run),
    ms: run.ms,
    checks: run.checks,
    ...(run.error === undefined ? {} : { error: run.error }),
  };
}

export function runsSummary(runs: readonly AttackRun[]): { attacks: number; passed: number; failed: string[]; seconds: number } {
  return {
    attacks: runs.length,
    passed: runs.filter(runPassed).length,
    failed: runs.filter((r) => !runPassed(r)).map((r) => r.attack.name),
    seconds: Number((runs.reduce((t, r) => t + r.ms, 0) / 1000).toFixed(3)),
  };
}

/** `{"type":"attack",...}` for each run in order, then `{"type":"summary",...}`; each line ends in \n. */
export function attacksNdjson(runs: readonly AttackRun[]): string {
  const lines = runs.map((run) => JSON.stringify({ type: 'attack', ...runJson(run) }));
  lines.push(JSON.stringify({ type: 'summary', ...runsSummary(runs) }));
  return `${lines.join('\n')}\n`;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function testCase(run: AttackRun): string {
  const open = `    <testcase classname="uptane.attacks.${xml(run.group)}" name="${xml(run.attack.name)}" time="${seconds(run.ms)}">`;
  const out = `      <system-out>${xml([run.attack.title, ...run.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.check}: ${c.detail}`)].join('\n'))}</system-out>`;
  if (runPassed(run)) return `${open}\n${out}\n    </testcase>`;
  if (run.error !== undefined) return `${open}\n      <error type="scene" message="${xml(run.error.slice(0, 500))}">${xml(run.error)}</error>\n${out}\n    </testcase>`;
  const failed = run.checks.filter((c) => !c.ok);
  const message = failed.map((c) => `${c.check}: ${c.detail}`).join('; ');
  return `${open}\n      <failure type="${xml(failed.map((c) => c.check).join(','))}" message="${xml(message.slice(0, 500))}">${xml(message)}</failure>\n${out}\n    </testcase>`;
}

/** JUnit XML (the schema Jenkins, GitLab and GitHub's test reporters read): a suite per group. */
export function attacksJunit(runs: readonly AttackRun[], name = 'uptane sim attack'): string {
  const groups = new Map<string, AttackRun[]>();
  for (const run of runs) groups.set(run.group, [...(groups.get(run.group) ?? []), run]);
  const count = (rs: readonly AttackRun[], kind: 'failures' | 'errors') => rs.filter((r) => !runPassed(r) && (kind === 'errors') === (r.error !== undefined)).length;
  const time = (rs: readonly AttackRun[]) => seconds(rs.reduce((t, r) => t + r.ms, 0));
  const suites = [...groups].map(([group, rs]) =>
    [
      `  <testsuite name="${xml(group)}" tests="${rs.length}" failures="${count(rs, 'failures')}" errors="${count(rs, 'errors')}" skipped="0" time="${time(rs)}">`,
      ...rs.map(testCase),
      '  </testsuite>',
    ].join('\n'),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(name)}" tests="${runs.length}" failures="${count(runs, 'failures')}" errors="${count(runs, 'errors')}" time="${time(runs)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
