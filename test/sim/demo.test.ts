// The demo is the main job: it must run start to finish and narrate every step.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli-runner.js';
import { runDemo } from '../../sim/demo.js';

it('runs the end-to-end demo over TLS and mutual TLS, a credential-only Image repository and an encrypted image: deferral while driving, installs, a rollback, and two attacks rejected', async () => {
  const lines: string[] = [];
  const result = await runDemo({ print: (line) => lines.push(line) });
  rmSync(result.dataDir, { recursive: true, force: true });
  const text = lines.join('\n');
  expect(text).not.toContain('DEMO FAILED');
  expect(result.ok).toBe(true);
  expect(result.directorUrl).toMatch(/^https:\/\//);
  expect(result.imageUrl).toMatch(/^https:\/\//);
  expect(text).toContain("a vehicle request without the vehicle's client certificate is refused (403 client_certificate_required)");
  expect(text).toContain('an anonymous read of the Image repository is refused (HTTP 403)');
  expect(text).toMatch(/downloading body\/body-1\.1\.bin encrypted \([0-9a-f]{64}\.enc/);
  expect(text).toContain('body-front: installed');
  expect(text).toContain('deferred while driving');
  expect(text).toContain('rolled back');
  expect(text).toMatch(/refused the image \(hash_mismatch\)/);
  expect(text).toMatch(/refused the replayed metadata \(rollback\)/);
}, 120_000);

it('runs over plain HTTP on loopback with --insecure-http', async () => {
  const lines: string[] = [];
  const result = await runDemo({ print: (line) => lines.push(line), insecureHttp: true });
  rmSync(result.dataDir, { recursive: true, force: true });
  expect(lines.join('\n')).not.toContain('DEMO FAILED');
  expect(result.ok).toBe(true);
  expect(result.directorUrl).toMatch(/^http:\/\//);
}, 120_000);

it('--keep leaves everything explorable: the vehicle folder runs with `uptane vehicle`, the Director workspace knows root v1 is published, and the upload token is printed', async () => {
  const lines: string[] = [];
  const result = await runDemo({ print: (line) => lines.push(line), keep: true });
  try {
    expect(result.ok).toBe(true);
    const text = lines.join('\n');
    expect(text).toContain('upload token: demo-uploader-token');
    expect(text).toContain('operator token: demo-operator-token');
    const vehicleDir = join(result.dataDir, 'vehicle');
    // The commands a user is pointed at, through the real binary, against the servers left running.
    const status = await runCli(['vehicle', 'status', '--dir', vehicleDir, '--json']);
    expect(status.status).toBe(0);
    expect((JSON.parse(status.stdout) as { vin: string; ecus: unknown[] })).toMatchObject({ vin: 'DEMO0VIN00000001', ecus: expect.arrayContaining([expect.objectContaining({ serial: 'body-front' })]) });
    const run = await runCli(['vehicle', 'run', '--dir', vehicleDir, '--once']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const workspace = await runCli(['director', 'status', '-w', join(result.dataDir, 'director-workspace')]);
    expect(workspace.stdout).toContain('root: published v1');
  } finally {
    await result.stop();
    rmSync(result.dataDir, { recursive: true, force: true });
  }
}, 180_000);
