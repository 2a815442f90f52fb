// What `uptane image expiry` and `uptane director expiry` share: the warning options, the table or
// JSON, and the exit status for cron and CI (0 ok, 10 a role in its warning window, 11 a role
// expired; 1 when the command itself fails, as every command). Each repository's command reads its
// roles (image-repo/expiry-cli.ts, director-repo/alerts-cli.ts) and hands them here.
import type { Argv } from 'yargs';
import { DEFAULT_EXPIRY_WARNINGS, EXPIRY_EXIT, expiryExitCode, worstState, type ExpiryWarnings, type RoleExpiry } from '../uptane/role-expiry.js';
import { printJson, printTable } from './cli-output.js';
import type { CliEnvironment } from './environment.js';
import { reSignHint } from '../workspace/hints.js';

export interface ExpiryArgs {
  readonly json: boolean;
  readonly warnDays: number;
  readonly warnOnlineHours: number;
}

/** The environment of a command that exits with a verdict; tests set `setExitCode`. */
export interface VerdictCliEnvironment extends CliEnvironment {
  readonly setExitCode?: (code: number) => void;
}

export const EXPIRY_EPILOGUE =
  `Exit status: ${EXPIRY_EXIT.ok} every role is ok; ${EXPIRY_EXIT.warning} a role is within its warning window (--warn-days for roles signed offline: root, ` +
  `targets and delegations of the Image repository; --warn-online-hours for roles the server re-signs itself); ${EXPIRY_EXIT.expired} a role has expired; ` +
  '1 the command failed (an unreadable data folder or database). The worst role decides.';

export function withExpiryOptions<T>(yargs: Argv<T>): Argv<T & ExpiryArgs> {
  return yargs
    .option('json', { type: 'boolean', default: false, describe: 'print {state, exitCode, warningDays, onlineWarningHours, roles: [...]} as JSON' })
    .option('warn-days', { type: 'number', default: DEFAULT_EXPIRY_WARNINGS.offlineDays, describe: 'warn when an offline-signed role expires within this many days' })
    .option('warn-online-hours', { type: 'number', default: DEFAULT_EXPIRY_WARNINGS.onlineHours, describe: 'warn when a role the server signs online expires within this many hours' })
    .check((argv) => {
      for (const name of ['warn-days', 'warn-online-hours']) {
        const value = argv[name] as number;
        if (!Number.isFinite(value) || value < 0 || value > 3650 * 24) throw new Error(`--${name} ${String(value)}: give a number from 0 up`);
      }
      return true;
    }) as unknown as Argv<T & ExpiryArgs>;
}

export const warningsOf = (argv: ExpiryArgs): ExpiryWarnings => ({ offlineDays: argv.warnDays, onlineHours: argv.warnOnlineHours });

/** "in 29d 3h", "3h ago": how far `seconds` is. */
export function describeSecondsLeft(seconds: number): string {
  const abs = Math.abs(seconds);
  const days = Math.floor(abs / 86_400);
  const hours = Math.floor((abs % 86_400) / 3_600);
  const minutes = Math.floor((abs % 3_600) / 60);
  const text = days > 0 ? `${days}d ${hours}h` : hours > 0 ? `${hours}h ${minutes}m` : `${minutes}m ${abs % 60}s`;
  return seconds > 0 ? `in ${text}` : `${text} ago`;
}

/** Prints the roles and sets the exit status from the worst of them. `notes` go under the table. */
export function reportExpiry(io: VerdictCliEnvironment, roles: readonly RoleExpiry[], argv: ExpiryArgs, source: string, notes: readonly string[] = [], extra: object = {}): void {
  const state = worstState(roles);
  const exitCode = expiryExitCode(state);
  if (argv.json) {
    printJson(io, { source, state, exitCode, warningDays: argv.warnDays, onlineWarningHours: argv.warnOnlineHours, roles, ...extra });
  } else {
    io.print(`${source}: ${roles.length} role(s), worst state ${state.toUpperCase()}`);
    printTable(
      io,
      ['REPOSITORY', 'ROLE', 'VERSION', 'EXPIRES', 'LEFT', 'STATE', 'KEYS', 'SIGNED'],
      roles.map((r) => [r.repository, r.role, String(r.version), r.expires, describeSecondsLeft(r.secondsLeft), r.state.toUpperCase(), `${r.threshold} of ${r.keyids.length}`, r.online ? 'online' : 'offline']),
      'no published metadata found',
    );
    for (const note of notes) io.print(note);
    const due = roles.filter((r) => r.state !== 'ok' && !r.online);
    // Online roles are the server's to re-sign; offline ones wait for people with the keys.
    for (const r of due) io.print(`${r.repository} ${r.role} ${r.state === 'expired' ? 'expired' : 'expires'} on ${r.expires}: ${reSignHint(r.repository, r.role)}`);
  }
  (io.setExitCode ?? ((code: number) => void (process.exitCode = code)))(exitCode);
}
