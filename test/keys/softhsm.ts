// A real SoftHSM2 token per test: its own token directory (SOFTHSM2_CONF pointing at a temp
// tokendir), initialized with softhsm2-util, and keys generated inside it with C_GenerateKeyPair
// (sensitive, not extractable) or imported from a PKCS#8 file with softhsm2-util --import.
// .ci/run installs softhsm2, so in CI these tests always run; elsewhere they skip loudly without it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { Handle, PKCS11 } from 'pkcs11js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const USER_PIN = '123456';
export const SO_PIN = '12345678';

/** True when softhsm2-util and the module are installed. */
export function softhsmAvailable(): boolean {
  return existsSync(SOFTHSM_MODULE) && spawnSync('softhsm2-util', ['--version']).status === 0;
}

/** describe, or describe.skip with a loud message when SoftHSM2 is absent; under CI=true its absence fails instead. */
export function describeWithSoftHsm(name: string, body: () => void): void {
  if (softhsmAvailable()) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    // CI must run them: its absence there is a broken install step, not a reason to skip (.ci/run installs it).
    describe(name, () => it('needs SoftHSM2 (apt-get install -y softhsm2)', () => expect(softhsmAvailable()).toBe(true)));
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`\n*** SKIPPING "${name}": SoftHSM2 is not installed (apt-get install -y softhsm2). CI installs it; these tests must run there. ***\n`);
  describe.skip(name, body);
}

type Binding = typeof import('pkcs11js');
const p11 = (): Binding => createRequire(import.meta.url)('pkcs11js') as Binding;

/**
 * SoftHSM2 reads SOFTHSM2_CONF with getenv() when the module initializes. Jest gives each test file a
 * copy of process.env that native code never sees; a worker thread sharing the process environment
 * (SHARE_ENV) writes the real one.
 */
export async function setSoftHsmConf(conf: string): Promise<void> {
  process.env.SOFTHSM2_CONF = conf;
  await new Promise<void>((resolve, reject) => {
    const worker = new Worker(`process.env.SOFTHSM2_CONF = ${JSON.stringify(conf)}`, { eval: true, env: SHARE_ENV });
    worker.on('error', reject);
    worker.on('exit', () => resolve());
  });
}

export interface SoftToken {
  readonly dir: string;
  /** The SOFTHSM2_CONF file; set it in process.env (in-process signers) or a child's env. */
  readonly conf: string;
  readonly label: string;
  /** The env a CLI child needs to reach this token with the right PIN and module. */
  env(extra?: Record<string, string>): Record<string, string | undefined>;
  remove(): void;
}

