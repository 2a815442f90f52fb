// The serve commands' observability options, run as an operator runs them (dist/cli.js): JSON log
// lines on standard output with the request id, /metrics behind --metrics-token-env, a missing or
// short secret refused at start with what to do, and --help showing the options with examples.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from '../support/cli-runner.js';

const SECRET = 'cli-metrics-secret-0123456789';

describe('uptane image serve: logs and metrics options', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'uptane-obs-cli-'));
    dirs.push(dir);
    return dir;
  };

  test('--metrics-token-env restricts /metrics; --log-format json writes one JSON line per request with its id, never the secret', async () => {
    const server = startCli(['image', 'serve', '--data-dir', dataDir(), '--port', '0', '--read-access', 'public', '--metrics-token-env', 'OBS_METRICS', '--log-format', 'json'], {
      env: { ...process.env, OBS_METRICS: SECRET },
    });
    try {
      const url = (await server.waitFor(/listening on (http:\/\/\S+)/))[1]!;
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      const scraped = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${SECRET}`, 'x-request-id': 'cli-scrape-1' } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain('uptane_http_request_duration_seconds');
      const line = (await server.waitFor(/^\{.*"requestId":"cli-scrape-1".*\}$/m))[0];
      expect(JSON.parse(line)).toMatchObject({ method: 'GET', route: '/metrics', status: 200, name: 'image' });
      expect(server.output()).not.toContain(SECRET);
    } finally {
      await server.stop();
    }
  });

  test('a missing or short metrics secret is refused at start, naming the variable and how to make one', async () => {
    const missing = await runCli(['image', 'serve', '--data-dir', dataDir(), '--port', '0', '--metrics-token-env', 'OBS_UNSET'], { env: { ...process.env, OBS_UNSET: undefined } });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/OBS_UNSET is not set.*openssl rand/);
    const short = await runCli(['image', 'serve', '--data-dir', dataDir(), '--port', '0', '--metrics-token-env', 'OBS_SHORT'], { env: { ...process.env, OBS_SHORT: 'abc' } });
    expect(short.status).not.toBe(0);
    expect(short.stderr).toMatch(/at least 16 characters/);
  });

  test('--help of both serve commands shows the options with working examples', async () => {
    for (const component of ['image', 'director']) {
      const help = await runCli([component, 'serve', '--help']);
      expect(help.status).toBe(0);
      for (const option of ['--log-format', '--log-level', '--metrics', '--metrics-token-env']) expect(help.stdout).toContain(option);
      expect(help.stdout).toContain(`--metrics-token-env METRICS_TOKEN`);
    }
  });
});
