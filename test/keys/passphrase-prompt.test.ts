// An encrypted key file's passphrase without an environment variable (issue 20, finding 9): on a
// terminal it is asked for without echo; anywhere else the command fails saying both ways. The
// prompt is driven with a stream standing in for a terminal, the signing path with real encrypted
// key files, and the whole binary (dist/) on a pseudo-terminal from util-linux `script`.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { KeyFileError, TokenPinError } from '../../shared/core/errors.js';
import { savePrivateKey } from '../../shared/files/key-files.js';
import { openSigner } from '../../shared/keys/key-source.js';
import { promptSecretOn } from '../../shared/keys/secret-prompt.js';
import { CLI, hasPseudoTerminal, runCli } from '../support/cli-runner.js';

const PASSPHRASE = 'hunter2-correct-horse';

/** A stand-in for a terminal's input: raw mode is recorded, typed text arrives as data. */
class FakeTerminal extends EventEmitter {
  raw = false;
  setRawMode(mode: boolean) {
    this.raw = mode;
  }
  resume() {}
  pause() {}
  type(text: string) {
    this.emit('data', Buffer.from(text));
  }
}

let dir: string;
let key: PrivateKey;
let keyFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'uptane-passphrase-'));
  key = PrivateKey.generate('ed25519');
  keyFile = join(dir, 'root.pem');
  savePrivateKey(keyFile, key, PASSPHRASE);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('promptSecretOn', () => {
  it('reads a line in raw mode, never writing what was typed, with backspace', async () => {
    const input = new FakeTerminal();
    let written = '';
    const answer = promptSecretOn(input, { write: (t: string) => (written += t) }, 'passphrase for root.pem: ');
    expect(input.raw).toBe(true);
    input.type('hunter2-correct-horsx\u007fe\r');
    await expect(answer).resolves.toBe(PASSPHRASE);
    expect(input.raw).toBe(false);
    expect(written).toBe('passphrase for root.pem: \n');
  });
});

describe('openSigner with an encrypted key file', () => {
  it('asks when no variable names the passphrase, and signs with the key', async () => {
    const prompts: string[] = [];
    const opened = await openSigner(keyFile, { env: {}, promptSecret: async (p) => (prompts.push(p), PASSPHRASE) });
    expect(opened.signer.publicKey.keyid).toBe(key.keyid);
    expect(prompts).toEqual([`passphrase for ${keyFile}: `]);
  });

  it('prefers --passphrase-env, and asks nothing then', async () => {
    const opened = await openSigner(keyFile, { env: { ROOT_PASS: PASSPHRASE }, passphraseEnv: 'ROOT_PASS', promptSecret: () => Promise.reject(new Error('asked')) });
    expect(opened.signer.publicKey.keyid).toBe(key.keyid);
  });

  it('without a terminal, says both ways to give it', async () => {
    await expect(openSigner(keyFile, { env: {} })).rejects.toThrow(new KeyFileError(`${keyFile} is an encrypted private key: name the variable holding its passphrase with --passphrase-env NAME, or run on a terminal to be asked for it`));
  });

  it('a wrong passphrase is refused; a cancelled or empty entry signs nothing', async () => {
    await expect(openSigner(keyFile, { env: {}, promptSecret: async () => 'wrong' })).rejects.toThrow(/passphrase/);
    await expect(openSigner(keyFile, { env: {}, promptSecret: () => Promise.reject(new TokenPinError('cancelled')) })).rejects.toThrow(/passphrase entry for .* cancelled/);
    await expect(openSigner(keyFile, { env: {}, promptSecret: async () => '' })).rejects.toThrow(/empty passphrase/);
  });
});

describe('uptane keys show with an encrypted key', () => {
  it('without a terminal and without --passphrase-env: a clear error, exit 1', async () => {
    const run = await runCli(['keys', 'show', keyFile]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--passphrase-env NAME, or run on a terminal to be asked for it');
  });

  (hasPseudoTerminal ? it : it.skip)('on a terminal: asks, the passphrase never shows, and the key opens', async () => {
    const command = `'${process.execPath}' '${CLI}' keys show '${keyFile}'`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no prompt; output so far: ${output}`)), 20_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('passphrase for')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Typed only once asked, as a person would: before raw mode the terminal itself would echo it.
    child.stdin.write(`${PASSPHRASE}\r`);
    expect(await exited).toBe(0);
    expect(output).toContain(`passphrase for ${keyFile}: `);
    expect(output).toContain(`keyid:   ${key.keyid}`);
    expect(output).not.toContain('hunter2');
  }, 30_000);
});
