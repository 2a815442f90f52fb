// What must hold for every generated request (issue 14): an answer below 500, the server still
// alive, no stack trace or server path in what it sent back, nothing on its stderr, no credential
// but the route's own accepted, and a refused request changed nothing on either server (except the
// records the design keeps of refusals, ALLOWED_RECORDS below).
import { tmpdir } from 'node:os';
import { REPO_ROOT } from '../support/cli-runner.js';
import { VIN_A } from './fuzz-servers.js';
import type { RouteGenerator } from './generators.js';
import type { FuzzRequest, Materialized, RawResponse, ServerName } from './requests.js';
import { describeDiff, diffState, type RowChange, type StateSnapshot } from './state-snapshot.js';

/** A stack frame ("    at fn (/path/file.js:10:5)", "at node:internal/...") or a thrown error's name line. */
const STACK_FRAME = /\bat (?:[^\s()]+ )?\(?(?:file:\/\/|node:|\/)[^\s()]*:\d+:\d+\)?/;
const ERROR_NAME = /\b(?:[A-Z][A-Za-z]*Error|Error)(?: \[[A-Z_]+\])?: /;

/**
 * Strings a response must not contain unless the request itself did (404 messages echo the path).
 * Not the home folder: as root it is "/root", which every answer about PUT /api/v1/metadata/root holds.
 */
export function forbiddenStrings(dataDir: string): string[] {
  return [...new Set([dataDir, REPO_ROOT, '/work/', '/tmp/', `${tmpdir()}/`, 'node_modules', '/home/', 'file://'])];
}

export function leaks(responseText: string, requestText: string, forbidden: readonly string[]): string[] {
  const found: string[] = [];
  const frame = STACK_FRAME.exec(responseText);
  if (frame !== null && !requestText.includes(frame[0])) found.push(`a stack frame in the answer: ${JSON.stringify(frame[0])}`);
  const name = ERROR_NAME.exec(responseText);
  if (name !== null && !requestText.includes(name[0])) found.push(`an error name in the answer: ${JSON.stringify(name[0])}`);
  for (const needle of forbidden) {
    if (responseText.includes(needle) && !requestText.includes(needle)) found.push(`a server path in the answer: ${JSON.stringify(needle)}`);
  }
  return found;
}

/** Text from outside, each line behind "| " (Jest cuts a message at its first line that looks like a stack frame). */
export function quote(text: string): string {
  return text.split('\n').map((line) => `  | ${line}`).join('\n');
}

/** The credentials that rightly open a route (anything else must not get a 2xx from it). */
function acceptedCredentials(route: string, generator: RouteGenerator | undefined): readonly string[] | undefined {
  if (generator === undefined || generator.auth === 'none') return undefined;
  if (route === 'GET /vehicle/metadata/:file' || route === 'POST /vehicle/manifest') return ['session', 'signed'];
  return [generator.auth];
}

/**
 * Records the design keeps of refused requests, allowed to appear (as new rows only) after one:
 * - director audit_log: a refused operator write is recorded with who tried and why (issue 4), but
 *   only for a valid operator token (anyone could fill the log otherwise);
 * - director manifests: a refused manifest from an authenticated vehicle is recorded for the
 *   operator (vehicle status shows it), with accepted = 0 and that vehicle's VIN.
 * Rows removed or changed are never allowed: that is history erased by a refused request (HR-4).
 */
function allowedRecord(change: RowChange, req: FuzzRequest): boolean {
  if (change.kind !== 'added' || req.server !== 'director') return false;
  const row = JSON.parse(change.after!) as Record<string, unknown>;
  if (change.table === 'audit_log') return req.auth === 'operator' && row.action === 'refused' && row.actor === 'fuzz-operator';
  if (change.table === 'manifests') return (req.auth === 'session' || req.auth === 'signed') && row.accepted === 0 && row.vin === VIN_A;
  return false;
}

export interface Observation {
  readonly req: FuzzRequest;
  readonly generator: RouteGenerator | undefined;
  readonly sent: Materialized;
  readonly res: RawResponse;
  /** undefined, or why the server no longer answers. */
  readonly down: string | undefined;
  readonly stderr: Record<ServerName, string>;
  readonly before: Record<ServerName, StateSnapshot>;
  readonly after: Record<ServerName, StateSnapshot> | undefined;
  readonly forbidden: readonly string[];
}

/** Every property the observation breaks, each as one line (empty: the request passed). */
export function problemsOf(o: Observation): string[] {
  const problems: string[] = [];
  const { req, res, sent } = o;
  if (res.timedOut) problems.push('no answer within the bound (a hang)');
  else if (res.status === undefined && !sent.truncated) problems.push(`connection closed without an answer${res.error === undefined ? '' : ` (${res.error})`}`);
  if (res.status !== undefined && res.status >= 500) problems.push(`status ${res.status}`);
  if (o.down !== undefined) problems.push(o.down);
  const requestText = `${sent.head}${sent.body.toString('latin1')}`;
  problems.push(...leaks(res.text, requestText, o.forbidden));
  for (const [server, text] of Object.entries(o.stderr)) if (text.trim() !== '') problems.push(`the ${server} server wrote to stderr:\n${quote(text.trim().slice(0, 1500))}`);
  const accepted = acceptedCredentials(req.route, o.generator);
  if (res.status !== undefined && res.status < 300 && accepted !== undefined && req.method === o.generator?.method && !accepted.includes(req.auth)) {
    problems.push(`answered ${res.status} to credential "${req.auth}" (only ${accepted.join(' or ')} should open ${req.route})`);
  }
  if (o.after !== undefined) {
    for (const server of ['image', 'director'] as const) {
      const diff = diffState(o.before[server], o.after[server]);
      const rows = diff.rows.filter((change) => !allowedRecord(change, req));
      if (rows.length > 0 || diff.files.length > 0) problems.push(`refused, yet the ${server} server's state changed:\n${describeDiff({ rows, files: diff.files })}`);
    }
  }
  return problems;
}
