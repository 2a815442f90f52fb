// The Image repository's own expiry guardian (issue 19, part 6): on a timer, every published role is
// judged (shared/uptane/role-expiry.ts) and a role that enters its warning window or expires is
// logged once per version and state, at warning level, so that the server's log (and whatever
// watches it) says it before vehicles fail. The Director raises the same as webhook alerts
// (director-repo/alerts/); `uptane image expiry` is the same judgement for cron and CI.
import type { Clock } from '../shared/core/clock.js';
import { BackgroundTask, type BackgroundStatus } from '../shared/server/background-task.js';
import { DEFAULT_EXPIRY_WARNINGS, judgeRoles, type ExpiryWarnings, type RoleExpiry } from '../shared/uptane/role-expiry.js';
import { imageRoleFacts } from './role-expiry-reader.js';
import type { MetadataStore } from './store/metadata.js';

export interface ExpiryWatch {
  /** One check now, as the timer runs it; never rejects. */
  checkNow(): Promise<void>;
  /** The roles as the last check judged them. */
  lastJudged(): readonly RoleExpiry[];
  status(): BackgroundStatus;
  stop(): void;
}

export function watchExpiry(store: Pick<MetadataStore, 'latest'>, clock: Clock, warn: (line: string) => void, options: { intervalMs?: number; warnings?: ExpiryWarnings } = {}): ExpiryWatch {
  const told = new Set<string>();
  let judged: readonly RoleExpiry[] = [];
  const task = new BackgroundTask(
    'checking metadata expiry',
    async () => {
      judged = judgeRoles(await imageRoleFacts(store), clock.now(), options.warnings ?? DEFAULT_EXPIRY_WARNINGS);
      for (const role of judged) {
        const key = `${role.role}:v${role.version}:${role.state}`;
        if (role.state === 'ok' || told.has(key)) continue;
        told.add(key);
        const who = role.online ? 're-signing on this server is failing (see the re-signing lines)' : 're-sign it offline in the workspace and push';
        warn(`image ${role.role} v${role.version} ${role.state === 'expired' ? 'EXPIRED' : 'expires'} at ${role.expires}: ${who}`);
      }
    },
    warn,
  );
  const stop = task.every(options.intervalMs ?? 5 * 60_000);
  return { checkNow: () => task.runOnce(), lastJudged: () => judged, status: () => task.status, stop };
}
