// A small TCP proxy on loopback between an MQTT client and the broker that plays a misbehaving
// broker: it splits what the broker sends into MQTT packets and may drop or repeat PUBLISH packets,
// or cut every connection at once (the client then reconnects through it).
import { createServer, connect, type Server, type Socket } from 'node:net';

/** Decides what becomes of one PUBLISH from the broker: sent once, dropped (0) or repeated (2). */
export type PublishFate = (index: number, packet: Buffer) => 0 | 1 | 2;

export interface MqttProxy {
  readonly url: (login: { username: string; password: string }) => string;
  /** PUBLISH packets the broker sent through the proxy so far. */
  publishes(): number;
  fate: PublishFate;
  /** Cuts every open connection (a network drop); new connections go through as before. */
  cutAll(): void;
  close(): Promise<void>;
}

/** Length of the first complete MQTT packet in `buffer`, or undefined if it is not all there yet. */
function packetLength(buffer: Buffer): number | undefined {
  let multiplier = 1;
  let remaining = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= buffer.length) return undefined;
    const byte = buffer[i]!;
    remaining += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) return buffer.length >= 1 + i + remaining ? 1 + i + remaining : undefined;
  }
  throw new Error('malformed MQTT remaining length');
}

export async function startMqttProxy(brokerPort: number): Promise<MqttProxy> {
  const sockets = new Set<Socket>();
  let publishes = 0;
  const proxy: MqttProxy = {
    url: ({ username, password }) => `mqtt://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    publishes: () => publishes,
    fate: () => 1,
    cutAll: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      proxy.cutAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server: Server = createServer((client) => {
    const upstream = connect(brokerPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    upstream.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (let length = packetLength(pending); length !== undefined; length = packetLength(pending)) {
        const packet = pending.subarray(0, length);
        pending = pending.subarray(length);
        if (packet[0]! >> 4 !== 3) {
          client.write(packet);
          continue;
        }
        const fate = proxy.fate(publishes++, packet);
        for (let i = 0; i < fate; i++) client.write(packet);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return proxy;
}
