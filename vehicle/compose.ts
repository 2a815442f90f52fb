// One vehicle opened from its folder: the primary, and each secondary either opened in this process
// from its folder or reached over HTTP (`uptane vehicle secondary serve` in another process). This
// is the one place the primary and the secondaries meet; each only knows the secondary protocol.
import { join } from 'node:path';
import { systemClock, type Clock } from '../shared/core/clock.js';
import { StorageError, UptaneError } from '../shared/core/errors.js';
import { readPidLock } from '../shared/files/pid-lock.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import { HttpSecondaryClient, type SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import type { VehicleStateSource } from '../shared/ecu/vehicle-state.js';
import { Primary, type PrimaryRuntime } from '../primary-ecu/primary.js';
import { Secondary } from '../secondary-ecu/secondary.js';
import { checkSecondaryFolder, readSecondaryIdentity } from './ecu-status.js';
import { vehicleMqttChannel } from './mqtt-transport.js';
import { loadVehicleTls, vehicleState, VEHICLE_FILES, type VehicleConfig } from './folder.js';
import { loadEcuHealthCheck } from './ecu-health.js';

/** The slot options of the ECU in `directory`: its health check, if it was provisioned with one. */
function ecuSlotOptions(directory: string): { healthCheck?: NonNullable<ReturnType<typeof loadEcuHealthCheck>> } {
  const healthCheck = loadEcuHealthCheck(directory);
  return healthCheck === undefined ? {} : { healthCheck };
}

/** Opens the secondary in `directory` in this process, unless another process serves it. */
export async function openLocalSecondary(directory: string, runtime: { readonly clock: Clock; readonly vehicleState: VehicleStateSource }): Promise<Secondary> {
  checkSecondaryFolder(directory);
  // Two processes on one ECU folder would interleave its state: a served secondary is reached over HTTP.
  const server = readPidLock(join(directory, VEHICLE_FILES.serveLock));
  if (server !== undefined) {
    const serial = readSecondaryIdentity(directory).serial;
    throw new StorageError(
      `secondary ${serial} is served by another process (pid ${server.pid}) at ${server.note}: reach it with --secondary-url ${serial}=${server.note}, or stop that server`,
    );
  }
  return Secondary.open(directory, { clock: runtime.clock, vehicleState: runtime.vehicleState, slots: ecuSlotOptions(directory) });
}

export interface OpenedVehicle {
  readonly primary: Primary;
  close(): void;
}

/**
 * The vehicle in `dir`: secondaries named in `urls` (serial -> URL) over HTTP, the others from their
 * folders; `watch` carries the primary's progress lines and download progress, for people watching.
 */
export async function openVehicle(
  dir: string,
  config: VehicleConfig,
  urls: ReadonlyMap<string, string>,
  watch: Pick<PrimaryRuntime, 'log' | 'onDownloadProgress'>,
  /** Another way to the repositories than the network (an offline bundle folder, vehicle/offline-transport.ts). */
  transport?: Required<Pick<PrimaryRuntime, 'fetcher' | 'directorChannel'>>,
): Promise<OpenedVehicle> {
  const state = vehicleState(dir);
  const transports = new Map<string, SecondaryTransport>();
  // The primary's one client for both repositories: with the folder's CA and client certificate it
  // speaks TLS only (and mutual TLS to the Director), the Director's session and manifest included.
  const tls = loadVehicleTls(dir, config);
  const fetcher = new HttpFetcher({ tls });
  const clients: Array<{ close(): unknown }> = [fetcher];
  // Provisioned with --transport mqtt(s)://: the Director through the broker (vehicle/mqtt-transport.ts).
  const mqtt = vehicleMqttChannel(dir, config, tls);
  if (mqtt !== undefined) clients.push(mqtt);
  const close = () => clients.forEach((c) => c.close());
  try {
    for (const ecu of config.secondaries) {
      const url = urls.get(ecu.serial);
      if (url === undefined) {
        transports.set(ecu.serial, await openLocalSecondary(join(dir, ecu.serial), { clock: systemClock, vehicleState: state }));
        continue;
      }
      const client = new HttpSecondaryClient(url);
      clients.push(client);
      transports.set(ecu.serial, client);
    }
    const primary = await Primary.open(join(dir, config.primary.serial), {
      clock: systemClock,
      vehicleState: state,
      secondaries: transports,
      fetcher: transport?.fetcher ?? fetcher,
      directorChannel: transport?.directorChannel ?? mqtt?.factory,
      slots: ecuSlotOptions(join(dir, config.primary.serial)),
      log: watch.log,
      onDownloadProgress: watch.onDownloadProgress,
    });
    // A wrong URL is caught now, not as a missing report: the secondary there must be the one provisioned.
    for (const [serial, url] of urls) {
      let info;
      try {
        info = await transports.get(serial)!.info();
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        throw new Error(`cannot reach secondary ${serial} at ${url} (${err.message}): is \`uptane vehicle secondary serve --dir ${join(dir, serial)}\` running there?`, { cause: err });
      }
      const provisioned = primary.identity.secondaries[serial]!;
      if (info.serial !== serial || info.publicKey !== provisioned.publicKey) {
        throw new Error(`the secondary at ${url} is ${info.serial}, not the ${serial} provisioned in ${dir} (its key differs): check --secondary-url`);
      }
    }
    return { primary, close };
  } catch (err) {
    close();
    throw err;
  }
}
