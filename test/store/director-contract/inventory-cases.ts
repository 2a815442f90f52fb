// Inventory: vehicles (keyset pagination), ECUs (primary first, one key each), version reports.
import type { ContractContext } from './context.js';
import { T0, at, ecu, image, iso, registerVehicle, sha256Hex } from './fixtures.js';

export function inventoryCases({ fresh }: ContractContext): void {
  it('stores a vehicle with its attributes and registration time; an unknown VIN is undefined', async () => {
    const store = await fresh();
    expect(await store.inventory.vehicle('VIN-A')).toBeUndefined();
    await store.inventory.insertVehicle('VIN-A', { model: 'sedan', region: 'eu' }, at(3));
    expect(await store.inventory.vehicle('VIN-A')).toEqual({ vin: 'VIN-A', attributes: { model: 'sedan', region: 'eu' }, registeredAt: iso(3) });
    expect(await store.inventory.vehicleState('VIN-A')).toBeNull();
    expect(await store.inventory.vehicleState('VIN-NONE')).toBeNull();
    expect(await store.inventory.countVehicles()).toBe(1);
  });

  it('counts the fleet for /metrics: registered, and vehicles with a pending or in-flight assignment, each once', async () => {
    const store = await fresh();
    expect(await store.inventory.fleetCounts()).toEqual({ registered: 0, active: 0, pending: 0, inFlight: 0 });
    const a = await registerVehicle(store, 'VIN-A');
    const b = await registerVehicle(store, 'VIN-B');
    await registerVehicle(store, 'VIN-C');
    // VIN-A: two pending (one vehicle); VIN-B: one in flight, one installed (not active).
    const [, , inFlight, installed] = await store.assignments.insert([image('VIN-A', a.primary), image('VIN-A', a.secondary), image('VIN-B', b.secondary), image('VIN-B', b.primary)], { actor: 'op', now: T0 });
    await store.assignments.setState(inFlight!, 'in_flight', null, at(1));
    await store.assignments.setState(installed!, 'installed', null, at(1));
    expect(await store.inventory.fleetCounts()).toEqual({ registered: 3, active: 2, pending: 1, inFlight: 1 });
  });

  it('replaces a vehicle’s attributes, keeping their order and everything else; an unknown VIN changes nothing', async () => {
    const store = await fresh();
    await store.inventory.insertVehicle('VIN-A', { model: 'sedan', region: 'eu' }, at(3));
    await store.inventory.insertVehicle('VIN-B', { model: 'truck' }, at(4));
    expect(await store.inventory.setAttributes('VIN-A', { region: 'us', model: 'sedan', trim: 'gt' })).toBe(true);
    const a = await store.inventory.vehicle('VIN-A');
    expect(a).toEqual({ vin: 'VIN-A', attributes: { region: 'us', model: 'sedan', trim: 'gt' }, registeredAt: iso(3) });
    expect(Object.keys(a!.attributes)).toEqual(['region', 'model', 'trim']);
    expect(await store.inventory.setAttributes('VIN-NONE', { model: 'x' })).toBe(false);
    expect(await store.inventory.vehicle('VIN-NONE')).toBeUndefined();
    expect(await store.inventory.vehicle('VIN-B')).toEqual({ vin: 'VIN-B', attributes: { model: 'truck' }, registeredAt: iso(4) });
    expect(await store.inventory.setAttributes('VIN-B', {})).toBe(true);
    expect((await store.inventory.vehicle('VIN-B'))!.attributes).toEqual({});
  });

  it('refuses a second vehicle with the same VIN and keeps the first', async () => {
    const store = await fresh();
    await store.inventory.insertVehicle('VIN-A', { model: 'sedan' }, T0);
    await expect(store.inventory.insertVehicle('VIN-A', { model: 'truck' }, at(1))).rejects.toThrow();
    expect(await store.inventory.vehicle('VIN-A')).toEqual({ vin: 'VIN-A', attributes: { model: 'sedan' }, registeredAt: iso(0) });
    expect(await store.inventory.countVehicles()).toBe(1);
  });

  it('lists vehicles in VIN order after a given VIN, page by page (keyset pagination)', async () => {
    const store = await fresh();
    const vins = ['VIN-07', 'VIN-02', 'VIN-10', 'VIN-01', 'VIN-05', 'VIN-03', 'VIN-09'];
    for (const vin of vins) await store.inventory.insertVehicle(vin, {}, T0);
    const sorted = [...vins].sort();
    const pages: string[][] = [];
    let after = '';
    // Bounded: a store that returned the cursor's own row again would otherwise page forever.
    for (let i = 0; i < 10; i++) {
      const page = (await store.inventory.listVehicles(after, 3)).map((v) => v.vin);
      if (page.length === 0) break;
      pages.push(page);
      after = page.at(-1)!;
    }
    expect(pages).toEqual([sorted.slice(0, 3), sorted.slice(3, 6), sorted.slice(6)]);
    // The cursor need not be a stored VIN; it is a strict lower bound.
    expect((await store.inventory.listVehicles('VIN-04', 2)).map((v) => v.vin)).toEqual(['VIN-05', 'VIN-07']);
    expect((await store.inventory.listVehicles('VIN-05', 100)).map((v) => v.vin)).toEqual(['VIN-07', 'VIN-09', 'VIN-10']);
    expect(await store.inventory.listVehicles('VIN-10', 5)).toEqual([]);
    expect(await store.inventory.listVehicles('', 0)).toEqual([]);
    expect((await store.inventory.listVehicles('', 1))[0]).toEqual({ vin: 'VIN-01', attributes: {}, registeredAt: iso(0) });
    expect(await store.inventory.countVehicles()).toBe(7);
  });

  it('orders VINs, serials and group names bytewise (as SQLite does), whatever the database’s locale', async () => {
    const store = await fresh();
    // Bytewise: '-' < 'B' < 'Z' < '_' < 'a' < 'c'; a language collation would mix the cases.
    const names = ['c3', 'B2', '_x', 'a1', 'Z9', '-y'];
    const bytewise = ['-y', 'B2', 'Z9', '_x', 'a1', 'c3'];
    await store.inventory.insertVehicle('VIN-E', {}, T0);
    await store.inventory.insertEcu(ecu('VIN-E', 'primary', true), T0);
    await store.campaigns.insertGroup('all', 'static', null, 'op', T0);
    for (const name of names) {
      await store.inventory.insertVehicle(name, {}, T0);
      await store.inventory.insertEcu(ecu('VIN-E', `s${name}`, false), T0);
      await store.campaigns.insertGroup(name, 'static', null, 'op', T0);
    }
    await store.campaigns.addMembers('all', names);
    // JavaScript's default sort compares UTF-16 code units: bytewise for these ASCII names.
    const withVehicleE = [...bytewise, 'VIN-E'].sort();
    expect((await store.inventory.listVehicles('', 100)).map((v) => v.vin)).toEqual(withVehicleE);
    expect((await store.inventory.listVehicles('Z9', 2)).map((v) => v.vin)).toEqual(['_x', 'a1']);
    expect((await store.inventory.ecusOf('VIN-E')).map((e) => e.serial)).toEqual(['primary', ...bytewise.map((n) => `s${n}`)]);
    expect((await store.campaigns.groups()).map((g) => g.name)).toEqual([...bytewise, 'all'].sort());
    expect(await store.campaigns.staticMembers('all')).toEqual(bytewise);
    expect(await store.campaigns.dynamicMembers({})).toEqual(withVehicleE);
  });

  it('lists a vehicle’s ECUs primary first, then by serial, with every field as registered', async () => {
    const store = await fresh();
    await store.inventory.insertVehicle('VIN-A', {}, T0);
    await store.inventory.insertEcu(ecu('VIN-A', 'a-secondary', false), at(1));
    await store.inventory.insertEcu(ecu('VIN-A', 'z-primary', true), at(2));
    await store.inventory.insertEcu(ecu('VIN-A', 'm-secondary', false, { encryptionPublicKey: 'ab'.repeat(32) }), at(3));
    const ecus = await store.inventory.ecusOf('VIN-A');
    expect(ecus.map((e) => e.serial)).toEqual(['z-primary', 'a-secondary', 'm-secondary']);
    expect(ecus[0]).toEqual({
      ...ecu('VIN-A', 'z-primary', true),
      encryptionPublicKey: null,
      lastCounter: null,
      installed: null,
      reportedAt: null,
      securityProfile: 'standard',
    });
    expect(ecus[2]!.encryptionPublicKey).toBe('ab'.repeat(32));
    expect(ecus[1]!.isPrimary).toBe(false);
    expect(await store.inventory.ecusOf('VIN-NONE')).toEqual([]);
  });

  it('stores each ECU’s security profile (standard when registration names none) and changes one ECU’s only', async () => {
    const store = await fresh();
    await store.inventory.insertVehicle('VIN-A', {}, T0);
    await store.inventory.insertEcu(ecu('VIN-A', 'p', true, { securityProfile: 'high' }), T0);
    await store.inventory.insertEcu(ecu('VIN-A', 's', false), T0);
    await store.inventory.insertEcu(ecu('VIN-A', 'b', false, { securityProfile: 'basic' }), T0);
    const profiles = async () => (await store.inventory.ecusOf('VIN-A')).map((e) => [e.serial, e.securityProfile]);
    expect(await profiles()).toEqual([['p', 'high'], ['b', 'basic'], ['s', 'standard']]);
    expect((await store.inventory.ecu('b'))!.securityProfile).toBe('basic');
    expect((await store.inventory.ecusOfVehicles(['VIN-A'])).get('VIN-A')!.map((e) => e.securityProfile)).toEqual(['high', 'basic', 'standard']);
    expect(await store.inventory.setEcuProfile('s', 'high')).toBe(true);
    expect(await store.inventory.setEcuProfile('nope', 'high')).toBe(false);
    expect(await profiles()).toEqual([['p', 'high'], ['b', 'basic'], ['s', 'high']]);
    // The column admits only profile names, whatever a caller passes past the type.
    await expect(store.inventory.setEcuProfile('s', 'ultra' as 'high')).rejects.toThrow();
    expect((await store.inventory.ecu('s'))!.securityProfile).toBe('high');
  });

  it('finds an ECU by serial, by keyid and by encryption key', async () => {
    const store = await fresh();
    await store.inventory.insertVehicle('VIN-A', {}, T0);
    await store.inventory.insertEcu(ecu('VIN-A', 'p', true, { encryptionPublicKey: 'cd'.repeat(32) }), T0);
    await store.inventory.insertEcu(ecu('VIN-A', 's', false), T0);
    expect((await store.inventory.ecu('s'))?.serial).toBe('s');
    expect((await store.inventory.ecuByKeyid(sha256Hex('key-s')))?.serial).toBe('s');
    expect((await store.inventory.ecuByEncryptionKey('cd'.repeat(32)))?.serial).toBe('p');
    expect(await store.inventory.ecu('nope')).toBeUndefined();
    expect(await store.inventory.ecuByKeyid(sha256Hex('key-nope'))).toBeUndefined();
    expect(await store.inventory.ecuByEncryptionKey('ef'.repeat(32))).toBeUndefined();
  });

  it('reads many vehicles’ ECUs at once, leaving out VINs without any', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    await registerVehicle(store, 'VIN-B');
    await store.inventory.insertVehicle('VIN-EMPTY', {}, T0);
    const found = await store.inventory.ecusOfVehicles(['VIN-B', 'VIN-EMPTY', 'VIN-A', 'VIN-NONE']);
    expect([...found.keys()].sort()).toEqual(['VIN-A', 'VIN-B']);
    expect(found.get('VIN-A')!.map((e) => e.serial)).toEqual(['VIN-A-p', 'VIN-A-s']);
    expect(found.get('VIN-B')!.map((e) => e.serial)).toEqual(['VIN-B-p', 'VIN-B-s']);
    expect((await store.inventory.ecusOfVehicles([])).size).toBe(0);
  });

  it('says which of many VINs, serials and keyids are registered, each ECU once with its vehicle (a registration file\'s dry run)', async () => {
    const store = await fresh();
    await registerVehicle(store, 'VIN-A');
    await registerVehicle(store, 'VIN-B');
    const found = await store.inventory.registered({ vins: ['VIN-B', 'VIN-NONE', 'VIN-A', 'VIN-A'], serials: ['VIN-A-p', 'nope', 'VIN-B-s'], keyids: [(await store.inventory.ecu('VIN-A-p'))!.keyid, sha256Hex('key-nope')] });
    expect(found.vins.sort()).toEqual(['VIN-A', 'VIN-B']);
    expect(found.ecus.map((e) => [e.serial, e.vin]).sort()).toEqual([['VIN-A-p', 'VIN-A'], ['VIN-B-s', 'VIN-B']]);
    expect(await store.inventory.registered({ vins: [], serials: [], keyids: [] })).toEqual({ vins: [], ecus: [] });
  });

  it('refuses an ECU whose serial, keyid or encryption key is taken, a second primary, or an unknown vehicle', async () => {
    const store = await fresh();
    await store.inventory.insertVehicle('VIN-A', {}, T0);
    await store.inventory.insertVehicle('VIN-B', {}, T0);
    await store.inventory.insertEcu(ecu('VIN-A', 'p', true, { encryptionPublicKey: '11'.repeat(32) }), T0);
    await expect(store.inventory.insertEcu(ecu('VIN-B', 'p', true, { keyid: sha256Hex('other') }), T0)).rejects.toThrow();
    await expect(store.inventory.insertEcu(ecu('VIN-B', 'q', true, { keyid: sha256Hex('key-p') }), T0)).rejects.toThrow();
    await expect(store.inventory.insertEcu(ecu('VIN-B', 'r', true, { encryptionPublicKey: '11'.repeat(32) }), T0)).rejects.toThrow();
    await expect(store.inventory.insertEcu(ecu('VIN-A', 'second-primary', true), T0)).rejects.toThrow();
    await expect(store.inventory.insertEcu(ecu('VIN-NONE', 'orphan', true), T0)).rejects.toThrow();
    expect((await store.inventory.ecusOf('VIN-A')).map((e) => e.serial)).toEqual(['p']);
    expect(await store.inventory.ecusOf('VIN-B')).toEqual([]);
    expect(await store.inventory.ecu('orphan')).toBeUndefined();
  });

  it('keeps an ECU’s version report: counter, installed image and time', async () => {
    const store = await fresh();
    const { primary, secondary } = await registerVehicle(store, 'VIN-A');
    const hashes = { sha256: sha256Hex('fw-2'), sha512: 'f'.repeat(128) };
    await store.inventory.recordEcuReport(primary, { counter: 7, filename: 'fw-2.bin', length: 2048, hashes, releaseCounter: 4 }, at(5));
    await store.inventory.recordEcuReport(secondary, { counter: 1, filename: 'sec.bin', length: 10, hashes: { sha256: sha256Hex('s') }, releaseCounter: null }, at(6));
    const reported = await store.inventory.ecu(primary);
    expect(reported).toMatchObject({ lastCounter: 7, installed: { filename: 'fw-2.bin', length: 2048, hashes, releaseCounter: 4 }, reportedAt: iso(5) });
    expect((await store.inventory.ecu(secondary))?.installed?.releaseCounter).toBeNull();
    // A later report replaces the earlier one.
    await store.inventory.recordEcuReport(primary, { counter: 8, filename: 'fw-3.bin', length: 4096, hashes: { sha256: sha256Hex('fw-3') }, releaseCounter: 5 }, at(9));
    expect(await store.inventory.ecu(primary)).toMatchObject({ lastCounter: 8, installed: { filename: 'fw-3.bin', releaseCounter: 5 }, reportedAt: iso(9) });
  });

  it('deletes an ECU, and with it its assignments; its serial and key can be registered again', async () => {
    const store = await fresh();
    const { primary, secondary } = await registerVehicle(store, 'VIN-A');
    await store.assignments.insert([{ vin: 'VIN-A', ecuSerial: secondary, filename: 'x.bin', length: 1, hashes: { sha256: sha256Hex('x') }, hardwareId: 'hw-secondary', releaseCounter: 1 }], { actor: 'op', now: T0 });
    await store.inventory.deleteEcu(secondary);
    expect(await store.inventory.ecu(secondary)).toBeUndefined();
    expect((await store.inventory.ecusOf('VIN-A')).map((e) => e.serial)).toEqual([primary]);
    expect(await store.assignments.active('VIN-A')).toEqual([]);
    expect(await store.assignments.ofVehicle('VIN-A', 10)).toEqual([]);
    await store.inventory.insertEcu(ecu('VIN-A', secondary, false), at(1));
    expect((await store.inventory.ecu(secondary))?.lastCounter).toBeNull();
    await store.inventory.deleteEcu('never-registered');
  });
}
