// A vehicle provisioned with `--transport mqtt://...` or `mqtts://...` reaches its Director over MQTT
// (shared/transport-mqtt/, docs/transport.md "MQTT"). The folder keeps the broker URL without its
// password in vehicle.json and the password in a file of its own (mode 0600), as the TLS key is kept;
// the broker login defaults to the VIN, which the ACL example keeps to the vehicle's own topics.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../shared/core/errors.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import { checkBrokerUrl } from '../shared/transport-mqtt/mqtt-connection.js';
import { mqttDirectorChannel } from '../shared/transport-mqtt/director-channel-mqtt.js';

/** In the vehicle folder: the broker password given in --transport, mode 0600. */
export const MQTT_PASSWORD_FILE = 'mqtt-password';

/** The URL as vehicle.json keeps it (no password; the VIN as login when none is given) and the password apart. */
export function splitBrokerLogin(url: string, vin: string, tls: ClientTlsConfig | undefined): { readonly url: string; readonly password: string | undefined } {
  const parsed = new URL(checkBrokerUrl(url, '--transport'));
  // With a CA the vehicle reaches its servers over TLS only: a plain broker would be the way around it.
  if (tls?.ca !== undefined && parsed.protocol !== 'mqtts:') throw new Error(`--transport ${parsed.protocol}//${parsed.host}: this vehicle is provisioned with --ca, so its broker must be mqtts:// too`);
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  parsed.password = '';
  if (parsed.username === '') parsed.username = encodeURIComponent(vin);
  return { url: parsed.href.replace(/\/$/, ''), password };
}

export function persistBrokerPassword(dir: string, password: string | undefined): void {
  if (password !== undefined) writeFileAtomic(join(dir, MQTT_PASSWORD_FILE), Buffer.from(password), 0o600);
}

/** The Director channel of a vehicle provisioned with an MQTT transport, or undefined for HTTP. */
export function vehicleMqttChannel(dir: string, config: { readonly vin: string; readonly transport?: { readonly mqtt: string } }, tls: ClientTlsConfig | undefined): ReturnType<typeof mqttDirectorChannel> | undefined {
  if (config.transport === undefined) return undefined;
  let password: string | undefined;
  try {
    password = readFileSync(join(dir, MQTT_PASSWORD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StorageError(`cannot read ${join(dir, MQTT_PASSWORD_FILE)}: ${(err as Error).message}`, { cause: err });
  }
  const secure = config.transport.mqtt.startsWith('mqtts:');
  return mqttDirectorChannel({
    broker: { url: config.transport.mqtt, ...(password === undefined ? {} : { password }), ...(secure ? { ca: tls?.ca, cert: tls?.cert, key: tls?.key } : {}) },
    vin: config.vin,
  });
}
