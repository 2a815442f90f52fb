// The Director's transparency log (docs/transparency-log.md "Server routes"): every root version, and
// every version of each vehicle's targets as the Director signs it, appended once the unit of work
// that stored it committed. A vehicle's entry names it by the SHA-256 of its VIN, never the VIN. On
// start the log catches up with what it lacks: every root version, and each vehicle's stored targets
// (the Director keeps only a vehicle's latest targets, so a version replaced before a restart that
// was never appended cannot be caught up; it is appended after its commit like every other).
import type { Clock } from '../shared/core/clock.js';
import { entryForFile, type LogEntryFields } from '../shared/transparency/entry.js';
import { DIRECTOR_LOG_NAME, LogPublisher, openServerLog, type ServerLogConfig } from '../shared/transparency/server-log.js';
import type { DirectorServices } from './director.js';
import type { DirectorStore } from './store/director-store.js';
import type { SignedDirectorFile } from './vehicle-metadata.js';

/** Vehicles' targets read by one query of the catch-up. */
const CATCH_UP_PAGE = 1000;

const entryOf = (file: SignedDirectorFile): LogEntryFields =>
  entryForFile({ repository: 'director', role: file.role, version: file.version, ...(file.vin === undefined ? {} : { vin: file.vin }) }, file.bytes);

/** Every root version, then each vehicle's stored targets, as log entries. */
export async function publishedDirectorEntries(store: Pick<DirectorStore, 'roots' | 'vehicleMetadata'>): Promise<LogEntryFields[]> {
  const entries: LogEntryFields[] = [];
  const latest = (await store.roots.latestRoot())?.version ?? 0;
  // Root versions are consecutive: each is checked as version N+1 of the one before.
  for (let version = 1; version <= latest; version++) {
    const root = await store.roots.root(version);
    if (root !== undefined) entries.push(entryOf({ role: 'root', version, bytes: root.bytes }));
  }
  for (let after = ''; ; ) {
    const page = await store.vehicleMetadata.targetsPage(after, CATCH_UP_PAGE);
    for (const row of page) entries.push(entryOf({ role: 'targets', version: row.version, bytes: row.bytes, vin: row.vin }));
    if (page.length < CATCH_UP_PAGE) break;
    after = page[page.length - 1]!.vin;
  }
  return entries;
}

/**
 * Opens the log, appends what it lacks, and from then on appends each root and vehicle targets the
 * Director signs. Run before the server listens.
 */
export async function openDirectorLog(
  dataDir: string,
  store: Pick<DirectorStore, 'roots' | 'vehicleMetadata'>,
  services: Pick<DirectorServices, 'root' | 'metadata'>,
  config: ServerLogConfig,
  clock: Clock,
  warn: (line: string) => void,
): Promise<{ publisher: LogPublisher; caughtUp: number }> {
  const log = await openServerLog(dataDir, DIRECTOR_LOG_NAME, config, clock);
  try {
    const publisher = new LogPublisher(log, () => publishedDirectorEntries(store), warn);
    const caughtUp = await publisher.catchUp();
    const record = (files: readonly SignedDirectorFile[]) => publisher.record(files.map(entryOf));
    services.root.onPublished(record);
    services.metadata.onTargetsSigned(record);
    return { publisher, caughtUp };
  } catch (err) {
    await log.close();
    throw err;
  }
}
