// The verdict `status --check` exits with, on a real workspace (real signatures, a clock moved past
// expiry), and its order when several apply.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { STATUS_EXIT, statusVerdict, type WorkspaceStatus } from '../../shared/workspace/status.js';
import { Workspace } from '../../shared/workspace/workspace.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const rootKey = PrivateKey.fromLabel('verdict-root');
const targetsKey = PrivateKey.fromLabel('verdict-targets');
const online = PrivateKey.fromLabel('verdict-online');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-verdict-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('is ready, missing signatures, or expired as the workspace is', async () => {
  const clock = new FixedClock(NOW);
  const ws = Workspace.init(join(dir, 'ws'), { repository: 'image' }, clock);
  expect(statusVerdict(ws.status())).toEqual({ verdict: 'nothing-staged', exitCode: 0 });
  ws.createRoot({
    keys: { root: [rootKey.publicKey], targets: [targetsKey.publicKey], timestamp: [online.publicKey], snapshot: [online.publicKey] },
    thresholds: { root: 1, targets: 1, timestamp: 1, snapshot: 1 },
  });
  expect(statusVerdict(ws.status())).toEqual({ verdict: 'missing-signatures', exitCode: STATUS_EXIT.missingSignatures });
  ws.sign('root', rootKey);
  expect(statusVerdict(ws.status())).toEqual({ verdict: 'ready', exitCode: 0 });
  ws.recordPublished('root', ws.bytesToPush('root'));
  const image = join(dir, 'a.bin');
  writeFileSync(image, 'a');
  await ws.addImages([{ path: image, fields: { hardwareIds: ['ecm'], releaseCounter: 1 } }]);
  ws.sign('targets', targetsKey);
  ws.recordPublished('targets', ws.bytesToPush('targets'));
  expect(statusVerdict(ws.status())).toEqual({ verdict: 'nothing-staged', exitCode: 0 });
  // Past the 90-day targets expiry: the published targets must be re-signed.
  clock.set(new Date('2026-09-15T00:00:00Z'));
  expect(statusVerdict(ws.status())).toEqual({ verdict: 'expired', exitCode: STATUS_EXIT.expired });
});

it('puts a role that cannot be pushed before an expired one, and that before missing signatures', () => {
  const role = (name: string, codes: string[]) => ({ role: name, staged: { problems: codes.map((code) => ({ code, message: code })) } });
  const status = (roles: object[]) => ({ workspace: '.', repository: 'image', roles, readyToPush: false }) as unknown as WorkspaceStatus;
  expect(statusVerdict(status([role('root', ['unmet_threshold']), role('targets', ['rollback'])])).exitCode).toBe(STATUS_EXIT.notPushable);
  expect(statusVerdict(status([role('root', ['unmet_threshold']), role('targets', ['expired', 'unmet_threshold'])])).exitCode).toBe(STATUS_EXIT.expired);
  expect(statusVerdict(status([role('targets', ['unmet_threshold'])])).exitCode).toBe(STATUS_EXIT.missingSignatures);
});
