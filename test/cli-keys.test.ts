// End-to-end test of `uptane keys ...`: builds the project once, then runs the real binary
// (dist/cli.js) in a temporary directory, checking its output, exit codes and the files it writes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeKeyId, publicKeyPem, type TufKey } from '../shared/core/crypto/keys.js';
import { loadPrivateKey, loadPublicKey } from '../shared/files/key-files.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const HEX64 = /^[0-9a-f]{64}$/;

interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let dir: string;

/** Runs `uptane <args>` in the temp dir, with `env` added to a copy of this process's environment. */
function uptane(args: string[], env: Record<string, string> = {}): RunResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The value after `label:` on its own line of text output. */
function field(output: string, label: string): string | undefined {
  const line = output.split('\n').find((l) => l.startsWith(`${label}:`));
  return line?.slice(label.length + 1).trim();
}

beforeAll(() => {
  // test/global-setup.js built the CLI once for the whole run.
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run the tests with npm test (its global setup builds the CLI)`);
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-cli-keys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('uptane keys generate', () => {
  it('writes a 0600 PKCS#8 key and prints its keyid and public key', () => {
    const run = uptane(['keys', 'generate', 'root.pem']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const file = join(dir, 'root.pem');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const key = loadPrivateKey(file);
    expect(field(run.stdout, 'keyid')).toBe(key.keyid);
    expect(field(run.stdout, 'public')).toBe(key.publicKey.tuf.keyval.public);
    expect(field(run.stdout, 'keyid')).toMatch(HEX64);
  });

  it("makes the key's folder when it does not exist yet, owner-only, as the README's first key command needs", () => {
    const run = uptane(['keys', 'generate', 'keys/targets-1.pem', '--public-out', 'keys/targets-1.pub.json']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'keys/targets-1.pem')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'keys/targets-1.pub.json'))).toBe(true);
  });

  it('--json prints {keyid, public, file} and --public-out writes the TUF key JSON', () => {
    const run = uptane(['keys', 'generate', 'targets.pem', '--public-out', 'targets.pub.json', '--json']);
    expect(run.status).toBe(0);
    const printed = JSON.parse(run.stdout) as Record<string, string>;
    expect(printed).toEqual({
      keyid: expect.stringMatching(HEX64),
      type: 'ed25519',
      public: expect.stringMatching(HEX64),
      file: 'targets.pem',
      publicOut: 'targets.pub.json',
    });
    const tuf = JSON.parse(readFileSync(join(dir, 'targets.pub.json'), 'utf8')) as TufKey;
    expect(tuf).toEqual({ keytype: 'ed25519', scheme: 'ed25519', keyval: { public: printed.public } });
    expect(computeKeyId(tuf)).toBe(printed.keyid);
    expect(loadPrivateKey(join(dir, 'targets.pem')).keyid).toBe(printed.keyid);
  });

  it('--type ecdsa-p256 and rsa-3072 write PKCS#8 keys whose TUF key JSON holds a PEM SubjectPublicKeyInfo', () => {
    for (const [type, scheme] of [['ecdsa-p256', 'ecdsa-sha2-nistp256'], ['ecdsa-p384', 'ecdsa-sha2-nistp384'], ['rsa-3072', 'rsassa-pss-sha256']] as const) {
      const run = uptane(['keys', 'generate', `${type}.pem`, '--type', type, '--public-out', `${type}.pub.json`, '--json']);
      expect(run.status).toBe(0);
      const printed = JSON.parse(run.stdout) as Record<string, string>;
      expect(printed.type).toBe(type);
      const tuf = JSON.parse(readFileSync(join(dir, `${type}.pub.json`), 'utf8')) as TufKey;
      expect(tuf.scheme).toBe(scheme);
      expect(tuf.keyval.public).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      expect(loadPrivateKey(join(dir, `${type}.pem`)).publicKey.tuf).toEqual(tuf);
    }
    expect(uptane(['keys', 'generate', 'x.pem', '--type', 'dsa']).status).toBe(1);
  });

  it('generates a different key each time', () => {
    const a = JSON.parse(uptane(['keys', 'generate', 'a.pem', '--json']).stdout) as { keyid: string };
    const b = JSON.parse(uptane(['keys', 'generate', 'b.pem', '--json']).stdout) as { keyid: string };
    expect(a.keyid).not.toBe(b.keyid);
  });

  it('refuses to overwrite an existing key: exit 1, a clear message, the file unchanged', () => {
    expect(uptane(['keys', 'generate', 'root.pem']).status).toBe(0);
    const before = readFileSync(join(dir, 'root.pem'));
    const run = uptane(['keys', 'generate', 'root.pem']);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('error: refusing to overwrite existing file root.pem\n');
    expect(readFileSync(join(dir, 'root.pem'))).toEqual(before);
  });

  it('refuses an existing --public-out before writing the private key', () => {
    writeFileSync(join(dir, 'pub.json'), 'keep');
    const run = uptane(['keys', 'generate', 'new.pem', '--public-out', 'pub.json']);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('error: refusing to overwrite existing file pub.json\n');
    expect(existsSync(join(dir, 'new.pem'))).toBe(false);
    expect(readFileSync(join(dir, 'pub.json'), 'utf8')).toBe('keep');
  });

  it('--help exits 0 and shows the usage and examples', () => {
    const run = uptane(['keys', 'generate', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('uptane keys generate <file>');
    expect(run.stdout).toContain('Examples:');
    expect(run.stdout).toContain('uptane keys generate root.pem --passphrase-env');
    expect(run.stdout).toContain('--passphrase-env');
  });
});

describe('uptane keys show', () => {
  let keyid: string;
  let publicHex: string;
  beforeEach(() => {
    const printed = JSON.parse(uptane(['keys', 'generate', 'root.pem', '--public-out', 'root.pub.json', '--json']).stdout) as {
      keyid: string;
      public: string;
    };
    keyid = printed.keyid;
    publicHex = printed.public;
  });

  it('prints keyid, keytype, scheme, public key and the TUF key JSON of a private key', () => {
    const run = uptane(['keys', 'show', 'root.pem']);
    expect(run.status).toBe(0);
    expect(field(run.stdout, 'keyid')).toBe(keyid);
    expect(field(run.stdout, 'keytype')).toBe('ed25519');
    expect(field(run.stdout, 'scheme')).toBe('ed25519');
    expect(field(run.stdout, 'public')).toBe(publicHex);
    expect(field(run.stdout, 'kind')).toBe('private key (PKCS#8 PEM)');
    expect(field(run.stdout, 'tuf key')).toBe(`{"keytype":"ed25519","keyval":{"public":"${publicHex}"},"scheme":"ed25519"}`);
  });

  it('--json gives the same facts for the private key, the TUF key JSON and an SPKI PEM', () => {
    writeFileSync(join(dir, 'root.spki.pem'), publicKeyPem(loadPublicKey(join(dir, 'root.pub.json'))));
    const expectedKey = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: publicHex } };
    for (const [file, kind] of [
      ['root.pem', 'private-key'],
      ['root.pub.json', 'tuf-key-json'],
      ['root.spki.pem', 'public-key-pem'],
    ] as const) {
      const run = uptane(['keys', 'show', file, '--json']);
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({
        file,
        kind,
        encrypted: false,
        keyid,
        keytype: 'ed25519',
        scheme: 'ed25519',
        public: publicHex,
        key: expectedKey,
      });
    }
  });

  it('fails with exit 1 on a missing or malformed file', () => {
    const missing = uptane(['keys', 'show', 'nope.pem']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^error: cannot read key file nope\.pem: ENOENT/);
    writeFileSync(join(dir, 'bad.json'), '{"keytype":"ed25519"}');
    const bad = uptane(['keys', 'show', 'bad.json']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*bad\.json is not a TUF key object/);
  });
});

describe('passphrase from an environment variable', () => {
  const PASS = { UPTANE_TEST_PASS: 'correct horse battery staple' };

  it('round trip: generate encrypted, show needs the same passphrase', () => {
    const gen = uptane(['keys', 'generate', 'enc.pem', '--passphrase-env', 'UPTANE_TEST_PASS', '--json'], PASS);
    expect(gen.status).toBe(0);
    const { keyid } = JSON.parse(gen.stdout) as { keyid: string };
    const file = join(dir, 'enc.pem');
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect(readFileSync(file, 'utf8')).not.toContain(PASS.UPTANE_TEST_PASS);
    expect(loadPrivateKey(file, PASS.UPTANE_TEST_PASS).keyid).toBe(keyid);

    const shown = uptane(['keys', 'show', 'enc.pem', '--passphrase-env', 'UPTANE_TEST_PASS', '--json'], PASS);
    expect(shown.status).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ keyid, kind: 'private-key', encrypted: true });

    const text = uptane(['keys', 'show', 'enc.pem', '--passphrase-env', 'UPTANE_TEST_PASS'], PASS);
    expect(field(text.stdout, 'kind')).toBe('private key (PKCS#8 PEM), encrypted');
    expect(field(text.stdout, 'keyid')).toBe(keyid);

    const noPassphrase = uptane(['keys', 'show', 'enc.pem']);
    expect(noPassphrase.status).toBe(1);
    expect(noPassphrase.stderr).toContain('error: enc.pem is an encrypted private key');
    expect(noPassphrase.stderr).toContain('--passphrase-env');

    const wrong = uptane(['keys', 'show', 'enc.pem', '--passphrase-env', 'UPTANE_TEST_PASS'], { UPTANE_TEST_PASS: 'wrong' });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^error: cannot read private key: .*wrong or missing passphrase/);
    expect(wrong.stdout).toBe('');
  });

  it('an unset or empty variable is an error and writes no key', () => {
    const unset = uptane(['keys', 'generate', 'k.pem', '--passphrase-env', 'UPTANE_TEST_UNSET_VARIABLE']);
    expect(unset.status).toBe(1);
    expect(unset.stderr).toContain('error: --passphrase-env UPTANE_TEST_UNSET_VARIABLE: environment variable UPTANE_TEST_UNSET_VARIABLE is not set');
    const empty = uptane(['keys', 'generate', 'k.pem', '--passphrase-env', 'UPTANE_TEST_PASS'], { UPTANE_TEST_PASS: '' });
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain('is empty');
    expect(existsSync(join(dir, 'k.pem'))).toBe(false);
  });

  it('there is no option to pass the passphrase itself on the command line', () => {
    const run = uptane(['keys', 'generate', 'k.pem', '--passphrase', 'secret']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('error: Unknown argument: passphrase');
    expect(existsSync(join(dir, 'k.pem'))).toBe(false);
  });
});

describe('usage errors and help', () => {
  it.each([
    [[], 'name a command'],
    [['keys'], 'name a keys subcommand'],
    [['keys', 'generate'], 'Not enough non-option arguments'],
    [['keys', 'frobnicate'], 'Unknown argument: frobnicate'],
    [['nonsense'], 'Unknown argument: nonsense'],
    [['keys', 'show', 'a.pem', '--bogus'], 'Unknown argument: bogus'],
  ])('uptane %j exits 1 with an error message', (args, message) => {
    const run = uptane(args);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stderr).toContain(message);
  });

  it('uptane --help exits 0, lists the keys group and points to the README', () => {
    const run = uptane(['--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('uptane keys');
    expect(run.stdout).toContain('README');
  });

  it('uptane keys show --help mentions an example', () => {
    const run = uptane(['keys', 'show', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Examples:');
    expect(run.stdout).toContain('uptane keys show root.pem');
  });

  it('dist/cli.js starts with a node shebang', () => {
    expect(readFileSync(CLI, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});
