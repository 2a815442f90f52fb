// The simulator as a test harness: one object a test, `uptane sim run` and the HTTP control API
// (control-server.ts) all drive. It starts a fleet from a profile against running repositories
// (registering the vehicles and assigning images through the operator API), and lets the caller set
// a vehicle parked or driving, switch faults and attacks on and off while the fleet runs, move the
// vehicles' clock, step one update cycle, and read every cycle's result (NDJSON, JUnit: results.ts).
import { BadRequestError, NotFoundError, OperatorRequestError, SimulationStateError } from '../../shared/core/errors.js';
import type { Clock } from '../../shared/core/clock.js';
import type { DrivingState } from '../../shared/ecu/vehicle-state.js';
import type { ClientTlsConfig } from '../../shared/client/tls-client.js';
import type { OperatorClient } from '../../director-repo/operator-client.js';
import { Fleet, type CycleRecord, type FleetOptions, type FleetSummary, type VehicleRecord } from '../fleet.js';
import { behaviourLayer, type NetworkLayer } from '../vehicle-network.js';
import type { FleetProfile } from './profile.js';
import { SimulationClock } from './sim-clock.js';

/** Faults a test switches per vehicle: two on the network path, two in the ECUs' A/B slots. */
export const FAULTS = ['interrupt-downloads', 'slow-downloads', 'failing-boots', 'power-cut'] as const;
export type FaultName = (typeof FAULTS)[number];

/** The attacks every fleet knows; more are added by name with `defineAttack` (an attack catalogue). */
export const BUILT_IN_ATTACKS: readonly NetworkLayer[] = [behaviourLayer('tamper-images'), behaviourLayer('replay-director-metadata')];

export interface SimulatedFleetOptions {
  readonly profile: FleetProfile;
  /** Folder of the vehicles' state; a folder an earlier run used continues its vehicles. */
  readonly directory: string;
  readonly directorUrl: string;
  readonly imageRepoUrl: string;
  readonly directorRoot: Uint8Array;
  readonly imageRoot: Uint8Array;
  /** The clock the simulation clock runs on: the system's, or a test's FixedClock. */
  readonly clock: Clock;
  /** The Director's operator API: registers the vehicles and makes the profile's assignments. Without it, both are left to the caller. */
  readonly operator?: OperatorClient;
  /** Register the new vehicles through `operator` (default true); false when they are registered already. */
  readonly register?: boolean;
  readonly tls?: ClientTlsConfig;
  readonly clientCertificate?: (vin: string, primarySerial: string) => Promise<{ readonly certPem: string; readonly keyPem: string }>;
  /** The broker of profile kinds with `transport: mqtt` (sim/fleet.ts FleetOptions.mqtt). */
  readonly mqtt?: FleetOptions['mqtt'];
  /** Progress lines (provisioning, assignments). */
  readonly log?: (line: string) => void;
}

/** One vehicle as the control API shows it. */
export interface VehicleView {
  readonly vin: string;
  readonly profile: string;
  readonly state: DrivingState;
  readonly faults: string[];
  readonly attacks: string[];
  /** Image by ECU serial. */
  readonly installed: Record<string, string>;
  readonly lastCycle: CycleRecord | null;
}

export interface FleetResults {
  readonly summary: FleetSummary;
  readonly cycles: readonly CycleRecord[];
}

/** Which vehicles a control applies to: the named VINs, or every vehicle. */
export type VehicleSelection = readonly string[] | undefined;

export class SimulatedFleet {
  private readonly attacks = new Map<string, NetworkLayer>(BUILT_IN_ATTACKS.map((a) => [a.name, a]));
  private readonly cycles: CycleRecord[] = [];
  private readonly byVin = new Map<string, VehicleRecord>();
  private readonly lastCycle = new Map<string, CycleRecord>();
  private stepping = false;

  private constructor(
    readonly fleet: Fleet,
    readonly clock: SimulationClock,
    readonly profile: FleetProfile,
    /** Vehicles the Director knew before this run registered them: another run's fleet of the same seed. */
    readonly alreadyRegistered: number,
  ) {
    for (const record of fleet.records) this.byVin.set(record.vehicle.spec.vin, record);
  }

  /** Provisions (or continues) the profile's vehicles, registers the new ones and makes the profile's assignments. */
  static async start(options: SimulatedFleetOptions): Promise<SimulatedFleet> {
    const { profile, operator } = options;
    const clock = new SimulationClock(options.clock);
    let alreadyRegistered = 0;
    const fleet = await Fleet.start({
      size: 0,
      secondariesPerVehicle: 0,
      groups: profile.groups,
      seed: profile.seed,
      directory: options.directory,
      directorUrl: options.directorUrl,
      imageRepoUrl: options.imageRepoUrl,
      directorRoot: options.directorRoot,
      imageRoot: options.imageRoot,
      clock,
      concurrency: profile.concurrency,
      log: options.log,
      tls: options.tls,
      clientCertificate: options.clientCertificate,
      mqtt: options.mqtt,
      register:
        operator === undefined || options.register === false
          ? undefined
          : async (registration) => {
              try {
                await operator.call('POST', '/api/v1/vehicles', `register ${registration.vin}`, registration);
              } catch (err) {
                if (!(err instanceof OperatorRequestError && err.status === 409)) throw err;
                alreadyRegistered++;
              }
            },
    });
    const simulated = new SimulatedFleet(fleet, clock, profile, alreadyRegistered);
    if (operator !== undefined) {
      for (const { hardwareId, image } of profile.assign) {
        const { made, already } = await simulated.assign(operator, hardwareId, image);
        options.log?.(`assigned ${image} to the ${hardwareId} ECUs of ${made} vehicles${already > 0 ? ` (${already} had it assigned already)` : ''}`);
      }
    }
    return simulated;
  }

