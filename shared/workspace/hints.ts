// What to run next: errors and summaries name the exact command, in the CLI group of the
// repository the workspace signs for (`uptane image ...`, later `uptane director ...`).

export function commandHint(repository: string, subcommand: string): string {
  return `uptane ${repository} ${subcommand}`;
}

/** A short, recognizable form of a keyid for tables (the full one is in --json output). */
export function shortKeyId(keyid: string): string {
  return keyid.slice(0, 12);
}

/** Roles a repository's server signs online and re-signs itself (the Director signs targets too). */
const ONLINE_ROLES: Readonly<Record<string, readonly string[]>> = { image: ['timestamp', 'snapshot'], director: ['timestamp', 'snapshot', 'targets'] };

/**
 * What to run so that `role` of `repository` is valid again after it expired (or before it does):
 * for a role signed offline, a new expiry, a signature and a push; for one the server signs online,
 * the server itself (running, with its online keys and a right clock).
 */
export function reSignHint(repository: string, role: string): string {
  if ((ONLINE_ROLES[repository] ?? []).includes(role)) {
    return `the ${repository} server re-signs ${role} itself: check that \`uptane ${repository} serve\` is running with its online keys and a right clock`;
  }
  const expires = role === 'root' ? 'root expires 365d' : role === 'targets' ? 'targets expires 90d' : `targets expires 90d --role ${role}`;
  return `re-sign with \`${commandHint(repository, expires)}\`, then \`${commandHint(repository, `sign --role ${role} --key FILE`)}\` and \`${commandHint(repository, 'push')}\``;
}
