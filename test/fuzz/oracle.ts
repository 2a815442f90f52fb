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
  if (route === 'GET /vehicle/metadata/:file' || route === 'GET /vehicle/images/:file' || route === 'POST /vehicle/manifest' || route === 'POST /vehicle/image-urls') return ['session', 'signed'];
  return [generator.auth];
}

/**
 * Records the design keeps of refused requests, allowed to appear (as new rows only) after one:
 * - director audit_log: a refused operator write is recorded with who tried and why (issue 4), but
 *   only for a valid operator token (anyone could fill the log otherwise);
 * - director refused_manifests (before HR-4's fix: manifests with accepted = 0): a refused manifest
 *   from an authenticated vehicle is recorded for the operator with that vehicle's VIN; the table
 *   keeps the newest refusals per vehicle, so the oldest refusal record may go.
 * - director signed_request_marks: the newest time of a verified Uptane-Ed25519 request per key
 *   (HR-9a), moved by any request whose signature verified, refused or not.
 * Other rows removed or changed are never allowed: that is history erased by a refused request (HR-4).
 */
function allowedRecord(change: RowChange, req: FuzzRequest): boolean {
  if (req.server !== 'director') return false;
  const vehicle = req.auth === 'session' || req.auth === 'signed';
  // refused_manifests keeps the newest refusals per vehicle (HR-4): the oldest one goes when it is full.
  if (change.kind === 'removed') return change.table === 'refused_manifests' && vehicle && (JSON.parse(change.before!) as Record<string, unknown>).vin === VIN_A;
  // The newest time of a verified signed request per primary key, kept so a restart cannot reopen
  // the replay window (HR-9a): it moves once the signature verified, whatever the body's verdict.
  if (change.table === 'signed_request_marks') return req.auth === 'signed';
  if (change.kind !== 'added') return false;
  const row = JSON.parse(change.after!) as Record<string, unknown>;
  if (change.table === 'audit_log') return req.auth === 'operator' && row.action === 'refused' && row.actor === 'fuzz-operator';
  if (change.table === 'manifests') return vehicle && row.accepted === 0 && row.vin === VIN_A;
  if (change.table === 'refused_manifests') return vehicle && row.vin === VIN_A;
  return false;
}

/** Canonical decimal (no sign, leading zero, exponent or hex), as the operator API reads numbers. */
const CANONICAL = /^(?:0|[1-9][0-9]{0,14})$/;

/**
 * Numbers in paths and queries are read strictly: an answered request whose assignment id or page
 * limit is not canonical decimal was read loosely (Number('0x1') is 1: HR-9d; limit=-1 is SQLite's
 * "no limit" and 1.5 a type error: HR-9c).
 */
function looseNumbers(req: FuzzRequest): string[] {
  const [pathPart = '', queryPart] = req.path.split('#')[0]!.split('?');
  const found: string[] = [];
  if (req.route === 'DELETE /api/v1/assignments/:id' && req.method === 'DELETE') {
    let id: string | undefined;
    try {
      id = decodeURIComponent(pathPart.split('/').filter((s) => s !== '').pop() ?? '');
    } catch {
      id = undefined;
    }
    if (id !== undefined && (!CANONICAL.test(id) || id === '0')) found.push(`assignment id ${JSON.stringify(id)} accepted (HR-9d: ids are canonical decimal)`);
  }
  if ((req.route === 'GET /api/v1/vehicles' || req.route === 'GET /api/v1/audit') && queryPart !== undefined) {
    const limits = new URLSearchParams(queryPart).getAll('limit');
    if (limits.length > 1) found.push(`limit given ${limits.length} times, accepted (HR-9c)`);
    else if (limits.length === 1 && (!CANONICAL.test(limits[0]!) || Number(limits[0]) < 1)) found.push(`limit=${JSON.stringify(limits[0])} accepted (HR-9c: a page limit is a whole number from 1)`);
  }
  return found;
}

/**
 * The Director's campaign engine acts on a timer too (every 10 s: soak times, schedules), and its
 * writes carry an 'engine' event. When one lands inside a refused request's window the state
 * comparison cannot tell whose change it is, so the request's state verdict is skipped (counted in
 * the run's summary; a refused request that set the engine going itself would show it every time).
 */
export function engineActed(before: Record<ServerName, StateSnapshot>, after: Record<ServerName, StateSnapshot>): boolean {
  return diffState(before.director, after.director).rows.some(
    (r) => r.table === 'campaign_events' && r.kind === 'added' && (JSON.parse(r.after!) as { actor?: unknown }).actor === 'engine',
  );
}

/**
 * The Director's verified copy of the Image repository's metadata (image-repo-metadata/) is
 * refreshed before an operator request looks an image up, whatever that request's verdict: it is a
 * cache of what the Image repository publishes, not state the request controls.
 */
function allowedFile(path: string, req: FuzzRequest): boolean {
  return path.startsWith('image-repo-metadata/') && req.auth === 'operator';
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
  // No answer is acceptable only when the server stopped reading a body it refused (our write then
  // fails: EPIPE or ECONNRESET) or the body was cut short on purpose (`truncated`).
  if (res.timedOut) problems.push('no answer within the bound (a hang)');
  else if (res.status === undefined && !sent.truncated && res.error === undefined) problems.push('connection closed without an answer');
  if (res.status !== undefined && res.status >= 500) problems.push(`status ${res.status}`);
  if (o.down !== undefined) problems.push(o.down);
  const requestText = `${sent.head}${sent.body.toString('latin1')}`;
  problems.push(...leaks(res.text, requestText, o.forbidden));
  for (const [server, text] of Object.entries(o.stderr)) if (text.trim() !== '') problems.push(`the ${server} server wrote to stderr:\n${quote(text.trim().slice(0, 1500))}`);
  const accepted = acceptedCredentials(req.route, o.generator);
  if (res.status !== undefined && res.status < 300 && accepted !== undefined && req.method === o.generator?.method && !accepted.includes(req.auth)) {
    problems.push(`answered ${res.status} to credential "${req.auth}" (only ${accepted.join(' or ')} should open ${req.route})`);
  }
  if (res.status !== undefined && res.status < 300 && req.method === o.generator?.method) problems.push(...looseNumbers(req));
  if (o.after !== undefined) {
    for (const server of ['image', 'director'] as const) {
      const diff = diffState(o.before[server], o.after[server]);
      const rows = diff.rows.filter((change) => !allowedRecord(change, req));
      const files = diff.files.filter((file) => !(server === 'director' && allowedFile(file.path, req)));
      if (rows.length > 0 || files.length > 0) problems.push(`refused, yet the ${server} server's state changed:\n${describeDiff({ rows, files })}`);
    }
  }
  return problems;
}