  get vins(): string[] {
    return [...this.byVin.keys()];
  }

  /**
   * Assigns `image` to the ECUs of `hardwareId` in every vehicle that has one: how many assignments
   * were made, and how many vehicles had one already (left as they are).
   */
  async assign(operator: OperatorClient, hardwareId: string, image: string): Promise<{ made: number; already: number }> {
    let made = 0;
    const holders = this.fleet.records.filter((r) => [r.vehicle.spec.primary, ...r.vehicle.spec.secondaries].some((e) => e.hardwareId === hardwareId));
    if (holders.length === 0) throw new BadRequestError(`no simulated ECU has hardware id ${hardwareId} (the profile's hardware ids: ${this.hardwareIds().join(', ')})`);
    for (const record of holders) {
      try {
        await operator.call('POST', '/api/v1/assignments', `assign ${image} to ${record.vehicle.spec.vin}`, { vin: record.vehicle.spec.vin, hardwareId, image });
        made++;
      } catch (err) {
        if (!(err instanceof OperatorRequestError && err.status === 409)) throw err;
      }
    }
    return { made, already: holders.length - made };
  }

  /** Makes `attack` known by its name, for `setAttack` (an attack catalogue registers its own). */
  defineAttack(attack: NetworkLayer): void {
    if ((FAULTS as readonly string[]).includes(attack.name)) throw new BadRequestError(`${attack.name} names a fault, not an attack`);
    this.attacks.set(attack.name, attack);
  }

  attackNames(): string[] {
    return [...this.attacks.keys()];
  }

  /** Parks a vehicle or sets it driving; a driving vehicle verifies but defers every install. */
  setVehicleState(vin: string, state: DrivingState): void {
    if (state !== 'parked' && state !== 'driving') throw new BadRequestError(`state ${JSON.stringify(state)}: give parked or driving`);
    this.record(vin).vehicle.state.set(state);
  }

  /** Switches a fault on or off for the selected vehicles; it takes effect at their next request or install. */
  setFault(name: string, on: boolean, vins?: VehicleSelection): void {
    if (!(FAULTS as readonly string[]).includes(name)) throw new BadRequestError(`no fault named ${JSON.stringify(name)}: the faults are ${FAULTS.join(', ')}`);
    for (const record of this.select(vins)) {
      const controls = record.controls;
      if (name === 'failing-boots') controls.failingBoots = on;
      else if (name === 'power-cut') controls.powerCut = on;
      else controls.network.set(behaviourLayer(name as 'interrupt-downloads' | 'slow-downloads'), on);
    }
  }

  /** Switches an attacker on or off on the selected vehicles' network path. */
  setAttack(name: string, on: boolean, vins?: VehicleSelection): void {
    const attack = this.attacks.get(name);
    if (attack === undefined) throw new BadRequestError(`no attack named ${JSON.stringify(name)}: the attacks are ${this.attackNames().join(', ')}`);
    for (const record of this.select(vins)) record.controls.network.set(attack, on);
  }

  /** Runs one update cycle on the selected vehicles (all by default) and returns its cycles. One step at a time. */
  async step(vins?: VehicleSelection, onProgress?: (done: number, total: number) => void): Promise<CycleRecord[]> {
    if (this.stepping) throw new SimulationStateError('a step is already running: wait for its answer');
    const records = this.select(vins);
    this.stepping = true;
    try {
      const cycles = await this.fleet.runRound(onProgress, records);
      this.cycles.push(...cycles);
      for (const cycle of cycles) this.lastCycle.set(cycle.vin, cycle);
      return cycles;
    } finally {
      this.stepping = false;
    }
  }

  /** Every cycle so far, with the fleet's summary. */
  results(): FleetResults {
    return { summary: this.fleet.summary(), cycles: [...this.cycles] };
  }

  vehicle(vin: string): VehicleView {
    return this.view(this.record(vin));
  }

  vehicles(): VehicleView[] {
    return this.fleet.records.map((r) => this.view(r));
  }

  hardwareIds(): string[] {
    return [...new Set(this.fleet.records.flatMap((r) => [r.vehicle.spec.primary, ...r.vehicle.spec.secondaries].map((e) => e.hardwareId)))];
  }

  async close(): Promise<void> {
    await this.fleet.close();
  }

  private view(record: VehicleRecord): VehicleView {
    const { controls, vehicle } = record;
    const network = controls.network.active();
    const vin = vehicle.spec.vin;
    return {
      vin,
      profile: record.group,
      state: vehicle.state.current(),
      faults: [...network.filter((n) => (FAULTS as readonly string[]).includes(n)), ...(controls.failingBoots ? ['failing-boots'] : []), ...(controls.powerCut ? ['power-cut'] : [])],
      attacks: network.filter((n) => !(FAULTS as readonly string[]).includes(n)),
      installed: vehicle.installed(),
      lastCycle: this.lastCycle.get(vin) ?? null,
    };
  }

  private record(vin: string): VehicleRecord {
    const record = this.byVin.get(vin);
    if (record === undefined) throw new NotFoundError(`no simulated vehicle ${vin} in this fleet (its VINs run from ${this.vins[0]} to ${this.vins.at(-1)})`);
    return record;
  }

  private select(vins: VehicleSelection): VehicleRecord[] {
    return vins === undefined ? this.fleet.records : vins.map((vin) => this.record(vin));
  }
}
