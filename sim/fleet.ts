// The fleet simulator: N simulated vehicles (a primary with M secondaries each) in one process,
// deterministic from a seed, against running repositories. It registers the vehicles with the
// Director, runs update cycles with bounded concurrency, injects faults and attacks into a chosen
// share of vehicles, and summarizes what happened. A small programmatic API for tests: start a
// fleet, run rounds, wait until a condition holds, read each vehicle's state.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PowerCut, simulatedBootCheck, type AbSlotsOptions, type InstallStep } from '../shared/ecu/ab-slots.js';
import { healthCheckFromSpec, type HealthCheckSpec } from '../shared/ecu/health-check.js';
import { SimulationProfileError, UptaneError } from '../shared/core/errors.js';
import type { Clock } from '../shared/core/clock.js';
import type { SecurityProfile } from '../shared/core/security-profile.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import type { CycleResult } from '../primary-ecu/primary.js';
import type { GatewayStats } from '../gateway/gateway.js';
import type { GatewayLimits } from '../gateway/limits.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import type { NetworkBehaviour } from './network-faults.js';
import { behaviourLayer, VehicleNetwork } from './vehicle-network.js';
import { SimulatedVehicle } from './vehicle.js';

export interface FleetFaults {
  /** Share (0..1) of vehicles driving when the run starts (they install only once parked). */
  readonly driving?: number;
  /** Share of vehicles whose first download of each image is cut midway (they resume). */
  readonly interruptedDownloads?: number;
  /** Share of vehicles whose downloads are too slow (slow retrieval: reported, no install). */
  readonly slowDownloads?: number;
  /** Share of vehicles whose secondaries' new images fail the boot check (rolled back). */
  readonly failingBoots?: number;
  /** Share of vehicles that lose power once during an install (they recover on restart). */
  readonly powerCuts?: number;
  /** Share of vehicles behind a network attacker. */
  readonly attacked?: number;
  readonly attack?: Extract<NetworkBehaviour['kind'], 'tamper-images' | 'replay-director-metadata'>;
}

/** One kind of vehicle in a fleet: its ECUs, how they are wired, and which faults a share of them carries. */
export interface VehicleGroup {
  /** The profile's name: reported with each cycle. */
  readonly name: string;
  readonly count: number;
  /** Each ECU's serial is `<VIN>-<name>`. */
  /** `health`: the ECU's post-install health check (shared/ecu/health-check.ts); absent, it commits after the boot check. */
  /** `securityProfile`: as `uptane vehicle provision --ecu-profile` (docs/security-profiles.md); the default of its verification when absent. */
  readonly primary: { readonly name: string; readonly hardwareId: string; readonly health?: HealthCheckSpec; readonly securityProfile?: SecurityProfile };
  readonly secondaries: ReadonlyArray<{
    readonly name: string;
    readonly hardwareId: string;
    readonly verification?: 'partial' | 'full';
    readonly health?: HealthCheckSpec;
    readonly securityProfile?: SecurityProfile;
  }>;
  /**
   * How the primary reaches its secondaries, and with `mqtt` its Director too, through the fleet's
   * broker (FleetOptions.mqtt).
   */
  readonly transport?: 'in-process' | 'http' | 'mqtt';
  /**
   * How the vehicle reaches the repositories: `direct` (default), or `gateway`: through the one
   * caching gateway the fleet starts in front of both (gateway/, docs/gateway.md), which is then its
   * only address for both; with transport `mqtt` the Director is still reached through the broker.
   */
  readonly via?: 'direct' | 'gateway';
  readonly faults?: FleetFaults;
}

