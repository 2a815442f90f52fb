// A manifest the Director could not judge is sent again within the cycle, as a new manifest with new
// report counters (primary-ecu/primary.ts sendVehicleVersionManifest): after a 503 (the database
// away, the verification threads busy) and after a connection lost before the answer, including
// the case where the Director had in fact committed the first one. The same bytes sent again would
// reuse counters, and the Director would refuse them as replayed: a fault would look like an attack.
import { describe, expect, it } from '@jest/globals';
import { ABS, ECM, IMAGES, PRIMARY, assign, honestCycle, scene, useAttackScene, vehicleStatus } from '../support/attack-scene.js';

useAttackScene();

type Entry = { accepted: boolean; errorCode: string | null };

async function history(): Promise<Entry[]> {
  return (await vehicleStatus()).manifests as Entry[];
}

describe('a manifest the Director could not judge is sent again, with new counters', () => {
  it('503 twice: the third manifest is accepted within the cycle, nothing refused, the install outcome reaches the Director', async () => {
    const { recorder } = scene();
    await honestCycle('no-update');
    await assign(ECM, IMAGES.ecm);
    await honestCycle('installed');
    const before = recorder.manifests.length;
    recorder.busyManifests = 2;
    const result = await honestCycle('no-update');
    expect(result.manifestSent).toBe(true);
    expect(recorder.busyManifests).toBe(0);
    // Only the third reached the Director; the two answered 503 were never judged.
    expect(recorder.manifests.length).toBe(before + 1);
    expect(recorder.requests.filter((r) => r.path === '/vehicle/manifest').slice(-3).map((r) => r.status)).toEqual([503, 503, 200]);
    const entries = await history();
    expect(entries.filter((e) => !e.accepted)).toEqual([]);
    const status = await vehicleStatus();
    expect(status.attacks).toEqual([]);
    expect((status.assignments as Array<{ state: string }>)[0]!.state).toBe('installed');
  }, 30_000);

  it('the answer lost after the Director committed: the next manifest carries new counters and is accepted too, never refused as replayed', async () => {
    const { recorder } = scene();
    await honestCycle('no-update');
    const acceptedBefore = (await history()).filter((e) => e.accepted).length;
    recorder.cutManifestAnswers = 1;
    const result = await honestCycle('no-update');
    expect(result.manifestSent).toBe(true);
    // Both reached the Director and both were accepted: the first (committed, answer lost) and its successor.
    const last = recorder.manifests.slice(-2);
    expect(last).toHaveLength(2);
    for (const serial of [PRIMARY, ECM, ABS]) {
      const [first, second] = last.map((m) => m.signed.ecu_version_reports[serial]!.signed.report_counter);
      expect(second).toBeGreaterThan(first!);
    }
    const entries = await history();
    expect(entries.filter((e) => !e.accepted)).toEqual([]);
    expect(entries.filter((e) => e.accepted).length).toBe(acceptedBefore + 2);
    expect((await vehicleStatus()).attacks).toEqual([]);
  }, 30_000);

  it('a Director that stays unable (503 every time) gets three manifests per cycle, no more; the cycle ends without a delivery and the next delivers', async () => {
    const { recorder } = scene();
    await honestCycle('no-update');
    const sent = () => recorder.requests.filter((r) => r.path === '/vehicle/manifest').length;
    const before = sent();
    recorder.busyManifests = 100;
    const result = await honestCycle('no-update');
    expect(result.manifestSent).toBe(false);
    expect(sent() - before).toBe(3);
    recorder.busyManifests = 0;
    expect((await honestCycle('no-update')).manifestSent).toBe(true);
    expect((await history()).filter((e) => !e.accepted)).toEqual([]);
  }, 30_000);

  it('a refusal (not a 503) is not sent again: an honest vehicle never floods a Director that judged it', async () => {
    const { recorder, car } = scene();
    await honestCycle('no-update');
    const sent = () => recorder.requests.filter((r) => r.path === '/vehicle/manifest').length;
    const before = sent();
    // The Director refuses a manifest whose vehicle state is not one it knows (a verdict, 400).
    car.state.set('flying' as never);
    const result = await car.primary.runCycle();
    expect(result.manifestSent).toBe(false);
    expect(sent() - before).toBe(1);
  }, 30_000);
});
