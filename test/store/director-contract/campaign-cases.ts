// Campaigns and vehicle groups: static and dynamic members, campaign states and stages, their
// vehicles, assignments and events, and the attack watermark the halt rules count from.
import type { ContractStore } from './backends.js';
import type { ContractContext } from './context.js';
import { T0, accept, at, body, ecu, image, iso, registerVehicle } from './fixtures.js';

async function fleet(store: ContractStore): Promise<void> {
  await store.inventory.insertVehicle('VIN-3', { model: 'sedan', region: 'eu', 'trim.level': 'gt' }, T0);
  await store.inventory.insertVehicle('VIN-1', { model: 'sedan', region: 'us' }, T0);
  await store.inventory.insertVehicle('VIN-2', { model: 'truck', region: 'eu', "o'quote": 'yes' }, T0);
  await store.inventory.insertVehicle('VIN-4', {}, T0);
  await store.inventory.insertEcu(ecu('VIN-1', 'e1', true, { hardwareId: 'brake-v2' }), T0);
  await store.inventory.insertEcu(ecu('VIN-2', 'e2', true, { hardwareId: 'brake-v1' }), T0);
  await store.inventory.insertEcu(ecu('VIN-3', 'e3', true, { hardwareId: 'brake-v2' }), T0);
  await store.inventory.recordEcuReport('e3', { counter: 1, filename: 'brake-2.1.bin', length: 5, hashes: {}, releaseCounter: 1 }, T0);
}

