// The Director's manifest signature worker for tests of the pool (test/director/manifest-verification.test.ts):
// the real one, but when the pool's workerData names a folder (`gate`), each job first waits until
// the file `open` appears in it, and a thread that finds the file `die` there ends itself mid-job,
// as a crashed thread would.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { workerData } from 'node:worker_threads';
import verifyManifestJob, { type ManifestSignatureJob } from '../../director-repo/manifest-signature-worker.js';

const pause = new Int32Array(new SharedArrayBuffer(4));

export default function gatedManifestJob(job: ManifestSignatureJob): ReturnType<typeof verifyManifestJob> {
  const gate = (workerData as { gate?: string } | null)?.gate;
  // Bounded: a test that forgets its gate fails on its own timeout, and this thread stops waiting after 60 s.
  for (let waited = 0; gate !== undefined && !existsSync(join(gate, 'open')) && waited < 60_000; waited += 5) {
    if (existsSync(join(gate, 'die'))) process.exit(3);
    Atomics.wait(pause, 0, 0, 5);
  }
  return verifyManifestJob(job);
}
