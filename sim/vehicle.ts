// A simulated vehicle: one primary and its secondaries in one process, wired by the in-process
// transport, each with its own state folder, keys (signing and encryption) derived from a seed label
// (deterministic), and a vehicle state the simulator controls. The ECUs are provisioned as
// `uptane vehicle provision` does (vehicle/provision.ts).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AbSlotsOptions } from '../shared/ecu/ab-slots.js';
import type { Clock } from '../shared/core/clock.js';
import type { Ed25519Backend } from '../shared/core/crypto/ed25519.js';
import { createHash } from 'node:crypto';
import type { EcuKeyType } from '../shared/core/crypto/ecu-keys.js';
import type { PrivateKey } from '../shared/core/crypto/keys.js';
import { EncryptionKeyPair } from '../shared/core/crypto/image-encryption.js';
import type { Fetcher } from '../shared/client/fetcher.js';
import { HttpSecondaryClient, type SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import { MemoryVehicleState } from '../shared/ecu/vehicle-state.js';
import type { DirectorChannelFactory } from '../shared/uptane/director-channel.js';
import { Primary } from '../primary-ecu/primary.js';
import { Secondary } from '../secondary-ecu/secondary.js';
import { serveSecondary, type RunningSecondaryServer } from '../secondary-ecu/http-server.js';
import { mqttDirectorChannel } from '../shared/transport-mqtt/director-channel-mqtt.js';
import { MqttSecondaryClient, serveSecondaryOverMqtt } from '../shared/transport-mqtt/secondary-mqtt.js';
import { fixtureEcuKey } from './harness/fixture-keys.js';
import { factoryImage, provisionEcus, vehicleRegistration, type EcuKeyPairs, type VehiclePlan, type VehicleRegistrationBody } from '../vehicle/provision.js';
import { ConstrainedSecondary, DEFAULT_CONSTRAINED_MAX_IMAGE_BYTES } from '../secondary-ecu/constrained/constrained-secondary.js';
import { provisionSuitBridge } from '../primary-ecu/suit-bridge.js';
import { SUIT_COMPONENT_ID, suitClassId, suitKeyPemFromSeed, suitPublicKeyRaw, suitVendorId } from '../shared/suit/identity.js';

/** A simulated vehicle: the factory's plan for it, the folder it lives in and its clock. */
export interface SimulatedVehicleSpec extends VehiclePlan {
  readonly directory: string;
  readonly clock: Clock;
  /** Seed for the ECU keys; the same seed gives the same keys. */
  readonly seed?: string;
  /** Signing key type by serial (an ECU whose hardware signs only with ECDSA); Ed25519 for the others. */
  readonly keyTypes?: Readonly<Record<string, EcuKeyType>>;
  readonly backend?: Ed25519Backend;
  readonly fetcher?: Fetcher;
  /** The primary's link to the Director; HTTP through `fetcher` unless given (a test vector's replay serves files). */
  readonly directorChannel?: DirectorChannelFactory;
  /** Per-ECU slot options (boot check, fault injection), by serial. */
  readonly slots?: Readonly<Record<string, AbSlotsOptions>>;
  /** Wraps a secondary's transport: lets tests play an attacker on the in-vehicle bus. */
  readonly busTap?: (serial: string, transport: SecondaryTransport) => SecondaryTransport;
  /**
   * How the primary reaches its secondaries: in its own process (the default), or each secondary
   * served on a loopback port of its own and reached over the HTTP transport, as separate ECUs are.
   */
  readonly transport?: 'in-process' | 'http' | 'mqtt';
  /**
   * Transport `mqtt`: the broker (this vehicle's login in the URL) through which the primary reaches
   * both the Director and its secondaries (shared/transport-mqtt/); the Director must be bridged to it.
   */
  readonly mqtt?: { readonly url: string; readonly ca?: string };
  readonly log?: (line: string) => void;
  /**
   * Serials of the secondaries registered as constrained (docs/suit.md): they get SUIT envelopes from
   * the primary instead of Uptane metadata (and key-update statements when the primary rotates its
   * SUIT key: `primary.rotateSuitKey()`). Any transport: in-process, HTTP or MQTT.
   */
  readonly constrained?: readonly string[];
}

export class SimulatedVehicle {
  readonly state = new MemoryVehicleState('parked');
  primary!: Primary;
  readonly secondaries = new Map<string, Secondary>();
  /** The constrained secondaries (spec.constrained), by serial; not in `secondaries`. */
  readonly constrained = new Map<string, ConstrainedSecondary>();
  /** The secondaries' HTTP servers and the primary's clients of them (transport `http`). */
  private links: Array<{ close(): unknown }> = [];

  private constructor(readonly spec: SimulatedVehicleSpec) {}

  static keyFor(spec: Pick<SimulatedVehicleSpec, 'seed' | 'vin' | 'keyTypes'>, serial: string): PrivateKey {
    return fixtureEcuKey(`${spec.seed ?? 'sim'}/${spec.vin}/${serial}`, spec.keyTypes?.[serial]);
  }

  /** The ECU's X25519 image-encryption key, derived from the same seed label as its signing key but never equal to it. */
  static encryptionKeyFor(spec: Pick<SimulatedVehicleSpec, 'seed' | 'vin'>, serial: string): EncryptionKeyPair {
    const label = `uptane-ts fixture encryption key: ${spec.seed ?? 'sim'}/${spec.vin}/${serial}`;
    return EncryptionKeyPair.fromPrivateBytes(createHash('sha256').update(label).digest());
  }

  static keysFor(spec: Pick<SimulatedVehicleSpec, 'seed' | 'vin' | 'keyTypes'>, serial: string): EcuKeyPairs {
    return { signing: SimulatedVehicle.keyFor(spec, serial), encryption: SimulatedVehicle.encryptionKeyFor(spec, serial) };
  }

  /** Provisions every ECU at the "factory" (keys, trusted roots, factory image) and opens them. */
  static async create(spec: SimulatedVehicleSpec): Promise<SimulatedVehicle> {
    provisionEcus(spec.directory, spec, (serial) => SimulatedVehicle.keysFor(spec, serial));
    if ((spec.constrained ?? []).length > 0) SimulatedVehicle.provisionConstrained(spec);
    const vehicle = new SimulatedVehicle(spec);
    await vehicle.start();
    return vehicle;
  }

  /**
   * A vehicle provisioned by an earlier run, continued: its ECUs keep their keys, images and report
   * counters (a vehicle made anew from the same seed would count again from 1, and the Director
   * would refuse its manifests as replayed).
   */
  static async open(spec: SimulatedVehicleSpec): Promise<SimulatedVehicle> {
    const vehicle = new SimulatedVehicle(spec);
    await vehicle.start();
    return vehicle;
  }

  /**
   * Makes the secondaries named constrained constrained ECUs: each gets the vehicle's SUIT public key,
   * the vendor id and its hardware id's class id, in place of the Uptane trust anchors; the primary
   * gets the SUIT key (derived from the seed) and the list.
   */
  private static provisionConstrained(spec: SimulatedVehicleSpec): void {
    const keyPem = suitKeyPemFromSeed(createHash('sha256').update(`uptane-ts fixture SUIT key: ${spec.seed ?? 'sim'}/${spec.vin}`).digest());
    const vendorId = suitVendorId();
    const ecus: Record<string, { vendorId: string; classId: string }> = {};
    for (const serial of spec.constrained ?? []) {
      const ecu = spec.secondaries.find((e) => e.serial === serial);
      if (ecu === undefined) throw new Error(`vehicle ${spec.vin}: constrained ECU ${serial} is not one of its secondaries`);
      const classId = suitClassId(vendorId, ecu.hardwareId);
      const directory = join(spec.directory, serial);
      rmSync(directory, { recursive: true, force: true }); // the Uptane secondary provisionEcus made
      ConstrainedSecondary.provision(directory, {
        serial,
        hardwareId: ecu.hardwareId,
        key: SimulatedVehicle.keyFor(spec, serial),
        suitPublicKey: suitPublicKeyRaw(keyPem),
        vendorId,
        classId,
        componentId: SUIT_COMPONENT_ID,
        maxImageBytes: DEFAULT_CONSTRAINED_MAX_IMAGE_BYTES,
        factoryImage: factoryImage(ecu),
      });
      ecus[serial] = { vendorId: Buffer.from(vendorId).toString('hex'), classId: Buffer.from(classId).toString('hex') };
    }
    provisionSuitBridge(join(spec.directory, spec.primary.serial), { keyPem, ecus });
  }

  /** Whether `directory` holds a vehicle an earlier run provisioned (its primary's folder). */
  static provisionedIn(directory: string, primarySerial: string): boolean {
    return existsSync(join(directory, primarySerial));
  }

  /** (Re)opens every ECU from its state folder, as after a power cycle of the whole vehicle. */
  async start(): Promise<void> {
    const { spec } = this;
    await this.close();
    this.secondaries.clear();
    this.constrained.clear();
    const transports = new Map<string, SecondaryTransport>();
    for (const ecu of spec.secondaries) {
      if (spec.constrained?.includes(ecu.serial) === true) {
        const constrained = await ConstrainedSecondary.open(join(spec.directory, ecu.serial), { clock: spec.clock, vehicleState: this.state, backend: spec.backend, slots: spec.slots?.[ecu.serial] });
        this.constrained.set(ecu.serial, constrained);
        let link: SecondaryTransport = constrained;
        if (spec.transport === 'http') {
          const server = await serveSecondary(constrained, { log: spec.log });
          const client = new HttpSecondaryClient(server.url);
          this.links.push(client, server);
          link = client;
        }
        if (spec.transport === 'mqtt') {
          // suit-open and suit-key over the ECU's topics (shared/transport-mqtt/secondary-mqtt.ts).
          const mqtt = { broker: { url: this.mqttBroker().url, ca: spec.mqtt?.ca }, vin: spec.vin, serial: ecu.serial, log: spec.log };
          const server = await serveSecondaryOverMqtt(constrained, mqtt);
          const client = await MqttSecondaryClient.connect(mqtt);
          this.links.push(client, { close: () => server.stop() });
          link = client;
        }
        transports.set(ecu.serial, spec.busTap?.(ecu.serial, link) ?? link);
        continue;
      }
      const secondary = await Secondary.open(join(spec.directory, ecu.serial), {
        clock: spec.clock,
        vehicleState: this.state,
        backend: spec.backend,
        slots: spec.slots?.[ecu.serial],
      });
      this.secondaries.set(ecu.serial, secondary);
      let link: SecondaryTransport = secondary;
      if (spec.transport === 'http') {
        const server: RunningSecondaryServer = await serveSecondary(secondary, { log: spec.log });
        const client = new HttpSecondaryClient(server.url);
        this.links.push(client, server);
        link = client;
      }
      if (spec.transport === 'mqtt') {
        const mqtt = { broker: { url: this.mqttBroker().url, ca: spec.mqtt?.ca }, vin: spec.vin, serial: ecu.serial, log: spec.log };
        const server = await serveSecondaryOverMqtt(secondary, mqtt);
        const client = await MqttSecondaryClient.connect(mqtt);
        this.links.push(client, { close: () => server.stop() });
        link = client;
      }
      transports.set(ecu.serial, spec.busTap?.(ecu.serial, link) ?? link);
    }
    let directorChannel = spec.directorChannel;
    if (spec.transport === 'mqtt' && directorChannel === undefined) {
      const channel = mqttDirectorChannel({ broker: { url: this.mqttBroker().url, ca: spec.mqtt?.ca }, vin: spec.vin });
      this.links.push(channel);
      directorChannel = channel.factory;
    }
    this.primary = await Primary.open(join(spec.directory, spec.primary.serial), {
      clock: spec.clock,
      vehicleState: this.state,
      secondaries: transports,
      backend: spec.backend,
      fetcher: spec.fetcher,
      directorChannel,
      slots: spec.slots?.[spec.primary.serial],
      log: spec.log,
    });
  }

  private mqttBroker(): { readonly url: string } {
    if (this.spec.mqtt === undefined) throw new Error(`vehicle ${this.spec.vin}: transport mqtt needs spec.mqtt (the broker URL)`);
    return this.spec.mqtt;
  }

  /** Stops the secondaries' HTTP servers (transport `http`); in-process ECUs hold nothing open. */
  async close(): Promise<void> {
    const links = this.links;
    this.links = [];
    for (const link of links) await link.close();
  }

  /** The operator API body that registers this vehicle with the Director. */
  registration(): VehicleRegistrationBody {
    return vehicleRegistration(this.spec, (serial) => SimulatedVehicle.keysFor(this.spec, serial));
  }

  /** The image each ECU runs now, by serial. */
  installed(): Record<string, string> {
    const result: Record<string, string> = { [this.spec.primary.serial]: this.primary.slots.installed.filename };
    for (const [serial, secondary] of this.secondaries) result[serial] = secondary.slots.installed.filename;
    for (const [serial, secondary] of this.constrained) result[serial] = secondary.slots.installed.filename;
    return result;
  }
}