export function campaignCases({ fresh }: ContractContext): void {
  it('keeps groups with their kind, filter and time, listed by name; a name is taken once', async () => {
    const store = await fresh();
    const filter = { attributes: { model: 'sedan' }, hardwareId: 'brake-v2' };
    await store.campaigns.insertGroup('zeta', 'dynamic', filter, 'alice', at(1));
    await store.campaigns.insertGroup('alpha', 'static', null, 'bob', at(2));
    expect(await store.campaigns.group('zeta')).toEqual({ name: 'zeta', kind: 'dynamic', filter, createdAt: iso(1) });
    expect(await store.campaigns.group('alpha')).toEqual({ name: 'alpha', kind: 'static', filter: null, createdAt: iso(2) });
    expect(await store.campaigns.group('nope')).toBeUndefined();
    expect((await store.campaigns.groups()).map((g) => g.name)).toEqual(['alpha', 'zeta']);
    await expect(store.campaigns.insertGroup('alpha', 'dynamic', {}, 'eve', at(3))).rejects.toThrow();
    expect(await store.campaigns.group('alpha')).toMatchObject({ kind: 'static', createdAt: iso(2) });
  });

  it('lists a static group’s registered members in VIN order, each once', async () => {
    const store = await fresh();
    await fleet(store);
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    await store.campaigns.insertGroup('h', 'static', null, 'op', T0);
    await store.campaigns.addMembers('g', ['VIN-3', 'VIN-1', 'VIN-UNREGISTERED']);
    await store.campaigns.addMembers('g', ['VIN-1', 'VIN-2']);
    await store.campaigns.addMembers('h', ['VIN-4']);
    expect(await store.campaigns.staticMembers('g')).toEqual(['VIN-1', 'VIN-2', 'VIN-3']);
    expect(await store.campaigns.staticMembers('h')).toEqual(['VIN-4']);
    expect(await store.campaigns.staticMembers('none')).toEqual([]);
    // A vehicle registered later is a member from then on.
    await store.inventory.insertVehicle('VIN-UNREGISTERED', {}, at(1));
    expect(await store.campaigns.staticMembers('g')).toEqual(['VIN-1', 'VIN-2', 'VIN-3', 'VIN-UNREGISTERED']);
  });

  it('evaluates a dynamic group’s filter against the inventory now, in VIN order', async () => {
    const store = await fresh();
    await fleet(store);
    const members = (filter: Parameters<ContractStore['campaigns']['dynamicMembers']>[0]) => store.campaigns.dynamicMembers(filter);
    expect(await members({})).toEqual(['VIN-1', 'VIN-2', 'VIN-3', 'VIN-4']);
    expect(await members({ attributes: {} })).toEqual(['VIN-1', 'VIN-2', 'VIN-3', 'VIN-4']);
    expect(await members({ attributes: { model: 'sedan' } })).toEqual(['VIN-1', 'VIN-3']);
    expect(await members({ attributes: { model: 'sedan', region: 'eu' } })).toEqual(['VIN-3']);
    expect(await members({ attributes: { region: 'EU' } })).toEqual([]);
    // Keys are names, never paths or SQL: a dot and a quote are plain characters.
    expect(await members({ attributes: { 'trim.level': 'gt' } })).toEqual(['VIN-3']);
    expect(await members({ attributes: { "o'quote": 'yes' } })).toEqual(['VIN-2']);
    expect(await members({ attributes: { missing: '' } })).toEqual([]);
    expect(await members({ hardwareId: 'brake-v2' })).toEqual(['VIN-1', 'VIN-3']);
    expect(await members({ installedImage: 'brake-2.1.bin' })).toEqual(['VIN-3']);
    expect(await members({ hardwareId: 'brake-v2', attributes: { region: 'us' } })).toEqual(['VIN-1']);
    expect(await members({ hardwareId: 'brake-v1', installedImage: 'brake-2.1.bin' })).toEqual([]);
    await store.inventory.recordEcuReport('e1', { counter: 1, filename: 'brake-2.1.bin', length: 5, hashes: {}, releaseCounter: 1 }, at(1));
    expect(await members({ installedImage: 'brake-2.1.bin' })).toEqual(['VIN-1', 'VIN-3']);
  });

  it('keeps campaigns: a new one is a draft at stage 0, listed newest first, active ones oldest first', async () => {
    const store = await fresh();
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const first = await store.campaigns.insertCampaign('first', 'g', '{"stages":[1]}', 'alice', at(1));
    const second = await store.campaigns.insertCampaign('second', 'g', '{}', 'alice', at(2));
    const third = await store.campaigns.insertCampaign('third', 'g', '{}', 'alice', at(3));
    expect(second).toBeGreaterThan(first);
    expect(await store.campaigns.campaign(first)).toEqual({
      id: first,
      name: 'first',
      groupName: 'g',
      spec: '{"stages":[1]}',
      state: 'draft',
      stage: 0,
      stageStartedAt: null,
      createdAt: iso(1),
      updatedAt: iso(1),
    });
    expect((await store.campaigns.campaignByName('second'))?.id).toBe(second);
    expect(await store.campaigns.campaignByName('none')).toBeUndefined();
    expect(await store.campaigns.campaign(third + 100)).toBeUndefined();
    expect((await store.campaigns.campaigns(2)).map((c) => c.id)).toEqual([third, second]);
    await expect(store.campaigns.insertCampaign('first', 'g', '{}', 'bob', at(4))).rejects.toThrow();
    expect(await store.campaigns.activeCampaigns()).toEqual([]);
    await store.campaigns.setState(third, 'running', at(5));
    await store.campaigns.setState(first, 'paused', at(6));
    await store.campaigns.setState(second, 'completed', at(7));
    expect((await store.campaigns.activeCampaigns()).map((c) => c.id)).toEqual([first, third]);
    expect(await store.campaigns.campaign(first)).toMatchObject({ state: 'paused', updatedAt: iso(6), createdAt: iso(1) });
  });

  it('changes a campaign’s spec and stage: a started stage has its start time, a held one none', async () => {
    const store = await fresh();
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const id = await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
    await store.campaigns.setSpec(id, '{"v":2}');
    expect((await store.campaigns.campaign(id))?.spec).toBe('{"v":2}');
    await store.campaigns.setStage(id, 1, at(10));
    expect(await store.campaigns.campaign(id)).toMatchObject({ stage: 1, stageStartedAt: iso(10), updatedAt: iso(10) });
    await store.campaigns.holdStage(id, 2, at(11));
    expect(await store.campaigns.campaign(id)).toMatchObject({ stage: 2, stageStartedAt: null, updatedAt: iso(11) });
    await store.campaigns.setStage(id, 2, at(12));
    expect(await store.campaigns.campaign(id)).toMatchObject({ stage: 2, stageStartedAt: iso(12) });
  });

  it('keeps a campaign’s vehicles in rank order; adding one again keeps it as it was', async () => {
    const store = await fresh();
    await fleet(store);
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const id = await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
    const other = await store.campaigns.insertCampaign('d', 'g', '{}', 'op', T0);
    await store.campaigns.addVehicles(id, [
      { vin: 'VIN-1', rank: 'b7' },
      { vin: 'VIN-2', rank: '0f' },
      { vin: 'VIN-3', rank: 'c0' },
    ]);
    await store.campaigns.addVehicles(other, [{ vin: 'VIN-1', rank: '00' }]);
    expect(await store.campaigns.vehicles(id)).toEqual([
      { vin: 'VIN-2', rank: '0f', stage: null, outcome: null },
      { vin: 'VIN-1', rank: 'b7', stage: null, outcome: null },
      { vin: 'VIN-3', rank: 'c0', stage: null, outcome: null },
    ]);
    await store.campaigns.setVehicleStages(id, [
      { vin: 'VIN-2', stage: 0, outcome: null },
      { vin: 'VIN-1', stage: 1, outcome: 'skipped' },
    ]);
    await store.campaigns.addVehicles(id, [
      { vin: 'VIN-1', rank: '00' },
      { vin: 'VIN-4', rank: 'ff' },
    ]);
    expect(await store.campaigns.vehicles(id)).toEqual([
      { vin: 'VIN-2', rank: '0f', stage: 0, outcome: null },
      { vin: 'VIN-1', rank: 'b7', stage: 1, outcome: 'skipped' },
      { vin: 'VIN-3', rank: 'c0', stage: null, outcome: null },
      { vin: 'VIN-4', rank: 'ff', stage: null, outcome: null },
    ]);
    expect(await store.campaigns.vehicles(other)).toEqual([{ vin: 'VIN-1', rank: '00', stage: null, outcome: null }]);
    await store.campaigns.setState(id, 'running', at(1));
    await store.campaigns.setState(other, 'completed', at(1));
    expect((await store.campaigns.activeCampaignsOf('VIN-1')).map((c) => c.id)).toEqual([id]);
    expect(await store.campaigns.activeCampaignsOf('VIN-NONE')).toEqual([]);
  });

  it('lists every assignment a campaign made with its vehicle’s last reported state', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const id = await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
    const [ida, idb] = await store.assignments.insert([image('VIN-A', a.secondary), image('VIN-B', b.secondary)], { actor: 'campaign', now: at(1), campaignId: id });
    await store.assignments.insert([image('VIN-A', a.primary)], { actor: 'op', now: at(1) });
    await store.assignments.setState(idb!, 'failed', 'no space', at(2));
    await store.intake.receive('VIN-A', body('m'), 0, () => accept(3, null, { vehicleState: 'driving' }));
    const rows = (await store.campaigns.assignments(id)).sort((x, y) => x.vin.localeCompare(y.vin));
    expect(rows).toEqual([
      { vin: 'VIN-A', ecuSerial: a.secondary, state: 'pending', reason: null, updatedAt: iso(1), lastState: 'driving' },
      { vin: 'VIN-B', ecuSerial: b.secondary, state: 'failed', reason: 'no space', updatedAt: iso(2), lastState: null },
    ]);
    expect(ida).toBeDefined();
    expect(await store.campaigns.assignments(id + 1)).toEqual([]);
  });

  it('lists a campaign’s assignments oldest first, so a retry’s new one for an ECU comes after the failed one it replaces', async () => {
    const store = await fresh();
    const b = await registerVehicle(store, 'VIN-B');
    const a = await registerVehicle(store, 'VIN-A');
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const id = await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
    const [first] = await store.assignments.insert([image('VIN-B', b.secondary), image('VIN-A', a.secondary)], { actor: 'campaign', now: at(1), campaignId: id });
    await store.assignments.setState(first!, 'failed', 'rolled_back: boot', at(2));
    await store.assignments.insert([image('VIN-B', b.secondary)], { actor: 'retry', now: at(3), campaignId: id });
    expect((await store.campaigns.assignments(id)).map((r) => [r.vin, r.state])).toEqual([
      ['VIN-B', 'failed'],
      ['VIN-A', 'pending'],
      ['VIN-B', 'pending'],
    ]);
  });

  it('keeps a campaign’s events in order with their details', async () => {
    const store = await fresh();
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const id = await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
    const other = await store.campaigns.insertCampaign('d', 'g', '{}', 'op', T0);
    await store.campaigns.event(id, 'alice', 'started', { stage: 0, vehicles: ['VIN-1'] }, at(2));
    await store.campaigns.event(other, 'bob', 'started', null, at(3));
    await store.campaigns.event(id, 'timer', 'stage_advanced', { stage: 1 }, at(1));
    expect(await store.campaigns.events(id)).toEqual([
      { at: iso(2), actor: 'alice', kind: 'started', details: { stage: 0, vehicles: ['VIN-1'] } },
      { at: iso(1), actor: 'timer', kind: 'stage_advanced', details: { stage: 1 } },
    ]);
    expect(await store.campaigns.events(other)).toEqual([{ at: iso(3), actor: 'bob', kind: 'started', details: null }]);
    expect(await store.campaigns.events(other + 1)).toEqual([]);
  });

  it('counts attacks of the campaign’s staged vehicles after a watermark (halt rules)', async () => {
    const store = await fresh();
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    const c = await registerVehicle(store, 'VIN-C');
    await store.campaigns.insertGroup('g', 'static', null, 'op', T0);
    const id = await store.campaigns.insertCampaign('c', 'g', '{}', 'op', T0);
    await store.campaigns.addVehicles(id, [
      { vin: 'VIN-A', rank: '1' },
      { vin: 'VIN-B', rank: '2' },
    ]);
    await store.campaigns.setVehicleStages(id, [{ vin: 'VIN-A', stage: 0, outcome: null }]);
    expect(await store.campaigns.lastAttackId()).toBe(0);
    const attack = (serial: string, code: string) => ({ attacks: [{ ecuSerial: serial, code, message: `${code} seen` }] });
    await store.intake.receive('VIN-A', body('1'), 0, () => accept(1, null, attack(a.primary, 'before')));
    const watermark = await store.campaigns.lastAttackId();
    expect(watermark).toBeGreaterThan(0);
    await store.intake.receive('VIN-A', body('2'), 0, () => accept(2, null, attack(a.secondary, 'after-staged')));
    await store.intake.receive('VIN-B', body('3'), 0, () => accept(3, null, attack(b.primary, 'after-unstaged')));
    await store.intake.receive('VIN-C', body('4'), 0, () => accept(4, null, attack(c.primary, 'after-outsider')));
    await store.intake.receive('VIN-A', body('5'), 0, () => accept(5, null, attack(a.primary, 'after-staged-2')));
    expect(await store.campaigns.lastAttackId()).toBeGreaterThan(watermark);
    expect(await store.campaigns.attacksAfter(id, watermark)).toEqual([
      { vin: 'VIN-A', ecu_serial: a.secondary, code: 'after-staged', message: 'after-staged seen', reported_at: iso(2) },
      { vin: 'VIN-A', ecu_serial: a.primary, code: 'after-staged-2', message: 'after-staged-2 seen', reported_at: iso(5) },
    ]);
    expect((await store.campaigns.attacksAfter(id, 0)).map((x) => x.code)).toEqual(['before', 'after-staged', 'after-staged-2']);
    expect(await store.campaigns.attacksAfter(id, await store.campaigns.lastAttackId())).toEqual([]);
  });
}
