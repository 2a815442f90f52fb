// A simulated fleet's results in the two forms CI systems read: NDJSON (one JSON object a line, every
// cycle then the summary) and JUnit XML (a test suite per round, a test case per vehicle cycle, a
// <failure> for each failed cycle carrying its error code), so a failing cycle fails a CI job.
import type { CycleRecord } from '../fleet.js';
import type { FleetResults } from './simulated-fleet.js';

/** `{"type":"cycle",...}` for each cycle in order, then `{"type":"summary",...}`; each line ends in \n. */
export function resultsNdjson(results: FleetResults): string {
  const lines = results.cycles.map((cycle) => JSON.stringify({ type: 'cycle', ...cycle }));
  lines.push(JSON.stringify({ type: 'summary', ...results.summary }));
  return `${lines.join('\n')}\n`;
}

/** Characters XML 1.0 cannot carry at all (a server's message might hold them), shown as \uXXXX instead. */
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udfff]/g;

/** `text` as XML character data or an attribute value (sim/attacks/attack-results.ts writes its JUnit with it too). */
export function xml(text: string): string {
  return text
    .replace(NOT_XML, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function testCase(cycle: CycleRecord): string {
  const open = `    <testcase classname="uptane.sim.${xml(cycle.profile)}" name="${xml(`${cycle.vin} round ${cycle.round}`)}" time="${seconds(cycle.ms)}">`;
  const outcomes = Object.entries(cycle.outcomes).map(([serial, o]) => `${serial}: ${o.status} ${o.filename}${o.code === undefined ? '' : ` (${o.code})`}`);
  const out = `      <system-out>${xml([`status ${cycle.status} at ${cycle.at}`, ...outcomes].join('\n'))}</system-out>`;
  if (cycle.status !== 'failed') return `${open}\n${out}\n    </testcase>`;
  const code = cycle.error?.code ?? Object.values(cycle.outcomes).find((o) => o.code !== undefined)?.code ?? 'install_failed';
  const message = cycle.error?.message ?? outcomes.join('; ');
  return `${open}\n      <failure type="${xml(code)}" message="${xml(message.slice(0, 500))}">${xml(message)}</failure>\n${out}\n    </testcase>`;
}

/** JUnit XML (the schema Jenkins, GitLab and GitHub's test reporters read). */
export function resultsJunit(results: FleetResults, name = 'uptane sim'): string {
  const rounds = new Map<number, CycleRecord[]>();
  for (const cycle of results.cycles) rounds.set(cycle.round, [...(rounds.get(cycle.round) ?? []), cycle]);
  const failures = (cycles: readonly CycleRecord[]) => cycles.filter((c) => c.status === 'failed').length;
  const time = (cycles: readonly CycleRecord[]) => seconds(cycles.reduce((t, c) => t + c.ms, 0));
  const suites = [...rounds].map(([round, cycles]) =>
    [
      `  <testsuite name="round ${round}" tests="${cycles.length}" failures="${failures(cycles)}" errors="0" skipped="0" time="${time(cycles)}" timestamp="${xml(cycles[0]!.at.replace(/\.\d+Z$/, ''))}">`,
      ...cycles.map(testCase),
      '  </testsuite>',
    ].join('\n'),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(name)}" tests="${results.cycles.length}" failures="${failures(results.cycles)}" errors="0" time="${time(results.cycles)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
