// Names and paths: which target names and role names are safe, how delegation path patterns match,
// and TAP 15 hash bins. Every rule here closed a real hole in a peer project (docs/threat-model.md,
// advisories: GHSA-wjw6-2cqr-j4qr, GHSA-qp9x-wp8f-qgjj, GHSA-77hh-43cm-v8j6, CVE-2026-6968).
import { createHash } from 'node:crypto';
import { UnsafePathError, type ErrorContext } from '../errors.js';
import type { DelegatedRole, SuccinctRoles } from './types.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
export const MAX_TARGET_NAME_LENGTH = 1024;

/**
 * A target name is a relative path of non-empty segments: no leading `/`, no `.` or `..` segment,
 * no backslash, no control character (NUL included). Such a name can be joined under a directory or
 * a URL without escaping it (K2; docs/uptane-conformance.md 1.9).
 */
export function checkTargetName(name: string, context: ErrorContext = {}): void {
  const problem = targetNameProblem(name);
  if (problem !== null) throw new UnsafePathError(`unsafe target name ${JSON.stringify(name)}: ${problem}`, context);
}

export function isSafeTargetName(name: string): boolean {
  return targetNameProblem(name) === null;
}

function targetNameProblem(name: string): string | null {
  if (name.length === 0) return 'empty';
  if (name.length > MAX_TARGET_NAME_LENGTH) return `longer than ${MAX_TARGET_NAME_LENGTH} characters`;
  if (CONTROL.test(name)) return 'contains a control character';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a drive letter';
  for (const segment of name.split('/')) {
    if (segment === '') return 'has an empty path segment';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
  }
  return null;
}

/** Role names go into URLs and file names only percent-encoded (K1), but must still be sane. */
export function checkRoleName(name: string, context: ErrorContext = {}): void {
  if (name.length === 0 || name.length > 255 || CONTROL.test(name)) {
    throw new UnsafePathError(`unsafe role name ${JSON.stringify(name)}`, context);
  }
}

/** The file name of a role's metadata, percent-encoded so `../x` stays one harmless name (K1). */
export function roleFileName(role: string, version?: number): string {
  const encoded = encodeURIComponent(role);
  return version === undefined ? `${encoded}.json` : `${version}.${encoded}.json`;
}

const patternCache = new Map<string, RegExp>();

function segmentRegExp(segment: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      // fnmatch: a `]` right after `[` or `[!` is a member, not the end of the class, so "[!]x]"
      // is "not ] or x" and "[!]" is literal text on every client alike (I8).
      const close = segment.indexOf(']', i + (segment[i + 1] === '!' ? 3 : 2));
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}

/**
 * Shell-style matching of a delegation path pattern, as TUF specifies: `*` and `?` never match `/`,
 * `[seq]` and `[!seq]` match one character, matching is case-sensitive on every OS
 * (GHSA-qp9x-wp8f-qgjj), and pattern and name must have the same number of segments (I8).
 */
export function matchesPathPattern(targetName: string, pattern: string): boolean {
  let regexp = patternCache.get(pattern);
  if (regexp === undefined) {
    try {
      regexp = new RegExp(`^${pattern.split('/').map(segmentRegExp).join('/')}$`, 'u');
    } catch (err) {
      // A reversed range such as "[z-a]" has no RegExp form. fnmatch drops empty ranges; here the
      // whole pattern then matches nothing (fail closed), and a signed pattern can never crash a
      // lookup with a SyntaxError (I8, J8).
      if (!(err instanceof SyntaxError)) throw err;
      regexp = /(?!)/u;
    }
    if (patternCache.size > 10_000) patternCache.clear();
    patternCache.set(pattern, regexp);
  }
  return targetName.split('/').length === pattern.split('/').length && regexp.test(targetName);
}

export function targetPathHash(targetName: string): string {
  return createHash('sha256').update(targetName, 'utf8').digest('hex');
}

/** Does this delegation cover `targetName` (paths or path hash prefixes)? */
export function isDelegatedPath(role: DelegatedRole, targetName: string): boolean {
  if (role.paths !== undefined) return role.paths.some((pattern) => matchesPathPattern(targetName, pattern));
  if (role.path_hash_prefixes !== undefined) {
    const hash = targetPathHash(targetName);
    return role.path_hash_prefixes.some((prefix) => hash.startsWith(prefix));
  }
  return false;
}

/** TAP 15: the hash-bin role responsible for `targetName`. */
export function succinctRoleFor(succinct: SuccinctRoles, targetName: string): string {
  const first32 = Number.parseInt(targetPathHash(targetName).slice(0, 8), 16);
  const bin = Math.floor(first32 / 2 ** (32 - succinct.bit_length));
  return succinctRoleName(succinct, bin);
}

export function succinctRoleName(succinct: SuccinctRoles, bin: number): string {
  const suffixLength = Math.max(1, Math.ceil(succinct.bit_length / 4));
  return `${succinct.name_prefix}-${bin.toString(16).padStart(suffixLength, '0')}`;
}

/** Is `name` one of the 2^bit_length bins, spelled exactly as the delegator would (GHSA-77hh-43cm-v8j6)? */
export function isSuccinctRoleName(succinct: SuccinctRoles, name: string): boolean {
  const prefix = `${succinct.name_prefix}-`;
  if (!name.startsWith(prefix)) return false;
  const suffix = name.slice(prefix.length);
  if (!/^[0-9a-f]+$/.test(suffix)) return false;
  const bin = Number.parseInt(suffix, 16);
  return bin < 2 ** succinct.bit_length && succinctRoleName(succinct, bin) === name;
}