export interface FleetOptions {
  readonly size: number;
  readonly secondariesPerVehicle: number;
  readonly seed: string;
  readonly directory: string;
  readonly directorUrl: string;
  readonly imageRepoUrl: string;
  readonly directorRoot: Uint8Array;
  readonly imageRoot: Uint8Array;
  readonly clock: Clock;
  /** Registers a vehicle with the Director (the operator API); omitted when already registered. */
  readonly register?: (registration: ReturnType<SimulatedVehicle['registration']>) => Promise<void>;
  readonly faults?: FleetFaults;
  /**
   * Vehicle kinds (YAML profiles, sim/control/profile.ts), VINs numbered across them in order; when
   * given they replace `size`, `secondariesPerVehicle` and `faults`.
   */
  readonly groups?: readonly VehicleGroup[];
  /** Vehicles cycling at the same time. */
  readonly concurrency?: number;
  readonly log?: (line: string) => void;
  /** TLS: the CA bundle the servers' certificates chain to (PEM); then every vehicle speaks TLS only. */
  readonly tls?: ClientTlsConfig;
  /** A client certificate for each vehicle's primary (mutual TLS with the Director), issued as the vehicle is provisioned. */
  readonly clientCertificate?: (vin: string, primarySerial: string) => Promise<{ readonly certPem: string; readonly keyPem: string }>;
  /**
   * The broker of the vehicles whose group's transport is `mqtt`: each vehicle's login URL (the ACL
   * keeps it to its VIN's topics) and the CA of an mqtts:// broker. The Director must be bridged to it.
   */
  readonly mqtt?: { readonly url: (vin: string) => string; readonly ca?: string };
  /**
   * The gateway the fleet starts when a group goes `via: gateway` (in `<directory>/gateway`, on a
   * loopback port, closed with the fleet): its limits (metadata freshness, cache cap).
   */
  readonly gateway?: { readonly limits?: Partial<GatewayLimits> };
}

/** What the simulator injects into one vehicle now; switched at run time (sim/control/simulated-fleet.ts). */
export interface VehicleControls {
  /** Faults and attackers on its path to the repositories. */
  readonly network: VehicleNetwork;
  /** Its secondaries' new images fail the boot check (rolled back). */
  failingBoots: boolean;
  /** Power goes once, at the next install's boot check; cleared when it has. */
  powerCut: boolean;
}

export interface VehicleRecord {
  readonly vehicle: SimulatedVehicle;
  /** The profile it was made from. */
  readonly group: string;
  /** What the seed picked at the start (the controls may have changed since). */
  readonly traits: { driving: boolean; network: NetworkBehaviour['kind'] | null; failingBoots: boolean; powerCut: boolean };
  readonly controls: VehicleControls;
  readonly results: CycleResult[];
}

/** One update cycle of one vehicle, as the results (NDJSON, JUnit) report it. */
export interface CycleRecord {
  readonly round: number;
  readonly vin: string;
  readonly profile: string;
  /** The vehicle's clock when the cycle started (ISO 8601). */
  readonly at: string;
  readonly ms: number;
  readonly status: CycleResult['status'];
  readonly error?: { readonly code: string; readonly message: string };
  /** Per ECU serial: the install's outcome, when one was attempted. */
  readonly outcomes: CycleResult['outcomes'];
}

export interface FleetSummary {
  readonly vehicles: number;
  readonly ecus: number;
  readonly cycles: number;
  readonly byStatus: Record<CycleResult['status'], number>;
  readonly installs: number;
  readonly rolledBack: number;
  readonly attacksDetected: number;
  readonly errors: Record<string, number>;
  readonly seconds: number;
  readonly cyclesPerSecond: number;
  readonly cycleMs: { p50: number; p95: number; max: number };
  /** The fleet's gateway, when a group goes through one: upstream image downloads and what it served. */
  readonly gateway?: Pick<GatewayStats, 'imageFills' | 'imageFillBytes' | 'imageHits' | 'imageJoins' | 'directorRequests'>;
}

/** Hardware ids of simulated ECUs: the primary is a telematics unit, secondaries numbered. */
export const SIM_PRIMARY_HARDWARE = 'sim-tcu';
export const simSecondaryHardware = (i: number) => `sim-ecu-${i + 1}`;

/** The one kind of vehicle of a fleet given by size: a sim-tcu primary and `secondaries` sim-ecu-N secondaries. */
export function defaultGroup(size: number, secondaries: number, faults: FleetFaults = {}): VehicleGroup {
  return {
    name: 'sim',
    count: size,
    primary: { name: 'tcu', hardwareId: SIM_PRIMARY_HARDWARE },
    secondaries: Array.from({ length: secondaries }, (_, s) => ({ name: `ecu${s + 1}`, hardwareId: simSecondaryHardware(s) })),
    faults,
  };
}

/** A deterministic number in [0, 1) for (seed, label): the same seed always picks the same vehicles. */
export function seededFraction(seed: string, label: string): number {
  return createHash('sha256').update(`${seed}:${label}`).digest().readUInt32BE(0) / 2 ** 32;
}

