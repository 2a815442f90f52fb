// The command-line tools' output under hostile input (issue 14). Terminal injection
// (docs/threat-model.md HR-6): whatever a vehicle, an upload or a server put in a string reaches the
// operator's terminal with its control characters made visible, through one printer
// (shared/cli/cli-output.ts). A reader that goes away (docs/threat-model.md HR-9k): `uptane ... | head -1`
// ends quietly. End-to-end tests run the built CLI (dist/, built by the global setup) against a real
// Director on loopback.
import { jest } from '@jest/globals';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeTerminalLines, escapeTerminalText } from '../../shared/util/terminal-text.js';
import { printJson, table, terminalOutput, type OutputStream } from '../../shared/cli/cli-output.js';
import { errorResponse } from '../../shared/server/http-errors.js';
import { FixedClock } from '../../shared/core/clock.js';
import type { CliEnvironment } from '../../shared/cli/environment.js';
import { buildCli, REPO_ROOT, runCli, runCliClosingStdout } from '../support/cli-runner.js';
import { FIXTURE_NOW, OPERATOR_TOKEN, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { TestVehicle } from '../../sim/harness/test-vehicle.js';

/** Every character the printer must never let through raw, newline included (a print is one line). */
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** The same, for whole outputs: the newlines between printed lines are the CLI's own. */
const RAW_CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A key that clears the screen, retitles the window, and overwrites its own line with a reassuring one. */
const HOSTILE_KEY = '\u001b[2J\u001b[H\u001b]0;uptane: all good\u0007ecm\rall ECUs up to date\nall ECUs up to date\u009b31m\u202eevil\u2028';

describe('escapeTerminalText', () => {
  it.each([
    ['ESC sequence that clears the screen', '\u001b[2J', '\\u001b[2J'],
    ['OSC window title ended by BEL', '\u001b]0;owned\u0007', '\\u001b]0;owned\\u0007'],
    ['OSC ended by ST (ESC \\)', '\u001b]8;;http://x\u001b\\link', '\\u001b]8;;http://x\\u001b\\link'],
    ['carriage return overwriting the line', 'ecm\rall ECUs up to date', 'ecm\\rall ECUs up to date'],
    ['newline starting a fake line', 'ecm\nall ECUs up to date', 'ecm\\nall ECUs up to date'],
    ['backspaces erasing what came before', 'FAILED\b\b\b\b\b\bOK    ', 'FAILED\\b\\b\\b\\b\\b\\bOK    '],
    ['NUL, tab, vertical tab, form feed', '\u0000\t\u000b\f', '\\u0000\\t\\u000b\\f'],
    ['DEL', 'a\u007fb', 'a\\u007fb'],
    ['8-bit CSI (C1 0x9B)', '\u009b2J', '\\u009b2J'],
    ['8-bit OSC and NEL (C1)', '\u009d0;t\u009c\u0085', '\\u009d0;t\\u009c\\u0085'],
    ['bidi override reversing a name', 'abc\u202egnp.exe', 'abc\\u202egnp.exe'],
    ['bidi isolates and marks', '\u2066x\u2069\u200e\u200f\u061c', '\\u2066x\\u2069\\u200e\\u200f\\u061c'],
    ['line and paragraph separators', 'a\u2028b\u2029c', 'a\\u2028b\\u2029c'],
  ])('makes a %s visible', (_what, hostile, shown) => {
    expect(escapeTerminalText(hostile)).toBe(shown);
    expect(escapeTerminalText(hostile)).not.toMatch(RAW_CONTROL);
  });

  it('leaves printable text, including non-ASCII letters and emoji, as it is', () => {
    const plain = 'vehicle WVW123  ecm-x1  engine/ecm-2.0.bin (release 2)  Müller 日本 🚗 "quoted" \\ back';
    expect(escapeTerminalText(plain)).toBe(plain);
  });

  it('changes nothing the second time, so a value escaped twice reads the same', () => {
    const once = escapeTerminalText(HOSTILE_KEY);
    expect(escapeTerminalText(once)).toBe(once);
  });
});

/** A stream that records what was written and can fail like a closed pipe. */
class RecordingStream implements OutputStream {
  text = '';
  private listener: ((err: Error) => void) | undefined;
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
  on(_event: 'error', listener: (err: Error) => void): this {
    this.listener = listener;
    return this;
  }
  fail(code: string): void {
    this.listener!(Object.assign(new Error(`write ${code}`), { code }));
  }
}

describe('terminalOutput', () => {
  const setup = () => {
    const stdout = new RecordingStream();
    const stderr = new RecordingStream();
    let closed = 0;
    const output = terminalOutput({ stdout, stderr }, () => closed++);
    return { stdout, stderr, output, closed: () => closed };
  };

  it('prints one line per call, with a newline inside a value shown, not obeyed', () => {
    const { stdout, stderr, output } = setup();
    output.print(`last manifest refused: ${HOSTILE_KEY}`);
    output.warn('progress \u001b[1A');
    expect(stdout.text.split('\n')).toEqual([expect.stringContaining('\\u001b[2J'), '']);
    expect(stdout.text.slice(0, -1)).not.toMatch(RAW_CONTROL);
    expect(stdout.text).not.toMatch(/^all ECUs up to date/m);
    expect(stderr.text).toBe('progress \\u001b[1A\n');
  });

  it("keeps an error's own line breaks (a failure, then its next step) and escapes everything else", () => {
    const { stderr, output } = setup();
    output.error('the Director refused: \u001b]0;x\u0007\r[conflict]\nnext: uptane director vehicle list');
    expect(stderr.text).toBe('error: the Director refused: \\u001b]0;x\\u0007\\r[conflict]\nnext: uptane director vehicle list\n');
  });

  it('stops writing and tells the process once when the reader closes the pipe (EPIPE)', () => {
    const { stdout, stderr, output, closed } = setup();
    output.print('first');
    stdout.fail('EPIPE');
    stderr.fail('EPIPE');
    output.print('second');
    output.error('third');
    expect({ stdout: stdout.text, stderr: stderr.text, closed: closed() }).toEqual({ stdout: 'first\n', stderr: '', closed: 1 });
  });

  it('lets any other write error through: only a closed pipe is an expected end', () => {
    const { stdout } = setup();
    expect(() => stdout.fail('EIO')).toThrow('write EIO');
  });
});

describe('printJson and table', () => {
  const capture = () => {
    const lines: string[] = [];
    const io: CliEnvironment = { env: {}, print: (line) => lines.push(escapeTerminalText(line)), warn: () => undefined };
    return { io, lines };
  };

  it.each([false, true])('prints JSON (compact: %s) that parses to the same hostile value, with no raw control character', (compact) => {
    const value = { key: HOSTILE_KEY, nested: [{ [HOSTILE_KEY]: 'ok' }], del: '\u007f', c1: '\u0085\u009b', lsep: '\u2028\u2029' };
    const { io, lines } = capture();
    printJson(io, value, { compact });
    expect(lines.length).toBe(compact ? 1 : JSON.stringify(value, null, 2).split('\n').length);
    for (const line of lines) expect(line).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(lines.join('\n'))).toEqual(value);
  });

  it('aligns columns on the escaped cells, as they are shown', () => {
    const rows = table(['ECU', 'STATE'], [['ecm\u001b[2J', 'ok'], ['abs-1', 'failed']]);
    expect(rows).toEqual(['ECU           STATE', 'ecm\\u001b[2J  ok', 'abs-1         failed']);
  });
});

