// A Mosquitto broker of a test's or benchmark's own: its own process on free loopback ports, with a
// generated configuration (a password file made by mosquitto_passwd, an ACL file that keeps each
// vehicle to its own topics, and a TLS listener whose certificate comes from the development CA),
// so nothing depends on, or changes, the machine's broker. The ACL is the one docs/transport.md shows.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCa, issueServerCertificate } from '../../shared/pki/dev-ca.js';

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((path) => spawnSync(path, ['-h']).error === undefined);
const MOSQUITTO_PASSWD = ['/usr/bin/mosquitto_passwd', '/usr/local/bin/mosquitto_passwd'].find((path) => spawnSync(path, ['-h']).error === undefined);

/** Whether a broker can be started here; without it the MQTT tests skip (and fail under CI=true, test/global-setup.js). */
export const hasMosquitto = MOSQUITTO !== undefined && MOSQUITTO_PASSWD !== undefined;

/** The Director's login in the generated password file. */
export const DIRECTOR_USER = 'director';

export interface BrokerUser {
  readonly username: string;
  readonly password: string;
}

export interface TestBroker {
  /** Plain MQTT with logins and ACLs: `mqtt://127.0.0.1:<port>`. */
  readonly url: string;
  /** TLS with the same logins and ACLs: `mqtts://127.0.0.1:<port>`; the CA below signs its certificate. */
  readonly tlsUrl: string;
  /** The development CA (PEM) the broker's certificate chains to. */
  readonly ca: string;
  /** The login of `name` (a VIN, or DIRECTOR_USER), made when the broker started. */
  user(name: string): BrokerUser;
  /** Broker URL with the login in it, e.g. `mqtt://VIN:secret@127.0.0.1:port`. */
  urlFor(name: string, tls?: boolean): string;
  /** The generated ACL file's text (docs/transport.md shows the same). */
  readonly acl: string;
  close(): Promise<void>;
}

/** The ACL: the Director reads every request and answers on every response topic; a vehicle (username = VIN) only its own. */
export const BROKER_ACL = [
  `user ${DIRECTOR_USER}`,
  'topic read uptane/v1/vehicles/+/director/request',
  'topic write uptane/v1/vehicles/+/director/response',
  '',
  '# every other user is a vehicle whose username is its VIN (%u); its ECUs share the login',
  'pattern write uptane/v1/vehicles/%u/director/request',
  'pattern read uptane/v1/vehicles/%u/director/response',
  'pattern readwrite uptane/v1/vehicles/%u/ecus/#',
  '',
].join('\n');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mosquitto did not listen on ${port}: ${output()}`);
}

/** Starts a broker with a login for the Director and for each of `vins` (passwords generated). */
export async function startTestBroker(vins: readonly string[]): Promise<TestBroker> {
  if (!hasMosquitto) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  const dir = mkdtempSync(join(tmpdir(), 'uptane-mosquitto-'));
  const users = new Map<string, BrokerUser>();
  for (const name of [DIRECTOR_USER, ...vins]) users.set(name, { username: name, password: `pw-${name}-${Math.random().toString(16).slice(2, 10)}` });
  const passwordFile = join(dir, 'passwd');
  writeFileSync(passwordFile, '', { mode: 0o600 });
  for (const { username, password } of users.values()) execFileSync(MOSQUITTO_PASSWD!, ['-b', passwordFile, username, password]);
  const aclFile = join(dir, 'acl');
  writeFileSync(aclFile, BROKER_ACL);
  const ca = await createDevCa({ commonName: 'test broker CA' });
  const server = await issueServerCertificate(ca, { hostnames: ['127.0.0.1', 'localhost'] });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'cert.pem'), server.certPem);
  writeFileSync(join(dir, 'key.pem'), server.keyPem, { mode: 0o600 });
  const [port, tlsPort] = [await freePort(), await freePort()];
  const config = [
    // Started as root, mosquitto would switch to its own user, which cannot read this private folder.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'per_listener_settings false',
    'allow_anonymous false',
    `password_file ${passwordFile}`,
    `acl_file ${aclFile}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'max_inflight_messages 64',
    // Small request-answer messages: without it each waits out the peer's delayed ACK.
    'set_tcp_nodelay true',
    'max_queued_messages 10000',
    `listener ${port} 127.0.0.1`,
    `listener ${tlsPort} 127.0.0.1`,
    `cafile ${join(dir, 'ca.pem')}`,
    `certfile ${join(dir, 'cert.pem')}`,
    `keyfile ${join(dir, 'key.pem')}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'mosquitto.conf'), config);
  const child = spawn(MOSQUITTO!, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (output.length < 20_000) output += chunk.toString('utf8');
  });
  try {
    await waitForPort(port, child, () => output);
    await waitForPort(tlsPort, child, () => output);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const user = (name: string) => {
    const found = users.get(name);
    if (found === undefined) throw new Error(`the test broker has no login for ${name}`);
    return found;
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
    ca: ca.certPem,
    acl: BROKER_ACL,
    user,
    urlFor: (name, tls = false) => {
      const { username, password } = user(name);
      return `${tls ? 'mqtts' : 'mqtt'}://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${tls ? tlsPort : port}`;
    },
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
