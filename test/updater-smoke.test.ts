import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupClients, newClient } from './support/client.js';
import { RepositorySimulator } from './support/repo-simulator.js';

afterEach(cleanupClients);

describe('RepositoryUpdater against the simulator', () => {
  it('refreshes, finds a delegated target, downloads it, and reports nothing new the second time', async () => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
    sim.addTarget('ecu/top.bin', 'top-level image', { hardwareIds: ['hw-1'], releaseCounter: 1 });
    sim.addDelegation('targets', { name: 'supplier', terminating: false, paths: ['supplier/*'] });
    sim.addTarget('supplier/fw.bin', 'supplier image', { hardwareIds: ['hw-2'], releaseCounter: 3 }, 'supplier');
    sim.release();

    const client = newClient(sim);
    const first = await client.updater.refresh();
    expect(first.snapshotChanged).toBe(true);
    const found = await client.updater.findTarget('supplier/fw.bin');
    expect(found.role).toBe('supplier');
    const destination = join(client.directory, 'fw.bin');
    await client.updater.downloadTarget(found, destination);
    expect(readFileSync(destination, 'utf8')).toBe('supplier image');
    expect(await client.updater.isTargetCached(found, destination)).toBe(true);

    const second = await client.newUpdater().refresh();
    expect(second.snapshotChanged).toBe(false);
  });
});
