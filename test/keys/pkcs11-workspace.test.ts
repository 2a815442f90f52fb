// Hardware key custody end to end: the real `uptane` binary signs offline roles with keys that never
// leave a SoftHSM2 token (`--key pkcs11:...`), pushes to a real Image repository server on 127.0.0.1,
// and the shared RepositoryUpdater accepts the result. Root rotation to a token key, a token key
// listed under another keyid, and every refusal leaving the workspace byte for byte as it was.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PublicKey } from '../../shared/core/crypto/keys.js';
import type { WorkspaceStatus } from '../../shared/workspace/status.js';
import { startImageServer, type RunningImageServer } from '../../image-repo/server.js';
import { buildCli, runCli, type CliResult } from '../support/cli-runner.js';
import { createToken, describeWithSoftHsm, generateTokenKey, type SoftToken } from './softhsm.js';

const UPLOAD_TOKEN = 'pkcs11-release-token-0123456789abcdef';
// Each test runs the CLI 10-20 times; on a loaded 2-core machine one run can take seconds.

describeWithSoftHsm('offline roles signed through a PKCS#11 token (SoftHSM2)', () => {
  let token: SoftToken;
  let dir: string;
  let server: RunningImageServer;

  const uptane = (args: readonly string[], extraEnv: Record<string, string> = {}): Promise<CliResult> =>
    runCli(args, { cwd: dir, env: token.env({ UPTANE_UPLOAD_TOKEN: UPLOAD_TOKEN, ...extraEnv }) });

  async function ok(...args: string[]): Promise<string> {
    const run = await uptane(args);
    if (run.status !== 0) throw new Error(`uptane ${args.join(' ')} exited ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    return run.stdout;
  }

  async function status(workspace: string): Promise<WorkspaceStatus> {
    return JSON.parse(await ok('image', 'status', '-w', workspace, '--json')) as WorkspaceStatus;
  }

  /** Every file of the workspace, for "nothing changed" checks. */
  function snapshotFiles(workspace: string): Record<string, string> {
    const files: Record<string, string> = {};
    const walk = (sub: string) => {
      for (const entry of readdirSync(join(dir, workspace, sub), { withFileTypes: true })) {
        const rel = join(sub, entry.name);
        if (entry.isDirectory()) walk(rel);
        else files[rel] = readFileSync(join(dir, workspace, rel)).toString('base64');
      }
    };
    walk('');
    return files;
  }

  function client(rootBytes: Uint8Array): RepositoryUpdater {
    const store = new FileMetadataStore(mkdtempSync(join(dir, 'client-')));
    store.persist('root', rootBytes);
    return new RepositoryUpdater({
      repository: 'image',
      metadataUrl: `${server.url}/metadata`,
      targetsUrl: `${server.url}/targets`,
      store,
      fetcher: new HttpFetcher(),
      requestHeaders: () => ({ authorization: `Bearer ${UPLOAD_TOKEN}` }),
    });
  }

  const uri = (object: string) => `pkcs11:token=release;object=${object}`;

  beforeAll(async () => {
    await buildCli();
    token = await createToken('release');
    generateTokenKey(token, 'p256', 'root-1', '01');
    generateTokenKey(token, 'p384', 'root-2', '02');
    generateTokenKey(token, 'rsa2048', 'targets-1', '03');
    generateTokenKey(token, 'p256', 'targets-2', '04');
  }, 120_000);

  afterAll(() => token.remove());

  beforeEach(async () => {
    dir = mkdtempSync(join(token.dir, 'ws-'));
    server = await startImageServer({ dataDir: join(dir, 'server'), readAccess: { mode: 'credential' } });
    await server.storage.addUploader('release-engineers', UPLOAD_TOKEN, new Date());
  });

  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('root and 2-of-2 targets signed by token keys (sign and sign-request sign) are pushed and accepted by the client', async () => {
    await ok('image', 'init', '-w', 'oem', '--server', server.url);
    // The public halves come from the token: nobody handles a key file.
    await ok('image', 'root', 'create', '-w', 'oem', '--root-key', uri('root-1'), '--targets-key', uri('targets-1'), '--targets-key', uri('targets-2'), '--targets-threshold', '2');
    const signedRoot = await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', uri('root-1'));
    expect(signedRoot).toMatch(/signed root v1 with [0-9a-f]{64}/);
    const image = randomBytes(4096);
    writeFileSync(join(dir, 'ecm.bin'), image);
    await ok('image', 'targets', 'add', 'ecm.bin', '-w', 'oem', '--name', 'engine/ecm.bin', '--hardware-id', 'ecm-x1', '--release-counter', '1');
    // targets-1 is RSA on the token (CKM_SHA256_RSA_PKCS_PSS), with the PIN from a variable named by --pin-env.
    const run = await uptane(['image', 'sign', '-w', 'oem', '--role', 'targets', '--key', uri('targets-1'), '--pin-env', 'RELEASE_PIN'], { RELEASE_PIN: '123456', UPTANE_PKCS11_PIN: 'wrong' });
    expect(run.status).toBe(0);
    // targets-2 signs air-gapped: the request travels, the token key signs it, the signature comes back.
    const exported = await ok('image', 'sign-request', 'export', '-w', 'oem', '--role', 'targets', '--out', 'targets.request.json');
    const sha256 = /SHA-256 of the bytes to sign: ([0-9a-f]{64})/.exec(exported)![1]!;
    await ok('image', 'sign-request', 'sign', 'targets.request.json', '--key', uri('targets-2'), '--expect-sha256', sha256, '--out', 'targets.sig.json');
    await ok('image', 'sign-request', 'import', 'targets.sig.json', '-w', 'oem');

    const ready = await status('oem');
    expect(ready.readyToPush).toBe(true);
    const staged = JSON.parse(readFileSync(join(dir, 'oem', 'staged', 'targets.json'), 'utf8')) as { signatures: { keyid: string; sig: string }[] };
    expect(staged.signatures).toHaveLength(2);

    await ok('image', 'push', '-w', 'oem');
    const updater = client(readFileSync(join(dir, 'oem', 'published', 'root.json')));
    expect(await updater.refresh()).toMatchObject({ rootVersion: 1, targetsVersion: 1 });
    const found = await updater.findTarget('engine/ecm.bin');
    await updater.downloadTarget(found, join(dir, 'downloaded.bin'));
    expect(readFileSync(join(dir, 'downloaded.bin')).equals(image)).toBe(true);
  }, 240_000);

  test('root rotation from a key file to a token key: root v2 is signed by the old file key and the new token key, and clients follow it', async () => {
    await ok('keys', 'generate', 'root0.pem', '--public-out', 'root0.pub.json');
    await ok('keys', 'generate', 't1.pem', '--public-out', 't1.pub.json');
    await ok('image', 'init', '-w', 'oem', '--server', server.url);
    await ok('image', 'root', 'create', '-w', 'oem', '--root-key', 'root0.pub.json', '--targets-key', 't1.pub.json');
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root0.pem');
    writeFileSync(join(dir, 'abs.bin'), 'brake ecu v1');
    await ok('image', 'targets', 'add', 'abs.bin', '-w', 'oem', '--name', 'brake/abs.bin', '--hardware-id', 'abs-z', '--release-counter', '1');
    await ok('image', 'sign', '-w', 'oem', '--role', 'targets', '--key', 't1.pem');
    await ok('image', 'push', '-w', 'oem');
    const rootV1 = readFileSync(join(dir, 'oem', 'published', 'root.json'));

    await ok('image', 'root', 'add-key', '-w', 'oem', '--role', 'root', '--key', uri('root-2'));
    const old = PublicKey.fromTuf(JSON.parse(readFileSync(join(dir, 'root0.pub.json'), 'utf8')));
    await ok('image', 'root', 'remove-key', '-w', 'oem', '--role', 'root', '--keyid', old.keyid);
    // Only the new root's key has signed: the old root's threshold is still missing.
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', uri('root-2'));
    expect((await status('oem')).readyToPush).toBe(false);
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', 'root0.pem');
    expect((await status('oem')).readyToPush).toBe(true);
    await ok('image', 'push', '-w', 'oem', '--role', 'root');

    const published = JSON.parse(readFileSync(join(dir, 'oem', 'published', 'root.json'), 'utf8')) as { signed: { version: number; roles: { root: { keyids: string[] } }; keys: Record<string, { scheme: string }> } };
    expect(published.signed.version).toBe(2);
    const [newKeyid] = published.signed.roles.root.keyids;
    expect(published.signed.keys[newKeyid!]!.scheme).toBe('ecdsa-sha2-nistp384');
    expect(await client(rootV1).refresh()).toMatchObject({ rootVersion: 2 });
  }, 240_000);

  test('a token key the root lists under another keyid signs under that keyid, with sign and with a signing request', async () => {
    await ok('image', 'init', '-w', 'oem', '--server', server.url);
    // The same P-256 key, spelled with the legacy keytype other TUF tools write: another keyid, same material.
    await ok('image', 'init', '-w', 'probe', '--server', server.url);
    await ok('image', 'root', 'create', '-w', 'probe', '--root-key', uri('root-1'), '--targets-key', uri('targets-2'));
    const probe = JSON.parse(readFileSync(join(dir, 'probe', 'staged', 'root.json'), 'utf8')) as { signed: { roles: { root: { keyids: string[] } }; keys: Record<string, { keyval: { public: string } }> } };
    const tokenKeyPem = probe.signed.keys[probe.signed.roles.root.keyids[0]!]!.keyval.public;
    const alias = { keytype: 'ecdsa-sha2-nistp256', scheme: 'ecdsa-sha2-nistp256', keyval: { public: tokenKeyPem } };
    writeFileSync(join(dir, 'root-alias.pub.json'), JSON.stringify(alias));
    const aliasKeyid = PublicKey.fromTuf(alias).keyid;

    await ok('image', 'root', 'create', '-w', 'oem', '--root-key', 'root-alias.pub.json', '--targets-key', uri('targets-2'));
    const root = JSON.parse(readFileSync(join(dir, 'oem', 'staged', 'root.json'), 'utf8')) as { signed: { roles: { root: { keyids: string[] } } } };
    expect(root.signed.roles.root.keyids).toEqual([aliasKeyid]);

    // Through a signing request: the request names the key, so the token key answers under the alias.
    const exported = await ok('image', 'sign-request', 'export', '-w', 'oem', '--role', 'root', '--out', 'root.request.json');
    const sha256 = /SHA-256 of the bytes to sign: ([0-9a-f]{64})/.exec(exported)![1]!;
    const signed = await ok('image', 'sign-request', 'sign', 'root.request.json', '--key', uri('root-1'), '--expect-sha256', sha256, '--out', 'root.sig.json', '--json');
    expect((JSON.parse(signed) as { keyid: string }).keyid).toBe(aliasKeyid);
    await ok('image', 'sign-request', 'import', 'root.sig.json', '-w', 'oem');
    expect((await status('oem')).readyToPush).toBe(true);

    // Directly: signing again with the token key finds its valid signature under the alias keyid.
    const again = JSON.parse(await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', uri('root-1'), '--json')) as { keyid: string; alreadySigned: boolean; ready: boolean };
    expect(again).toMatchObject({ keyid: aliasKeyid, alreadySigned: true, ready: true });
    const stagedRoot = JSON.parse(readFileSync(join(dir, 'oem', 'staged', 'root.json'), 'utf8')) as { signatures: { keyid: string; sig: string }[] };
    expect(stagedRoot.signatures.map((s) => s.keyid)).toEqual([aliasKeyid]);
    await ok('image', 'push', '-w', 'oem', '--role', 'root');
  }, 240_000);

  test('every refusal through the CLI is a typed error that says what to do, and the workspace is unchanged', async () => {
    await ok('image', 'init', '-w', 'oem', '--server', server.url);
    await ok('image', 'root', 'create', '-w', 'oem', '--root-key', uri('root-1'), '--targets-key', uri('targets-1'));
    const before = snapshotFiles('oem');
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--key', 'pkcs11:token=release;object'], {}, /object.*is not name=value/],
      [['--key', 'pkcs11:token=release;object=root-1;colour=red'], {}, /attribute "colour" is not one this tool acts on/],
      [['--key', uri('root-1'), '--pkcs11-module', '/nonexistent/module.so'], {}, /PKCS#11 module \/nonexistent\/module\.so does not exist/],
      [['--key', uri('root-1'), '--pkcs11-module', '/etc/hostname'], {}, /cannot load \/etc\/hostname as a PKCS#11 module/],
      [['--key', 'pkcs11:token=nosuch;object=root-1'], {}, /no token matching token "nosuch"/],
      [['--key', uri('root-1')], { UPTANE_PKCS11_PIN: '999999' }, /refused the PIN \(CKR_PIN_INCORRECT\)/],
      [['--key', uri('root-1')], { UPTANE_PKCS11_PIN: '' }, /UPTANE_PKCS11_PIN is empty/],
      [['--key', uri('root-9')], {}, /holds no private key with object "root-9"; its private keys: .*object=root-1/],
      // A token key the role does not list: refused before the token signs anything.
      [['--key', uri('targets-2')], {}, /key [0-9a-f]{64} may not sign root/],
    ];
    for (const [keyArgs, env, message] of cases) {
      const run = await uptane(['image', 'sign', '-w', 'oem', '--role', 'root', ...keyArgs], env);
      expect({ args: keyArgs, status: run.status }).toEqual({ args: keyArgs, status: 1 });
      expect(run.stderr).toMatch(message);
      expect(snapshotFiles('oem')).toEqual(before);
    }
    // No PIN anywhere and no terminal: a clear error instead of a prompt nobody sees.
    const noPin = await runCli(['image', 'sign', '-w', 'oem', '--role', 'root', '--key', uri('root-1')], { cwd: dir, env: { ...token.env(), UPTANE_PKCS11_PIN: undefined } });
    expect(noPin.status).toBe(1);
    expect(noPin.stderr).toMatch(/no PIN for token "release", object "root-1": set UPTANE_PKCS11_PIN/);
    expect(snapshotFiles('oem')).toEqual(before);
  }, 240_000);

  test('--help of the signing commands shows a PKCS#11 example', async () => {
    // yargs wraps the examples in two columns: look for the URI and the PIN option, each unbroken.
    const help = (...args: string[]) => ok(...args, '--help');
    for (const [args, object] of [[['image', 'sign'], 'root-1'], [['director', 'sign'], 'root-1'], [['image', 'sign-request', 'sign'], 'root-2'], [['image', 'root', 'add-key'], 'root-2']] as const) {
      const text = await help(...args);
      expect(text).toContain(`'pkcs11:token=release;object=${object}'`);
      expect(text).toContain('--pin-env');
    }
  }, 120_000);

  test('a signature the token made verifies under the key root lists (sanity check on the published file)', async () => {
    await ok('image', 'init', '-w', 'oem', '--server', server.url);
    await ok('image', 'root', 'create', '-w', 'oem', '--root-key', uri('root-2'), '--targets-key', uri('targets-1'));
    await ok('image', 'sign', '-w', 'oem', '--role', 'root', '--key', uri('root-2'));
    const root = JSON.parse(readFileSync(join(dir, 'oem', 'staged', 'root.json'), 'utf8')) as { signed: { keys: Record<string, { keytype: string; scheme: string; keyval: { public: string } }> }; signatures: { keyid: string; sig: string }[] };
    const [signature] = root.signatures;
    const key = PublicKey.fromTuf(root.signed.keys[signature!.keyid]!);
    const { canonicalBytes } = await import('../../shared/core/canonical.js');
    expect(key.verify(canonicalBytes(root.signed), signature!.sig, nodeBackend)).toBe(true);
  }, 120_000);
});
