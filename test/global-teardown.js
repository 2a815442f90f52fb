// Removes the memory-backed temp folder test/global-setup.js made for the run (TMPDIR), with what
// any test left in it: on tmpfs a forgotten folder would hold memory until the machine restarts.
// A process some test left running may still write there; that is reported, not a failed run.
import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const dir = process.env.UPTANE_TEST_TMPDIR_MADE;
  if (dir === undefined || !dir.startsWith('/dev/shm/uptane-test-')) return;
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    console.warn(`\n*** could not remove the run's temp folder ${dir}: ${err.message} ***\n`);
  }
}