describe("a server's log of an unexpected error (uptane ... serve)", () => {
  it("shows what the error quotes from a client escaped, and keeps the stack's own lines", () => {
    const logged: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args.join(' ')));
    try {
      expect(errorResponse(new Error(`Unexpected token in JSON: "\u001b]0;owned\u0007\rall ECUs up to date"`)).status).toBe(500);
    } finally {
      spy.mockRestore();
    }
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('\\u001b]0;owned\\u0007\\rall ECUs up to date');
    expect(logged[0]).not.toMatch(RAW_CONTROL_BUT_NEWLINE);
    expect(logged[0]!.split('\n').length).toBeGreaterThan(1);
    expect(escapeTerminalLines('a\u001b\nb')).toBe('a\\u001b\nb');
  });
});

describe('every command prints through the one printer', () => {
  const SOURCE_FOLDERS = ['director-repo', 'image-repo', 'primary-ecu', 'secondary-ecu', 'shared', 'vehicle', 'gateway', 'sim'];
  const cliFiles = (): string[] => {
    const found = ['cli.ts'];
    const walk = (dir: string) => {
      for (const name of readdirSync(join(REPO_ROOT, dir))) {
        const path = join(dir, name);
        if (statSync(join(REPO_ROOT, path)).isDirectory()) walk(path);
        else if (/cli[^/]*\.ts$/.test(name)) found.push(path);
      }
    };
    SOURCE_FOLDERS.forEach(walk);
    return found;
  };

  it('no CLI file writes to stdout or stderr itself; only shared/cli/cli-output.ts does, for cli.ts', () => {
    const files = cliFiles();
    // The command files the issue names are all found, so the check cannot pass by finding nothing.
    expect(files).toEqual(
      expect.arrayContaining([
        'cli.ts',
        'director-repo/cli.ts',
        'director-repo/campaign-cli.ts',
        'director-repo/workspace-cli.ts',
        'image-repo/cli.ts',
        'image-repo/workspace-cli.ts',
        'shared/workspace/cli.ts',
        'shared/cli/keys-cli.ts',
        'vehicle/cli.ts',
        'vehicle/provision-cli.ts',
        'vehicle/register-cli.ts',
        'vehicle/run-cli.ts',
        'vehicle/status-cli.ts',
        'vehicle/secondary-cli.ts',
        'sim/cli.ts',
      ]),
    );
    const offenders = files
      .filter((file) => file !== 'shared/cli/cli-output.ts')
      .flatMap((file) =>
        readFileSync(join(REPO_ROOT, file), 'utf8')
          .split('\n')
          .map((line, i) => ({ file, line: i + 1, text: line.trim() }))
          // cli.ts alone may name the streams, to hand them to terminalOutput (and read the width).
          .filter(({ text }) => /\bconsole\.\w+/.test(text) || (file === 'cli.ts' ? /process\.(stdout|stderr)\.write\b/ : /process\.(stdout|stderr)\b/).test(text)),
      );
    expect(offenders).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end: the built CLI against a real Director.

describe('end to end: the built CLI against a real Director', () => {
  const VIN = 'HR6CLI1';
  let repos: Repositories;
  let hostileServer: Server;
  let hostileUrl: string;
  const cars: TestVehicle[] = [];

  const cliEnv = (url = repos.director.url) => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('UPTANE_'))),
    UPTANE_DIRECTOR_URL: url,
    UPTANE_OPERATOR_TOKEN: OPERATOR_TOKEN,
  });

  beforeAll(async () => {
    await buildCli();
    const clock = new FixedClock(FIXTURE_NOW);
    repos = await startRepositories(clock, 'cli-output');
    const car = new TestVehicle(
      VIN,
      [
        { serial: `${VIN}-tcu`, hardwareId: 'tcu-a', primary: true },
        { serial: `${VIN}-ecm`, hardwareId: 'ecm-x1' },
      ],
      clock,
    );
    cars.push(car);
    expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
    // A manifest signed by the vehicle's own primary whose report map has a hostile key: the Director
    // refuses it, and its refusal, quoting the key, is what `vehicle show` prints.
    const manifest = car.manifest();
    const refused = await car.sendManifest(repos.director.url, {
      ...manifest,
      signed: { ...manifest.signed, ecu_version_reports: { [HOSTILE_KEY]: 'not a report' } },
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);

    // A "server" whose refusals are hostile, for the error path.
    hostileServer = createServer((_request, response) => {
      response.writeHead(409, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'conflict\u001b[8m', message: `\u001b[2J\u001b]0;owned\u0007denied\rall ECUs up to date\nall ECUs up to date` } }));
    });
    hostileServer.listen(0, '127.0.0.1');
    await once(hostileServer, 'listening');
    hostileUrl = `http://127.0.0.1:${(hostileServer.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    for (const car of cars) car.cleanup();
    hostileServer?.close();
    await repos?.close();
  });

  describe('uptane director vehicle show, with a refused manifest quoting a hostile key (HR-6)', () => {
    it('prints the refusal with every control character visible, and no fake line', async () => {
      const run = await runCli(['director', 'vehicle', 'show', VIN], { env: cliEnv() });
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
      expect(run.stdout).toContain('ecu_version_reports');
      expect(run.stdout).toContain('\\u001b[2J');
      expect(run.stdout).not.toMatch(RAW_CONTROL_BUT_NEWLINE);
      expect(run.stdout).not.toMatch(/^all ECUs up to date/m);
    });

    it('prints --json that stays valid JSON and holds the key as the Director recorded it, escaped (HR-6b)', async () => {
      const run = await runCli(['director', 'vehicle', 'show', VIN, '--json'], { env: cliEnv() });
      expect(run.status).toBe(0);
      expect(run.stdout).not.toMatch(RAW_CONTROL_BUT_NEWLINE);
      const status = JSON.parse(run.stdout) as { manifests: Array<Record<string, unknown>> };
      // Since HR-6b the Director refuses control characters in a manifest and quotes them escaped.
      expect(JSON.stringify(status.manifests)).toContain(JSON.stringify(escapeTerminalText(HOSTILE_KEY)).slice(1, -1));
    });

    it("escapes a server's error message and code, keeping only the CLI's own line breaks", async () => {
      const run = await runCli(['director', 'vehicle', 'list'], { env: cliEnv(hostileUrl) });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('\\u001b[2J\\u001b]0;owned\\u0007denied\\rall ECUs up to date\\nall ECUs up to date [conflict\\u001b[8m, HTTP 409]');
      expect(run.stderr).not.toMatch(RAW_CONTROL_BUT_NEWLINE);
      expect(run.stderr).not.toMatch(/^all ECUs up to date/m);
    });
  });

  describe('a reader that goes away early, as `| head -1` does (HR-9k)', () => {
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'uptane-cli-output-'));
      const generated = await runCli(['keys', 'generate', join(dir, 'k.pem')]);
      expect(generated.status).toBe(0);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('ends with status 141 and no stack trace when stdout is closed before the first line', async () => {
      const run = await runCliClosingStdout(['keys', 'show', join(dir, 'k.pem')], 'start');
      expect({ status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({ status: 141, signal: null, stderr: '' });
    });

    it('ends quietly when stdout is closed after the first chunk of a longer answer', async () => {
      const run = await runCliClosingStdout(['director', 'vehicle', 'show', VIN], 'first-chunk', { env: cliEnv() });
      expect(run.stdout).toMatch(/^vehicle/);
      // Whether the rest was written before the pipe closed is a race: either way, no trace and 0 or 141.
      expect(run.stderr).toBe('');
      expect([0, 141]).toContain(run.status);
    });
  });
});