export class Fleet {
  readonly records: VehicleRecord[] = [];
  /** Vehicles an earlier run provisioned in the same folder, continued rather than made anew. */
  continued = 0;
  /** Rounds run so far (the cycles' round numbers). */
  rounds = 0;
  private readonly cycleTimes: number[] = [];
  private started = 0;
  private readonly clients: HttpFetcher[] = [];
  /** The caching gateway in front of both repositories, started when a group goes `via: gateway`. */
  gateway: RunningGateway | undefined;
  /** Closed with the fleet; its counts stay readable for the summary. */
  private gatewayClosed = false;

  private constructor(readonly options: FleetOptions) {}

  static vinFor(seed: string, index: number): string {
    return `SIM${seed.replace(/[^A-Za-z0-9]/g, '').slice(0, 6).toUpperCase()}${String(index).padStart(8, '0')}`;
  }

  /** Provisions and registers every vehicle (deterministic from the seed), ready to cycle. */
  static async start(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(options);
    mkdirSync(options.directory, { recursive: true });
    const groups = options.groups ?? [defaultGroup(options.size, options.secondariesPerVehicle, options.faults)];
    const total = groups.reduce((n, g) => n + g.count, 0);
    const fetcherConfig = { speedGracePeriodMs: 2_000, minBytesPerSecond: 512 };
    // One client for every vehicle, unless each presents a certificate of its own.
    const shared = options.clientCertificate === undefined ? new HttpFetcher({ ...fetcherConfig, tls: options.tls }) : undefined;
    if (shared !== undefined) fleet.clients.push(shared);
    try {
      if (groups.some((g) => g.via === 'gateway')) fleet.gateway = await startFleetGateway(options);
      await fleet.provision(groups, total, fetcherConfig, shared);
    } catch (err) {
      await fleet.close();
      throw err;
    }
    return fleet;
  }

  private async provision(
    groups: readonly VehicleGroup[],
    total: number,
    fetcherConfig: { readonly speedGracePeriodMs: number; readonly minBytesPerSecond: number },
    shared: HttpFetcher | undefined,
  ): Promise<void> {
    const { options } = this;
    let i = 0;
    for (const group of groups) {
      const faults = group.faults ?? {};
      for (let n = 0; n < group.count; n++, i++) {
        const vin = Fleet.vinFor(options.seed, i);
        const pick = (name: string, share: number | undefined) => share !== undefined && share > 0 && seededFraction(options.seed, `${vin}:${name}`) < share;
        const network: NetworkBehaviour['kind'] | null = pick('attacked', faults.attacked)
          ? (faults.attack ?? 'tamper-images')
          : pick('interrupt', faults.interruptedDownloads)
            ? 'interrupt-downloads'
            : pick('slow', faults.slowDownloads)
              ? 'slow-downloads'
              : null;
        const traits = { driving: pick('driving', faults.driving), network, failingBoots: pick('boot', faults.failingBoots), powerCut: pick('power', faults.powerCuts) };
        const secondaries = group.secondaries.map((ecu) => ({ serial: `${vin}-${ecu.name}`, hardwareId: ecu.hardwareId, verification: ecu.verification, securityProfile: ecu.securityProfile }));
        const primarySerial = `${vin}-${group.primary.name}`;
        const certificate = await options.clientCertificate?.(vin, primarySerial);
        let base = shared;
        if (base === undefined) {
          base = new HttpFetcher({ ...fetcherConfig, tls: { ...options.tls, cert: certificate?.certPem, key: certificate?.keyPem } });
          this.clients.push(base);
        }
        const controls: VehicleControls = { network: new VehicleNetwork(base, vin), failingBoots: traits.failingBoots, powerCut: traits.powerCut };
        if (network !== null) controls.network.set(behaviourLayer(network), true);
        const slots: Record<string, AbSlotsOptions> = {};
        const folder = join(options.directory, vin);
        const healthOf = (spec: HealthCheckSpec | undefined, serial: string) => (spec === undefined ? {} : { healthCheck: healthCheckFromSpec(spec, join(folder, serial)) });
        secondaries.forEach((ecu, i) => (slots[ecu.serial] = { ...slotOptions(controls), ...healthOf(group.secondaries[i]!.health, ecu.serial) }));
        if (group.primary.health !== undefined) slots[primarySerial] = healthOf(group.primary.health, primarySerial);
        const continued = SimulatedVehicle.provisionedIn(folder, primarySerial);
        // Through the gateway, it is the vehicle's one address for both repositories.
        const via = group.via === 'gateway' ? this.gateway!.url : undefined;
        const vehicle = await (continued ? SimulatedVehicle.open : SimulatedVehicle.create)({
          directory: folder,
          vin,
          primary: { serial: primarySerial, hardwareId: group.primary.hardwareId, securityProfile: group.primary.securityProfile },
          secondaries,
          directorUrl: via ?? options.directorUrl,
          imageRepoUrl: via ?? options.imageRepoUrl,
          directorRoot: options.directorRoot,
          imageRoot: options.imageRoot,
          clock: options.clock,
          seed: options.seed,
          // Simulated ECUs verify with OpenSSL: the noble backend is for real firmware-like clients,
          // and at fleet scale the simulator must not be the bottleneck it measures.
          backend: nodeBackend,
          fetcher: controls.network,
          slots,
          transport: group.transport,
          ...(group.transport === 'mqtt' ? { mqtt: mqttOf(options, vin) } : {}),
        });
        if (traits.driving) vehicle.state.set('driving');
        // A continued vehicle was registered by the run that provisioned it.
        if (!continued) await options.register?.(vehicle.registration());
        else this.continued++;
        this.records.push({ vehicle, group: group.name, traits, controls, results: [] });
        if ((i + 1) % 100 === 0) options.log?.(`provisioned ${i + 1}/${total} vehicles`);
      }
    }
  }

