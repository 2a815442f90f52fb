// The TLS client flags end to end through the built CLI, against real servers over TLS with the
// Director requiring client certificates: `uptane pki vehicle` issues the certificate,
// `uptane vehicle provision --ca --client-cert --client-key --register` stores it (key 0600) and
// registers over TLS, `uptane vehicle run --once` updates over mutual TLS, and the operator CLI
// trusts the Director only with --ca (or UPTANE_CA). docs/threat-model.md L15, L16.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCli, runCli } from '../support/cli-runner.js';
import { SCENE_OPERATOR_TOKEN, startTlsScene, type TlsScene } from '../support/tls-scene.js';

let scene: TlsScene;
let pki: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  await buildCli();
  scene = await startTlsScene({ tls: true, relay: false });
  await scene.publishImage('tcu/tcu-7.bin', Buffer.alloc(32 * 1024, 'tcu 7 '), 'tcu-cli', 7);
  // The scene's CA, laid out as `uptane pki init` writes it.
  pki = join(scene.dir, 'cli-pki');
  mkdirSync(pki, { mode: 0o700 });
  writeFileSync(join(pki, 'ca.pem'), scene.ca!.certPem);
  writeFileSync(join(pki, 'ca-key.pem'), scene.ca!.keyPem, { mode: 0o600 });
  writeFileSync(join(scene.dir, 'director-root.json'), scene.directorRoot);
  writeFileSync(join(scene.dir, 'image-root.json'), scene.imageRoot);
  env = { ...process.env, UPTANE_OPERATOR_TOKEN: SCENE_OPERATOR_TOKEN, UPTANE_CA: undefined };
}, 60_000);

afterAll(async () => {
  await scene?.close();
});

const provisionArgs = (dir: string, vin: string) => [
  'vehicle', 'provision', '--dir', dir, '--vin', vin, '--primary', 'tcu-1:tcu-cli',
  '--director-url', scene.director.url, '--image-url', scene.image.url,
  '--director-root', join(scene.dir, 'director-root.json'), '--image-root', join(scene.dir, 'image-root.json'),
];

describe('the CLI over TLS', () => {
  it('L16: pki vehicle, provision --ca --client-cert --client-key --register, then vehicle run updates over mutual TLS', async () => {
    const issued = await runCli(['pki', 'vehicle', '--dir', pki, '--vin', 'CLITLSVIN01', '--primary', 'tcu-1', '--out', join(pki, 'car')], { env });
    expect(issued.stderr).toBe('');
    expect(issued.status).toBe(0);
    const car = join(scene.dir, 'cli-car');
    const provisioned = await runCli(
      [...provisionArgs(car, 'CLITLSVIN01'), '--ca', join(pki, 'ca.pem'), '--client-cert', join(pki, 'car', 'cert.pem'), '--client-key', join(pki, 'car', 'key.pem'), '--register'],
      { env },
    );
    expect(provisioned.stderr).toBe('');
    expect(provisioned.status).toBe(0);
    expect(provisioned.stdout).toContain('registered with the Director');
    expect(statSync(join(car, 'tls', 'client-key.pem')).mode & 0o777).toBe(0o600);

    const assigned = await runCli(['director', 'assign', '--vin', 'CLITLSVIN01', '--ecu', 'tcu-1', '--image', 'tcu/tcu-7.bin', '--url', scene.director.url, '--ca', join(pki, 'ca.pem')], { env });
    expect(assigned.stderr).toBe('');
    expect(assigned.status).toBe(0);
    const run = await runCli(['vehicle', 'run', '--dir', car, '--once', '--json'], { env });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout.trim()).status).toBe('installed');
  });

  it('L15: the operator CLI refuses the Director without the CA that issued its certificate, and trusts it with --ca or UPTANE_CA', async () => {
    const show = ['director', 'vehicle', 'list', '--url', scene.director.url];
    const without = await runCli(show, { env });
    expect(without.status).toBe(1);
    expect(without.stderr).toContain("the server's certificate is not issued by a trusted CA");
    const withFlag = await runCli([...show, '--ca', join(pki, 'ca.pem')], { env });
    expect(withFlag.stderr).toBe('');
    expect(withFlag.status).toBe(0);
    const withEnv = await runCli(show, { env: { ...env, UPTANE_CA: join(pki, 'ca.pem') } });
    expect(withEnv.status).toBe(0);
  });

  it('L15: with --ca, provision refuses an http:// URL, and a file that is not a CA certificate, before writing anything', async () => {
    const plain = await runCli([...provisionArgs(join(scene.dir, 'plain-car'), 'CLITLSVIN02').map((a) => a.replace('https://', 'http://')), '--ca', join(pki, 'ca.pem')], { env });
    expect(plain.status).toBe(1);
    expect(plain.stderr).toContain('https://');
    const notCa = await runCli([...provisionArgs(join(scene.dir, 'bad-ca-car'), 'CLITLSVIN03'), '--ca', join(pki, 'car', 'cert.pem')], { env });
    expect(notCa.status).toBe(1);
    expect(notCa.stderr).toContain('not a CA certificate');
    expect(() => statSync(join(scene.dir, 'plain-car'))).toThrow();
    expect(() => statSync(join(scene.dir, 'bad-ca-car'))).toThrow();
  });
});
