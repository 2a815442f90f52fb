// The order Jest starts test files in. Jest runs the files that took longest last time first, so that
// no worker is left with a long file at the end while the others sit idle; but it keeps those times
// in a cache named after the project's folder, and CI tests a fresh clone in another folder, where
// Jest has no times and orders by file size instead. The slowest files are short ones (the README
// walkthrough, the Director store contract): started last, one of them alone made the end of the
// run. So without Jest's own times the files below go first, in this order (slowest first, as
// measured on a full run); the rest keep Jest's order. With times, Jest's own order stands.
import sequencer from '@jest/test-sequencer';

const Sequencer = sequencer.default ?? sequencer;

/** Slowest first; paths from the repository root. docs/code-style.md "Keeping the suite fast". */
export const SLOWEST_FILES = [
  'test/docs/readme-walkthrough.test.ts',
  'test/workspace/e2e.test.ts',
  'test/director/campaign-cli.test.ts',
  'test/director/campaigns.test.ts',
  'test/replicas/fault-tolerance.test.ts',
  'test/ecu/cli.test.ts',
  'test/director/cli.test.ts',
  'test/keys/pkcs11-workspace.test.ts',
  'test/hardening/resource.test.ts',
  'test/workspace/hash-bins-e2e.test.ts',
  'test/store/director-store.contract.test.ts',
];

export default class SlowestFirstSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    if (sorted.some((test) => test.duration != null)) return sorted;
    const rank = (test) => {
      const path = test.path.split('\\').join('/');
      const index = SLOWEST_FILES.findIndex((file) => path.endsWith(`/${file}`));
      return index === -1 ? SLOWEST_FILES.length : index;
    };
    // Array.prototype.sort is stable: the files not listed keep Jest's order after the listed ones.
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}