  /** Parks every driving vehicle (they install on their next cycle). */
  parkAll(): void {
    for (const record of this.records) record.vehicle.state.set('parked');
  }

  /**
   * Runs one update cycle on every vehicle (or on `only` these), `concurrency` at a time, and returns
   * the round's cycles. A typed failure outside the cycle's own handling (the Director refusing a
   * manifest for good) is that vehicle's failed cycle, not the end of the round.
   */
  async runRound(onProgress?: (done: number, total: number) => void, only?: readonly VehicleRecord[]): Promise<CycleRecord[]> {
    if (this.started === 0) this.started = performance.now();
    const round = ++this.rounds;
    const order = only ?? this.records;
    const queue = order.map((record, index) => ({ record, index }));
    const total = queue.length;
    // In the fleet's order, whichever vehicle finishes first: the same run gives the same results.
    const cycles: CycleRecord[] = new Array<CycleRecord>(total);
    let done = 0;
    const worker = async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const { record, index } = next;
        const at = this.options.clock.now().toISOString();
        const started = performance.now();
        let result: CycleResult;
        try {
          result = await record.vehicle.primary.runCycle();
        } catch (err) {
          if (err instanceof PowerCut) {
            // The vehicle lost power mid-install: it restarts and recovers from its folders.
            await record.vehicle.start();
            result = { status: 'failed', manifestSent: false, error: { code: 'power_cut', message: err.message }, outcomes: {} };
          } else if (err instanceof UptaneError) {
            result = { status: 'failed', manifestSent: false, error: { code: err.code, message: err.message }, outcomes: {} };
          } else {
            throw err;
          }
        }
        const ms = performance.now() - started;
        this.cycleTimes.push(ms);
        record.results.push(result);
        cycles[index] = {
          round,
          vin: record.vehicle.spec.vin,
          profile: record.group,
          at,
          ms: Math.round(ms),
          status: result.status,
          ...(result.error === undefined ? {} : { error: result.error }),
          outcomes: result.outcomes,
        };
        onProgress?.(++done, total);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency ?? 8) }, worker));
    return cycles;
  }

  /** Closes what the fleet holds open: the secondaries' HTTP servers, the vehicles' connections, the gateway. */
  async close(): Promise<void> {
    for (const record of this.records) await record.vehicle.close();
    for (const client of this.clients) client.close();
    if (this.gateway !== undefined && !this.gatewayClosed) {
      this.gatewayClosed = true;
      await this.gateway.close();
    }
  }

  /** Runs rounds until `condition` holds or `maxRounds` ran; returns whether it holds. */
  async waitUntil(condition: (fleet: Fleet) => boolean | Promise<boolean>, maxRounds = 10): Promise<boolean> {
    for (let round = 0; round < maxRounds; round++) {
      if (await condition(this)) return true;
      await this.runRound();
    }
    return condition(this);
  }

  /** Every ECU of every vehicle runs the image it was last assigned? Reads each vehicle's slots. */
  installedImages(): Array<{ vin: string; installed: Record<string, string> }> {
    return this.records.map((r) => ({ vin: r.vehicle.spec.vin, installed: r.vehicle.installed() }));
  }

  summary(): FleetSummary {
    const results = this.records.flatMap((r) => r.results);
    const byStatus: FleetSummary['byStatus'] = { 'no-update': 0, installed: 0, deferred: 0, failed: 0 };
    const errors: Record<string, number> = {};
    let installs = 0;
    let rolledBack = 0;
    for (const result of results) {
      byStatus[result.status]++;
      if (result.error !== undefined) errors[result.error.code] = (errors[result.error.code] ?? 0) + 1;
      for (const outcome of Object.values(result.outcomes)) {
        if (outcome.status === 'installed') installs++;
        if (outcome.status === 'rolled_back') rolledBack++;
      }
    }
    const attacksDetected = results.filter((r) => r.error !== undefined && r.error.code !== 'power_cut' && r.error.code !== 'fetch_failed').length;
    const sorted = [...this.cycleTimes].sort((a, b) => a - b);
    const quantile = (q: number) => (sorted.length === 0 ? 0 : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!));
    const seconds = this.started === 0 ? 0 : (performance.now() - this.started) / 1000;
    return {
      vehicles: this.records.length,
      ecus: this.records.reduce((n, r) => n + 1 + r.vehicle.spec.secondaries.length, 0),
      cycles: results.length,
      byStatus,
      installs,
      rolledBack,
      attacksDetected,
      errors,
      seconds: Math.round(seconds * 10) / 10,
      cyclesPerSecond: seconds === 0 ? 0 : Math.round((results.length / seconds) * 10) / 10,
      cycleMs: { p50: quantile(0.5), p95: quantile(0.95), max: quantile(1) },
      ...(this.gateway === undefined ? {} : { gateway: gatewaySummary(this.gateway.gateway.stats()) }),
    };
  }
}

