// The TLS side of the command line, run as a user would run it (dist/cli.js): `uptane pki` writes a
// CA, a server certificate and a vehicle certificate (keys 0600, no overwrite without --force);
// `uptane image serve` with those files serves TLS 1.3 at an https URL and reloads on SIGHUP; both
// serve commands refuse plain HTTP off loopback and say why, unless --insecure-http.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { CLI, buildCli, runCli } from '../support/cli-runner.js';

let dir: string;
beforeAll(async () => {
  await buildCli();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'serve-tls-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A long-running `uptane` command; `lines` grows with its standard output. */
class Running {
  readonly lines: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<number | null>;
  stderr = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: dir });
    let partial = '';
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('close', resolve));
  }

  /** Waits (bounded) for an output line matching `pattern`. */
  async line(pattern: RegExp): Promise<string> {
    for (let i = 0; i < 600; i++) {
      const found = this.lines.find((line) => pattern.test(line));
      if (found !== undefined) return found;
      if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode}: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no line matching ${pattern}; got ${this.lines.join(' | ')} ${this.stderr}`);
  }

  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

function fingerprintAt(port: number, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(caFile) }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

async function makePki(): Promise<void> {
  for (const args of [
    ['pki', 'init', '--dir', 'pki'],
    ['pki', 'server', '--dir', 'pki', '--host', '127.0.0.1', '--host', 'localhost', '--out', 'pki/server'],
  ]) {
    const result = await runCli(args, { cwd: dir });
    expect(result).toMatchObject({ status: 0 });
  }
}

describe('uptane pki', () => {
  it('writes a CA, a server and a vehicle certificate, keys 0600, and refuses to overwrite without --force', async () => {
    await makePki();
    const vehicle = await runCli(['pki', 'vehicle', '--dir', 'pki', '--vin', 'VIN0001', '--primary', 'primary-1', '--out', 'pki/vehicles/VIN0001', '--json'], { cwd: dir });
    expect(vehicle.status).toBe(0);
    const printed = JSON.parse(vehicle.stdout) as { certFile: string; keyFile: string; subjectAltName: string };
    expect(printed.subjectAltName).toBe('URI:urn:uptane:vehicle:VIN0001:primary:primary-1');
    const ca = new X509Certificate(readFileSync(join(dir, 'pki', 'ca.pem')));
    expect(new X509Certificate(readFileSync(printed.certFile)).verify(ca.publicKey)).toBe(true);
    expect(new X509Certificate(readFileSync(join(dir, 'pki', 'server', 'cert.pem'))).checkIP('127.0.0.1')).toBe('127.0.0.1');
    for (const key of ['pki/ca-key.pem', 'pki/server/key.pem', 'pki/vehicles/VIN0001/key.pem']) expect(statSync(join(dir, key)).mode & 0o777).toBe(0o600);

    const again = await runCli(['pki', 'init', '--dir', 'pki'], { cwd: dir });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already exist.*--force/);
    expect(new X509Certificate(readFileSync(join(dir, 'pki', 'ca.pem'))).fingerprint256).toBe(ca.fingerprint256);
    const forced = await runCli(['pki', 'init', '--dir', 'pki', '--force'], { cwd: dir });
    expect(forced.status).toBe(0);
    expect(new X509Certificate(readFileSync(join(dir, 'pki', 'ca.pem'))).fingerprint256).not.toBe(ca.fingerprint256);
  });
});

describe('serve over TLS', () => {
  it('serves TLS 1.3 at an https URL and swaps the certificate on SIGHUP', async () => {
    await makePki();
    const before = new X509Certificate(readFileSync(join(dir, 'pki', 'server', 'cert.pem'))).fingerprint256;
    const server = new Running(['image', 'serve', '--data-dir', 'img', '--port', '0', '--tls-cert', 'pki/server/cert.pem', '--tls-key', 'pki/server/key.pem']);
    try {
      const url = (await server.line(/listening on/)).replace(/^.*listening on /, '');
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await server.line(/^transport:/)).toMatch(/TLS 1\.3/);
      const port = Number(new URL(url).port);
      expect(await fingerprintAt(port, join(dir, 'pki', 'ca.pem'))).toBe(before);

      const reissued = await runCli(['pki', 'server', '--dir', 'pki', '--host', '127.0.0.1', '--out', 'pki/server', '--force'], { cwd: dir });
      expect(reissued.status).toBe(0);
      const after = new X509Certificate(readFileSync(join(dir, 'pki', 'server', 'cert.pem'))).fingerprint256;
      server.signal('SIGHUP');
      // A log line of the server's (JSON when not on a terminal: shared/cli/observability-args.ts).
      await server.line(/TLS reloaded/);
      expect(await fingerprintAt(port, join(dir, 'pki', 'ca.pem'))).toBe(after);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

describe('plain HTTP only on loopback', () => {
  it.each([
    ['image', ['image', 'serve', '--data-dir', 'img', '--host', '0.0.0.0', '--port', '0']],
    ['director', ['director', 'serve', '--data-dir', 'dir', '--host', '0.0.0.0', '--port', '0']],
  ])('%s serve refuses plain HTTP on 0.0.0.0 and says why', async (_name, args) => {
    const result = await runCli(args, { cwd: dir });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/refusing to serve plain HTTP on 0\.0\.0\.0: operator and vehicle tokens, VINs, manifests and images would cross the network in clear/);
    expect(result.stderr).toMatch(/--insecure-http/);
  });

  it('serves plain HTTP on 0.0.0.0 with --insecure-http, and says so', async () => {
    const server = new Running(['image', 'serve', '--data-dir', 'img', '--host', '0.0.0.0', '--port', '0', '--insecure-http']);
    try {
      expect(await server.line(/listening on/)).toMatch(/http:\/\/0\.0\.0\.0:\d+/);
      expect(await server.line(/^transport:/)).toMatch(/cross the network in clear/);
    } finally {
      await server.stop();
    }
  });

  it('refuses half a TLS configuration', async () => {
    const result = await runCli(['image', 'serve', '--data-dir', 'img', '--port', '0', '--tls-cert', 'cert.pem'], { cwd: dir });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/--tls-cert and --tls-key go together/);
  });
});