/** A fresh token directory with one initialized token; SOFTHSM2_CONF in this process (the real environment) points at it. */
export async function createToken(label: string, dir?: string): Promise<SoftToken> {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'uptane-softhsm-'));
  const tokens = join(root, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const conf = join(root, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  await setSoftHsmConf(conf);
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', USER_PIN, '--so-pin', SO_PIN], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' });
  return {
    dir: root,
    conf,
    label,
    env: (extra = {}) => {
      const env: Record<string, string | undefined> = { ...process.env, SOFTHSM2_CONF: conf, UPTANE_PKCS11_MODULE: SOFTHSM_MODULE, UPTANE_PKCS11_PIN: USER_PIN, ...extra };
      delete env.UPTANE_WORKSPACE;
      return env;
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Adds another token to the same directory (tests with several tokens). */
export function initAnotherToken(token: SoftToken, label: string): void {
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', USER_PIN, '--so-pin', SO_PIN], { env: { ...process.env, SOFTHSM2_CONF: token.conf }, stdio: 'pipe' });
}

export type TokenKeyKind = 'p256' | 'p384' | 'rsa2048' | 'rsa1024' | 'ed25519' | 'secp256k1' | 'aes';

const OIDS: Record<string, string> = {
  p256: '06082a8648ce3d030107',
  p384: '06052b81040022',
  secp256k1: '06052b8104000a',
  ed25519: '06032b6570',
};

/** Runs `use` on a logged-in R/W session of the token, then finalizes (no signer may be open meanwhile). */
export function withSession<T>(token: SoftToken, use: (pkcs11: PKCS11, session: Handle, binding: Binding) => T): T {
  const binding = p11();
  const pkcs11 = new binding.PKCS11();
  pkcs11.load(SOFTHSM_MODULE);
  pkcs11.C_Initialize();
  try {
    const slot = pkcs11.C_GetSlotList(true).find((s) => pkcs11.C_GetTokenInfo(s).label.trimEnd() === token.label);
    if (slot === undefined) throw new Error(`token ${token.label} not found`);
    const session = pkcs11.C_OpenSession(slot, binding.CKF_SERIAL_SESSION | binding.CKF_RW_SESSION);
    pkcs11.C_Login(session, binding.CKU_USER, USER_PIN);
    try {
      return use(pkcs11, session, binding);
    } finally {
      pkcs11.C_Logout(session);
      pkcs11.C_CloseSession(session);
    }
  } finally {
    pkcs11.C_Finalize();
    pkcs11.close();
  }
}

/**
 * Generates a key pair inside the token with the private half sensitive and not extractable (as a
 * release engineer's offline key must be; `custody` overrides that for the warning's test), labelled
 * `object` with CKA_ID `id` on both halves.
 */
export function generateTokenKey(token: SoftToken, kind: TokenKeyKind, object: string, id: string, custody: { sensitive: boolean; extractable: boolean } = { sensitive: true, extractable: false }): void {
  withSession(token, (pkcs11, session, b) => {
    const common = [
      { type: b.CKA_TOKEN, value: true },
      { type: b.CKA_LABEL, value: object },
      { type: b.CKA_ID, value: Buffer.from(id, 'hex') },
    ];
    if (kind === 'aes') {
      pkcs11.C_GenerateKey(session, { mechanism: b.CKM_AES_KEY_GEN }, [...common, { type: b.CKA_CLASS, value: b.CKO_SECRET_KEY }, { type: b.CKA_VALUE_LEN, value: 32 }, { type: b.CKA_SIGN, value: true }]);
      return;
    }
    const privateTemplate = [...common, { type: b.CKA_CLASS, value: b.CKO_PRIVATE_KEY }, { type: b.CKA_PRIVATE, value: true }, { type: b.CKA_SENSITIVE, value: custody.sensitive }, { type: b.CKA_EXTRACTABLE, value: custody.extractable }, { type: b.CKA_SIGN, value: true }];
    const publicCommon = [...common, { type: b.CKA_CLASS, value: b.CKO_PUBLIC_KEY }, { type: b.CKA_VERIFY, value: true }];
    if (kind === 'rsa2048' || kind === 'rsa1024') {
      pkcs11.C_GenerateKeyPair(
        session,
        { mechanism: b.CKM_RSA_PKCS_KEY_PAIR_GEN },
        [...publicCommon, { type: b.CKA_MODULUS_BITS, value: kind === 'rsa2048' ? 2048 : 1024 }, { type: b.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
        privateTemplate,
      );
      return;
    }
    const mechanism = kind === 'ed25519' ? 0x1055 /* CKM_EC_EDWARDS_KEY_PAIR_GEN */ : b.CKM_EC_KEY_PAIR_GEN;
    pkcs11.C_GenerateKeyPair(session, { mechanism }, [...publicCommon, { type: b.CKA_EC_PARAMS, value: Buffer.from(OIDS[kind]!, 'hex') }], privateTemplate);
  });
}

/** Imports a PKCS#8 PEM private key into the token with softhsm2-util (the way an existing file key moves into an HSM). */
export function importKeyFile(token: SoftToken, pemPath: string, object: string, id: string): void {
  execFileSync('softhsm2-util', ['--import', pemPath, '--token', token.label, '--label', object, '--id', id, '--pin', USER_PIN], { env: { ...process.env, SOFTHSM2_CONF: token.conf }, stdio: 'pipe' });
}

/** Whether the token will hand out a private key's value (it must not: CKR_ATTRIBUTE_SENSITIVE). */
export function privateKeyAttributes(token: SoftToken, object: string): { sensitive: boolean; extractable: boolean; valueReadable: boolean } {
  return withSession(token, (pkcs11, session, b) => {
    pkcs11.C_FindObjectsInit(session, [{ type: b.CKA_CLASS, value: b.CKO_PRIVATE_KEY }, { type: b.CKA_LABEL, value: object }]);
    const [key] = pkcs11.C_FindObjects(session, 1);
    pkcs11.C_FindObjectsFinal(session);
    if (key === undefined) throw new Error(`no private key ${object}`);
    const [sensitive, extractable] = pkcs11.C_GetAttributeValue(session, key, [{ type: b.CKA_SENSITIVE }, { type: b.CKA_EXTRACTABLE }]).map((a) => (a.value as Buffer)[0] === 1);
    let valueReadable = true;
    try {
      const read = pkcs11.C_GetAttributeValue(session, key, [{ type: b.CKA_VALUE }]);
      valueReadable = (read[0]?.value as Buffer | undefined)?.length !== undefined && (read[0]!.value as Buffer).length > 0;
    } catch (err) {
      if (!(err instanceof b.Pkcs11Error)) throw err;
      valueReadable = false;
    }
    return { sensitive: sensitive!, extractable: extractable!, valueReadable };
  });
}

/**
 * Makes the public key object beside `object` hold another key's material: the public object of
 * `other` takes over `object`'s CKA_ID, and `object`'s own public object is destroyed (a token that
 * reports one key and signs with another).
 */
export function swapPublicKey(token: SoftToken, object: string, other: string): void {
  withSession(token, (pkcs11, session, b) => {
    const find = (cls: number, label: string) => {
      pkcs11.C_FindObjectsInit(session, [{ type: b.CKA_CLASS, value: cls }, { type: b.CKA_LABEL, value: label }]);
      const [handle] = pkcs11.C_FindObjects(session, 1);
      pkcs11.C_FindObjectsFinal(session);
      if (handle === undefined) throw new Error(`no object ${label}`);
      return handle;
    };
    const ownPublic = find(b.CKO_PUBLIC_KEY, object);
    const [id] = pkcs11.C_GetAttributeValue(session, ownPublic, [{ type: b.CKA_ID }]);
    pkcs11.C_DestroyObject(session, ownPublic);
    pkcs11.C_SetAttributeValue(session, find(b.CKO_PUBLIC_KEY, other), [{ type: b.CKA_ID, value: id!.value as Buffer }]);
  });
}