/** Boot failures and one power cut, read from the vehicle's controls at each install, so a test can switch them. */
function slotOptions(controls: VehicleControls): AbSlotsOptions {
  return {
    bootCheck: async (image, path) => !controls.failingBoots && (await simulatedBootCheck(image, path)),
    // Power goes once, right after the switch to the new slot: the hardest moment to lose it.
    faultAt: (at: InstallStep) => {
      if (controls.powerCut && at === 'boot-check') {
        controls.powerCut = false;
        throw new PowerCut(at);
      }
    },
  };
}

/** A vehicle's broker login for transport `mqtt`; a fleet without a broker cannot run such a group. */
function mqttOf(options: FleetOptions, vin: string): { readonly url: string; readonly ca?: string } {
  if (options.mqtt === undefined) throw new SimulationProfileError(`vehicle ${vin}: transport mqtt needs a broker (the fleet's mqtt option)`);
  return { url: options.mqtt.url(vin), ...(options.mqtt.ca === undefined ? {} : { ca: options.mqtt.ca }) };
}

/**
 * The fleet's caching gateway in front of both repositories, on a loopback port, its cache in the
 * fleet's folder. The vehicles' TLS stops at a gateway (it answers over plain HTTP here), so a fleet
 * on TLS or with client certificates cannot go through it.
 */
async function startFleetGateway(options: FleetOptions): Promise<RunningGateway> {
  if (options.tls !== undefined || options.clientCertificate !== undefined) {
    throw new SimulationProfileError('via: gateway: the simulator\'s gateway answers over plain HTTP, so it cannot stand in a fleet on TLS (--ca) or mutual TLS');
  }
  return startGateway({
    upstreamImage: options.imageRepoUrl,
    upstreamDirector: options.directorUrl,
    cacheDir: join(options.directory, 'gateway'),
    limits: options.gateway?.limits,
    log: options.log === undefined ? undefined : (line) => options.log!(`gateway: ${line}`),
  });
}

function gatewaySummary(stats: GatewayStats): NonNullable<FleetSummary['gateway']> {
  const { imageFills, imageFillBytes, imageHits, imageJoins, directorRequests } = stats;
  return { imageFills, imageFillBytes, imageHits, imageJoins, directorRequests };
}
