// The Image repository's transparency log (docs/transparency-log.md "Server routes"): every version of
// every signed metadata file it publishes (root, targets, delegated targets, snapshot, timestamp) is
// appended as an entry naming the exact bytes served, after the publication is stored; on start the
// log catches up with every published version it lacks.
import type { Clock } from '../shared/core/clock.js';
import { entryForFile, type LogEntryFields } from '../shared/transparency/entry.js';
import { IMAGE_LOG_NAME, LogPublisher, openServerLog, type ServerLogConfig } from '../shared/transparency/server-log.js';
import type { ImageRepository } from './repository.js';
import type { MetadataStore } from './store/metadata.js';

/** The entries of every version `storage` has published, oldest publication first. */
export async function publishedImageEntries(storage: Pick<MetadataStore, 'publishedVersions'>): Promise<LogEntryFields[]> {
  return (await storage.publishedVersions()).map((v) => ({ repository: 'image', role: v.role, version: v.version, length: v.length, sha256: v.sha256 }));
}

/**
 * Opens the log, appends what it lacks, and from then on appends each publication of `repository`.
 * Run before the server listens, so no publication slips between the catch-up and the listener.
 */
export async function openImageLog(dataDir: string, storage: MetadataStore, repository: ImageRepository, config: ServerLogConfig, clock: Clock, warn: (line: string) => void): Promise<{ publisher: LogPublisher; caughtUp: number }> {
  const log = await openServerLog(dataDir, IMAGE_LOG_NAME, config, clock);
  try {
    const publisher = new LogPublisher(log, () => publishedImageEntries(storage), warn);
    const caughtUp = await publisher.catchUp();
    repository.onPublished((files) => publisher.record(files.map((file) => entryForFile({ repository: 'image', role: file.role, version: file.version }, file.bytes))));
    return { publisher, caughtUp };
  } catch (err) {
    await log.close();
    throw err;
  }
}
