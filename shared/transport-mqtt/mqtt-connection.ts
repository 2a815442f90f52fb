// One connection to an MQTT 5 broker, from a broker URL (`mqtt://host:1883`, `mqtts://host:8883`):
// the credentials the broker authenticates (username, password), TLS to the broker with the CA the
// broker's certificate must chain to (and a client certificate where the broker asks for one), and
// the largest packet this side accepts, so the broker drops an oversized message instead of
// delivering it (MQTT 5 Maximum Packet Size).
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { MqttConnectionError, MqttMessageError } from '../core/errors.js';

export interface MqttBrokerOptions {
  /** `mqtt://[user[:password]@]host[:port]` or `mqtts://...`; credentials in the URL are used when none are given below. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** TLS to the broker: the CA bundle (PEM) its certificate must chain to; mqtts:// only. */
  readonly ca?: string;
  /** A client certificate and key (PEM) for a broker that asks for one. */
  readonly cert?: string;
  readonly key?: string;
  /** Unique per connection; the broker drops an older connection with the same id. */
  readonly clientId?: string;
  /** Largest MQTT packet this side accepts; the broker does not send larger ones. */
  readonly maximumPacketBytes: number;
  /** Time allowed for the TCP (and TLS) connection and the broker's CONNACK. */
  readonly connectTimeoutMs?: number;
  /** Wait before reconnecting after the connection is lost (MQTT.js reconnects on its own). */
  readonly reconnectPeriodMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_RECONNECT_PERIOD_MS = 500;

/** The URL as logs and errors may show it: without its password. */
export function brokerLabel(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.href.replace(/\/$/, '');
  } catch {
    return 'an MQTT broker (unparseable URL)';
  }
}

/** Checks a broker URL before anything connects (CLI flags, provisioning); returns it. */
export function checkBrokerUrl(url: string, option: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MqttConnectionError(`${option} ${JSON.stringify(url)} is not a URL: write mqtt://host:1883 or mqtts://host:8883`);
  }
  if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'mqtts:') {
    throw new MqttConnectionError(`${option} ${brokerLabel(url)}: the scheme must be mqtt:// or mqtts:// (TLS to the broker)`);
  }
  if (parsed.pathname !== '' && parsed.pathname !== '/') throw new MqttConnectionError(`${option} ${brokerLabel(url)}: a broker URL has no path`);
  return url;
}

/** MQTT.js options for `options`: MQTT 5, a clean start (a request outlives no session), TLS only for mqtts://. */
export function clientOptions(options: MqttBrokerOptions): IClientOptions {
  const parsed = new URL(checkBrokerUrl(options.url, 'the broker URL'));
  const tls = parsed.protocol === 'mqtts:';
  if (!tls && (options.ca !== undefined || options.cert !== undefined)) {
    // A CA given for a plain URL means someone expected TLS: refuse rather than talk in the clear.
    throw new MqttConnectionError(`${brokerLabel(options.url)} is plain mqtt:// but a CA or client certificate is configured: use mqtts://`);
  }
  const username = options.username ?? (parsed.username === '' ? undefined : decodeURIComponent(parsed.username));
  const password = options.password ?? (parsed.password === '' ? undefined : decodeURIComponent(parsed.password));
  return {
    protocol: tls ? 'mqtts' : 'mqtt',
    host: parsed.hostname,
    port: parsed.port === '' ? (tls ? 8883 : 1883) : Number(parsed.port),
    protocolVersion: 5,
    clean: true,
    clientId: options.clientId ?? `uptane-${Math.random().toString(16).slice(2, 14)}`,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(tls ? { ca: options.ca, cert: options.cert, key: options.key, rejectUnauthorized: true, servername: parsed.hostname } : {}),
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    reconnectPeriod: options.reconnectPeriodMs ?? DEFAULT_RECONNECT_PERIOD_MS,
    // A refused login is not retried forever: the first CONNACK error ends connectAsync.
    reconnectOnConnackError: false,
    resubscribe: true,
    properties: { maximumPacketSize: options.maximumPacketBytes },
  };
}

/** Connects, or fails with MqttConnectionError naming the broker (without its password) and the reason. */
export async function connectBroker(options: MqttBrokerOptions): Promise<MqttClient> {
  const opts = clientOptions(options);
  // The first attempt only: a broker that is down now is the caller's to report, not to wait out.
  // Once connected, MQTT.js reconnects by itself after a lost connection.
  const client = connect({ ...opts, reconnectPeriod: 0 });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no CONNACK within ${opts.connectTimeout} ms`)), (opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS) + 1000);
      const settle = (err?: Error) => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
        client.off('close', onClose);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onConnect = () => settle();
      const onError = (err: Error) => settle(err);
      const onClose = () => settle(new Error('the connection closed before the broker accepted it'));
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
    });
  } catch (err) {
    client.end(true);
    throw new MqttConnectionError(`cannot connect to ${brokerLabel(options.url)}: ${(err as Error).message}`, { cause: err });
  }
  // Small request-answer messages: Nagle's algorithm would hold each back for the peer's delayed ACK.
  const noDelay = () => (client.stream as unknown as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
  noDelay();
  client.on('connect', noDelay);
  client.options.reconnectPeriod = opts.reconnectPeriod;
  // Errors after the connection stood (a reconnect refused) surface as timeouts of the requests that
  // waited; without a listener an 'error' event would end the process.
  client.on('error', () => undefined);
  return client;
}

/**
 * Publishes a message, or rejects with MqttConnectionError. At QoS 1 (the default) it resolves once
 * the broker acknowledged the message; at QoS 0 once the connection's socket took it (or drained):
 * flow control towards the broker, with no word on delivery.
 */
export function publishAcked(client: MqttClient, topic: string, payload: Buffer, properties: NonNullable<Parameters<MqttClient['publish']>[2]>['properties'], qos: 0 | 1 = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos, properties }, (err) => {
      if (err) reject(new MqttConnectionError(`publishing on ${topic}: ${err.message}`, { cause: err }));
      else resolve();
    });
  });
}

/** A user property as one string: MQTT lets a name repeat (an array), which this protocol never does. */
export function userProperty(properties: Record<string, string | string[]> | undefined, name: string): string | undefined {
  const value = properties?.[name];
  if (Array.isArray(value)) throw new MqttMessageError(`the MQTT user property ${name} is repeated`);
  return value;
}
