// What the CLI prints when a command fails. The project's own errors (shared/core/errors.ts) already
// say what went wrong and what to do next; anything else comes from a library or the operating
// system (a database constraint, a busy port, a missing file) and would otherwise reach the operator
// as the library's words ("UNIQUE constraint failed: uploaders.name", "listen EADDRINUSE"). Those
// are translated here into the same typed errors with a next step, the library's text kept as the
// cause, and whatever is still unknown says how to get more detail.
import { ConflictError, ExpiredMetadataError, OperatorRequestError, UptaneError } from '../core/errors.js';
import { reSignHint } from '../workspace/hints.js';

/** The table names of both repositories' schemas, as a person calls what a row is. */
const ROW_NAMES: Readonly<Record<string, string>> = {
  uploaders: 'uploader',
  uploader_tokens: 'uploader token',
  operator_tokens: 'operator token',
  operators: 'operator',
  vehicles: 'vehicle',
  ecus: 'ECU',
  groups: 'group',
  vehicle_groups: 'group',
  campaigns: 'campaign',
  assignments: 'assignment',
};

const rowName = (table: string) => ROW_NAMES[table] ?? table.replace(/_/g, ' ').replace(/s$/, '');

/** SQLite's `UNIQUE constraint failed: table.column[, table.column]` (better-sqlite3 SqliteError, code SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY). */
const SQLITE_UNIQUE = /UNIQUE constraint failed: ([A-Za-z_][\w]*)\.([A-Za-z_][\w]*)/;
/** PostgreSQL's detail of a unique violation (SQLSTATE 23505): `Key (name)=(ci) already exists.` */
const POSTGRES_KEY = /Key \(([^)]+)\)=\((.*)\) already exists/;

/**
 * A unique-constraint failure from either database as a ConflictError that names what exists and
 * what to do; undefined for any other error.
 */
export function conflictFromConstraint(err: unknown): ConflictError | undefined {
  const e = err as { code?: unknown; message?: unknown; detail?: unknown; table?: unknown };
  if (typeof e.message !== 'string') return undefined;
  const sqlite = typeof e.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT') ? SQLITE_UNIQUE.exec(e.message) : null;
  if (sqlite !== null) {
    const [, table, column] = sqlite as unknown as [string, string, string];
    return new ConflictError(`a ${rowName(table)} with this ${column.replace(/_/g, ' ')} already exists: choose another ${column.replace(/_/g, ' ')}, or revoke or remove the existing one first (list them with the group's \`list\`)`, { cause: err });
  }
  if (e.code === '23505') {
    const key = typeof e.detail === 'string' ? POSTGRES_KEY.exec(e.detail) : null;
    const what = typeof e.table === 'string' ? rowName(e.table) : 'record';
    const named = key === null ? '' : ` with ${key[1]} ${key[2]}`;
    return new ConflictError(`a ${what}${named} already exists: choose another, or revoke or remove the existing one first (list them with the group's \`list\`)`, { cause: err });
  }
  return undefined;
}

/** What the operating system's error codes mean for someone running a command, and what to do. */
function describeSystemError(err: NodeJS.ErrnoException & { address?: string; port?: number }): string | undefined {
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${err.port ?? '?'}${err.address === undefined ? '' : ` on ${err.address}`} is already in use: stop the other server, or pass another --port`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${err.address ?? 'that address'}: it is not an address of this machine; pass another --host (127.0.0.1, or 0.0.0.0 for every interface)`;
    case 'EACCES':
      if (err.syscall === 'listen') return `not allowed to listen on port ${err.port ?? '?'} (ports below 1024 need privileges): pass a --port of 1024 or more`;
      return `permission denied${err.path === undefined ? '' : ` on ${err.path}`}: check the file's owner and mode, or choose a folder you may write`;
    case 'ENOENT':
      return `no such file or folder${err.path === undefined ? '' : `: ${err.path}`}; check the path (relative paths start at the current folder)`;
    case 'ENOSPC':
      return `no space left on the device${err.path === undefined ? '' : ` holding ${err.path}`}: free some space and run the command again`;
    case 'ECONNREFUSED':
      return `nothing is listening at ${err.address ?? 'the server'}${err.port === undefined ? '' : `:${err.port}`}: start the server, or check --server`;
    default:
      return undefined;
  }
}

/**
 * The text `error: ...` shows for a failed command: a project error's own message; a database
 * conflict or an operating-system error translated, the original text kept after "cause:"; a
 * command's own plain Error as it is; anything else as it came, with how to see more.
 */
export function describeFailure(err: unknown): string {
  // Expired metadata is refused safely, but only people with the keys can fix it: say what they run.
  if (err instanceof ExpiredMetadataError && err.repository !== undefined && err.role !== undefined) return `${err.message}\n${reSignHint(err.repository, err.role)}`;
  if (err instanceof OperatorRequestError && err.remoteCode === 'expired') {
    return `${err.message}\nmetadata the Director relies on has expired: \`uptane image expiry -w WORKSPACE\` (or --data-dir on its server) shows which role; for the Image repository's targets, ${reSignHint('image', 'targets')}`;
  }
  if (err instanceof UptaneError) return err.message;
  const conflict = conflictFromConstraint(err);
  if (conflict !== undefined) return `${conflict.message}\ncause: ${(err as Error).message}`;
  // Duck-typed: an error from another realm (a worker, a test's VM) is not instanceof this Error.
  if (typeof err === 'object' && err !== null && typeof (err as Error).message === 'string') {
    const error = err as Error;
    const system = describeSystemError(error as NodeJS.ErrnoException);
    if (system !== undefined) return `${system}\ncause: ${error.message}`;
    // A plain Error is this project's own words (a command's check); any other class (TypeError, a
    // driver's error) reached the operator unplanned.
    if (error.constructor?.name === 'Error') return error.message;
    return `${error.name}: ${error.message}\nthis is unexpected: run the command again with UPTANE_DEBUG=1 for the full trace, and report it with the command line`;
  }
  return String(err);
}

/** The stack trace the operator asked for with UPTANE_DEBUG=1, cause chain included. */
export function failureTrace(err: unknown): string[] {
  const lines: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    lines.push(...(current instanceof Error ? (current.stack ?? current.message) : String(current)).split('\n'));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) lines.push('caused by:');
  }
  return lines;
}
