// The dashboard's event streams (director-repo/dashboard/events.ts) on a real node:http server and
// real sockets: a client that stops reading is disconnected once its backlog passes the bound,
// instead of the server buffering for it without end, while a client that reads keeps its stream.
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { DashboardEvents } from '../../director-repo/dashboard/events.js';

let server: Server;
let events: DashboardEvents;
let port: number;

beforeEach(async () => {
  events = new DashboardEvents(async () => [], { maxBufferedBytes: 64 * 1024, maxStreams: 4 });
  server = createServer((req, res) => {
    try {
      events.open(req, res);
    } catch (err) {
      res.writeHead(503).end((err as Error).message);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  events.closeAll();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function openRaw(): Promise<{ socket: Socket; closed: Promise<void>; received: () => number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let bytes = 0;
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    socket.once('data', () => resolve({ socket, closed, received: () => bytes }));
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

const waitFor = async (condition: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
};

test('a client that stops reading is cut off past the backlog bound; one that reads keeps its stream', async () => {
  const reader = await openRaw();
  const stalled = await openRaw();
  await waitFor(() => events.openStreams === 2, 'two streams');
  stalled.socket.pause(); // reads nothing more: the kernel's buffers fill, then the server's backlog grows
  // Events of 1 KiB, one per turn of the event loop (as manifests arrive), the reader reading along.
  const code = 'x'.repeat(1024);
  let sent = 0;
  // At most 32 MiB: far more than loopback's socket buffers and the 64 KiB bound.
  for (let i = 0; i < 32 * 1024 && events.openStreams === 2; i++) {
    events.publish({ type: 'attack', data: { vin: 'VIN-1', code } });
    sent += code.length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  // The server let it go (the paused client itself sees the end only once it reads again).
  await waitFor(() => events.openStreams === 1, 'the stalled stream to be dropped');
  stalled.socket.destroy();
  expect(sent).toBeLessThan(32 * 1024 * 1024);
  // The reading client got events and is still connected.
  await waitFor(() => reader.received() > 64 * 1024, 'the reader to receive events');
  expect(reader.socket.destroyed).toBe(false);
  reader.socket.destroy();
});

test('beyond maxStreams a stream is refused, and a closed one frees its place', async () => {
  const open = await Promise.all([openRaw(), openRaw(), openRaw(), openRaw()]);
  await waitFor(() => events.openStreams === 4, 'four streams');
  const refused = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  });
  expect(refused).toMatch(/^HTTP\/1\.1 503/);
  open[0]!.socket.destroy();
  await waitFor(() => events.openStreams === 3, 'a place freed');
  const again = await openRaw();
  await waitFor(() => events.openStreams === 4, 'the place taken again');
  for (const s of [...open, again]) s.socket.destroy();
});
