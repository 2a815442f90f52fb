// Turns a `--key` value into a Signer: a key file path is read as a PKCS#8 PEM private key (as
// before), a `pkcs11:` URI opens the token key it names (pkcs11-signer.ts). Every workspace signing
// command (`sign`, `sign-request sign`, root rotation through `sign`) goes through here, so a new key
// source (a cloud KMS: docs/ARCHITECTURE.md "Key sources") is one more branch and nothing else.
import { readFileSync } from 'node:fs';
import { passphraseFrom, type CliEnvironment } from '../cli/environment.js';
import type { PrivateKey } from '../core/crypto/keys.js';
import type { Signer } from '../core/crypto/signer.js';
import { KeyFileError, Pkcs11ModuleError, StorageError, TokenPinError } from '../core/errors.js';
import { loadPrivateKey } from '../files/key-files.js';
import { openPkcs11Signer } from './pkcs11-signer.js';
import { describePkcs11Uri, isPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './pkcs11-uri.js';

/** The variable holding the token's user PIN when --pin-env names none. */
export const DEFAULT_PIN_ENV = 'UPTANE_PKCS11_PIN';
/** The variable naming the PKCS#11 module when neither --pkcs11-module nor module-path does. */
export const MODULE_ENV = 'UPTANE_PKCS11_MODULE';

export interface KeySourceOptions {
  /** Environment variables (passphrase, PIN, module). */
  readonly env: CliEnvironment['env'];
  /** --passphrase-env: the variable holding a key file's passphrase. */
  readonly passphraseEnv?: string | undefined;
  /** --pin-env: the variable holding the token PIN (default UPTANE_PKCS11_PIN). */
  readonly pinEnv?: string | undefined;
  /** --pkcs11-module: the module to load. */
  readonly pkcs11Module?: string | undefined;
  /** Asks for a secret without echo; given only when standard input is a terminal. */
  readonly promptSecret?: ((prompt: string) => Promise<string>) | undefined;
}

/** A Signer open for one command; close() releases a token session (a no-op for a key file). */
export interface OpenedSigner {
  readonly signer: Signer;
  /** Where the key is, for messages: the file, or the token and object. */
  readonly description: string;
  /** Things the operator should know (a token key that can leave its token). */
  readonly warnings: readonly string[];
  close(): void;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new StorageError(`cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The passphrase of the encrypted key file `path`: from the variable --passphrase-env names, else
 * asked without echo where standard input is a terminal (`promptSecret`), else a KeyFileError that
 * says both ways. Never from argv.
 */
export async function keyFilePassphrase(path: string, options: Pick<KeySourceOptions, 'env' | 'passphraseEnv' | 'promptSecret'>): Promise<string> {
  if (options.passphraseEnv !== undefined) return passphraseFrom(options.env, options.passphraseEnv)!;
  if (options.promptSecret === undefined) {
    throw new KeyFileError(`${path} is an encrypted private key: name the variable holding its passphrase with --passphrase-env NAME, or run on a terminal to be asked for it`);
  }
  let typed: string;
  try {
    typed = await options.promptSecret(`passphrase for ${path}: `);
  } catch (err) {
    // The prompt's own refusal (Ctrl-C, Ctrl-D) speaks of a PIN; here it was a passphrase.
    if (!(err instanceof TokenPinError)) throw err;
    throw new KeyFileError(`passphrase entry for ${path} cancelled; nothing was done with the key`, { cause: err });
  }
  if (typed === '') throw new KeyFileError(`empty passphrase for ${path}: nothing was done with the key`);
  return typed;
}

/** A private key file for signing; an encrypted one is opened with keyFilePassphrase (variable, else a prompt on a terminal). */
export async function openSigningKeyFile(path: string, options: KeySourceOptions): Promise<PrivateKey> {
  const text = readText(path, 'key file');
  if (!text.includes('PRIVATE KEY-----')) {
    throw new KeyFileError(`${path} holds no private key: signing needs the private key file (PKCS#8 PEM from \`uptane keys generate\`), or a token key as --key 'pkcs11:token=LABEL;object=LABEL'`);
  }
  const encrypted = text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  return loadPrivateKey(path, encrypted ? await keyFilePassphrase(path, options) : passphraseFrom(options.env, options.passphraseEnv));
}

/** The module to load: --pkcs11-module, else the URI's module-path, else UPTANE_PKCS11_MODULE. */
export function pkcs11ModuleOf(uri: Pkcs11Uri, options: KeySourceOptions): string {
  if (options.pkcs11Module !== undefined && uri.modulePath !== undefined && options.pkcs11Module !== uri.modulePath) {
    throw new Pkcs11ModuleError(`--pkcs11-module ${options.pkcs11Module} and the URI's module-path ${uri.modulePath} differ: give one of them`);
  }
  const path = options.pkcs11Module ?? uri.modulePath ?? options.env[MODULE_ENV];
  if (path === undefined || path === '') {
    throw new Pkcs11ModuleError(`no PKCS#11 module named: pass --pkcs11-module /path/to/module.so, set ${MODULE_ENV}, or add ?module-path=... to the URI (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)`);
  }
  return path;
}

/**
 * The token PIN, in this order: the URI's pin-source file; the variable --pin-env names (an error if
 * it is unset); UPTANE_PKCS11_PIN if set; a prompt without echo on a terminal. Never from argv.
 */
async function tokenPin(uri: Pkcs11Uri, options: KeySourceOptions): Promise<string> {
  if (uri.pinFile !== undefined) {
    const line = readText(uri.pinFile, 'PIN file (pin-source)').split(/\r?\n/)[0] ?? '';
    if (line === '') throw new TokenPinError(`the PIN file ${uri.pinFile} (pin-source) is empty`);
    return line;
  }
  const name = options.pinEnv ?? DEFAULT_PIN_ENV;
  const value = options.env[name];
  if (value !== undefined) {
    if (value === '') throw new TokenPinError(`--pin-env ${name}: environment variable ${name} is empty`);
    return value;
  }
  if (options.pinEnv !== undefined) throw new TokenPinError(`--pin-env ${name}: environment variable ${name} is not set`);
  if (options.promptSecret !== undefined) return options.promptSecret(`PIN for ${describePkcs11Uri(uri)}: `);
  throw new TokenPinError(`no PIN for ${describePkcs11Uri(uri)}: set ${DEFAULT_PIN_ENV} (or name another variable with --pin-env NAME), or run on a terminal to be asked`);
}

/** Opens the key a --key value names. Typed errors only; nothing stays open when one is thrown. */
export async function openSigner(spec: string, options: KeySourceOptions): Promise<OpenedSigner> {
  if (!isPkcs11Uri(spec)) {
    const key = await openSigningKeyFile(spec, options);
    return { signer: key, description: spec, warnings: [], close: () => undefined };
  }
  const uri = parsePkcs11Uri(spec);
  const modulePath = pkcs11ModuleOf(uri, options);
  const signer = await openPkcs11Signer(uri, { modulePath, pin: () => tokenPin(uri, options) });
  const warnings: string[] = [];
  if (signer.custody.extractable || !signer.custody.sensitive) {
    warnings.push(
      `${signer.description} is ${signer.custody.extractable ? 'extractable' : 'not sensitive'}: its private key can be read out of the token; generate offline-role keys on the token with CKA_SENSITIVE true and CKA_EXTRACTABLE false`,
    );
  }
  return { signer, description: signer.description, warnings, close: () => signer.close() };
}

/** Runs `use` with the Signer a --key value names and always closes it afterwards. */
export async function withSigner<T>(spec: string, options: KeySourceOptions, use: (signer: Signer, opened: OpenedSigner) => T | Promise<T>): Promise<T> {
  const opened = await openSigner(spec, options);
  try {
    return await use(opened.signer, opened);
  } finally {
    opened.close();
  }
}
