// `uptane keys ...`: make key files (Ed25519 by default; ECDSA P-256/P-384 or RSA-3072 with --type,
// for roles whose keys live in an HSM or KMS and ECUs whose hardware signs only with ECDSA) and show
// what a key file holds (keyid, public key, the
// TUF key object to paste into metadata). The root `cli.ts` registers this group; the environment
// and the output stream are passed in, because only cli.ts files read process.env
// (docs/code-style.md R3).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { canonicalJson } from '../core/canonical.js';
import { printJson } from './cli-output.js';
import { loadPrivateKey, loadPublicKey, savePrivateKey } from '../files/key-files.js';
import { KEY_TYPES, type KeyType, PrivateKey, type PublicKey } from '../core/crypto/keys.js';
import { KeyFileError } from '../core/errors.js';
import { type CliEnvironment, passphraseFrom } from './environment.js';
import { keyFilePassphrase } from '../keys/key-source.js';

interface PassphraseOption {
  readonly passphraseEnv?: string | undefined;
}

interface GenerateArgs extends PassphraseOption {
  readonly file: string;
  readonly type: KeyType;
  readonly publicOut?: string | undefined;
  readonly json: boolean;
}

interface ShowArgs extends PassphraseOption {
  readonly file: string;
  readonly json: boolean;
}

/** Kinds of key file `keys show` understands. */
export type KeyFileKind = 'private-key' | 'public-key-pem' | 'tuf-key-json';

function withPassphraseOption<T>(yargs: Argv<T>, io: CliEnvironment, purpose: string): Argv<T & PassphraseOption> {
  return yargs
    .option('passphrase-env', {
      type: 'string',
      requiresArg: true,
      describe: `environment variable holding the passphrase ${purpose} (never pass it as an argument)`,
    })
    .check((argv) => {
      passphraseFrom(io.env, (argv as PassphraseOption).passphraseEnv);
      return true;
    }) as Argv<T & PassphraseOption>;
}

function refuseExisting(path: string): void {
  if (existsSync(path)) throw new KeyFileError(`refusing to overwrite existing file ${path}`);
}

function generate(io: CliEnvironment, args: GenerateArgs): void {
  const passphrase = passphraseFrom(io.env, args.passphraseEnv);
  // Check both outputs first, so a refused --public-out does not leave a new private key behind.
  // savePrivateKey still opens with O_EXCL, which settles any race.
  refuseExisting(args.file);
  if (args.publicOut !== undefined) {
    if (args.publicOut === args.file) throw new KeyFileError('--public-out must name a different file than the private key');
    refuseExisting(args.publicOut);
  }
  const key = PrivateKey.generate(args.type);
  // A first key usually goes into a folder that does not exist yet (keys/targets-1.pem): made
  // here, owner-only, as a key folder should be. An existing folder is left as it is.
  for (const file of [args.file, args.publicOut]) {
    if (file !== undefined) mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
  }
  savePrivateKey(args.file, key, passphrase);
  if (args.publicOut !== undefined) {
    try {
      writeFileSync(args.publicOut, `${JSON.stringify(key.publicKey.tuf, null, 2)}\n`, { flag: 'wx' });
    } catch (err) {
      throw new KeyFileError(`cannot write public key ${args.publicOut}: ${(err as Error).message}`, { cause: err });
    }
  }
  const publicKey = key.publicKey.tuf.keyval.public;
  if (args.json) {
    const result: Record<string, string> = { keyid: key.keyid, type: args.type, public: publicKey, file: args.file };
    if (args.publicOut !== undefined) result.publicOut = args.publicOut;
    printJson(io, result);
    return;
  }
  io.print(`wrote ${passphrase === undefined ? '' : 'encrypted '}private key ${args.file} (mode 0600)`);
  if (args.publicOut !== undefined) io.print(`wrote public key ${args.publicOut}`);
  io.print(`keyid:  ${key.keyid}`);
  printPublic(io, key.publicKey, 'public: ');
}

/** Ed25519's hex on the line; a PEM (ECDSA, RSA) as its own lines, as `openssl pkey -pubout` prints it. */
function printPublic(io: CliEnvironment, key: PublicKey, label: string): void {
  const text = key.tuf.keyval.public;
  if (!text.includes('\n')) {
    io.print(`${label}${text}`);
    return;
  }
  // One print per line: print escapes control characters, line breaks included.
  io.print(label.trimEnd());
  for (const line of text.trimEnd().split('\n')) io.print(line);
}

async function readKeyFile(
  io: CliEnvironment,
  args: ShowArgs,
): Promise<{ kind: KeyFileKind; encrypted: boolean; key: PublicKey }> {
  let text: string;
  try {
    text = readFileSync(args.file, 'utf8');
  } catch (err) {
    throw new KeyFileError(`cannot read key file ${args.file}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trimStart().startsWith('{')) return { kind: 'tuf-key-json', encrypted: false, key: loadPublicKey(args.file) };
  const encrypted = text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  if (encrypted || text.includes('-----BEGIN PRIVATE KEY-----')) {
    const passphrase = encrypted ? await keyFilePassphrase(args.file, { env: io.env, passphraseEnv: args.passphraseEnv, promptSecret: io.promptSecret }) : passphraseFrom(io.env, args.passphraseEnv);
    const key = loadPrivateKey(args.file, passphrase);
    return { kind: 'private-key', encrypted, key: key.publicKey };
  }
  return { kind: 'public-key-pem', encrypted: false, key: loadPublicKey(args.file) };
}

const KIND_LABEL: Record<KeyFileKind, string> = {
  'private-key': 'private key (PKCS#8 PEM)',
  'public-key-pem': 'public key (SPKI PEM)',
  'tuf-key-json': 'public key (TUF key JSON)',
};

async function show(io: CliEnvironment, args: ShowArgs): Promise<void> {
  const { kind, encrypted, key } = await readKeyFile(io, args);
  if (args.json) {
    printJson(io, {
      file: args.file,
      kind,
      encrypted,
      keyid: key.keyid,
      keytype: key.tuf.keytype,
      scheme: key.tuf.scheme,
      public: key.tuf.keyval.public,
      key: key.tuf,
    });
    return;
  }
  io.print(`file:    ${args.file}`);
  io.print(`kind:    ${KIND_LABEL[kind]}${encrypted ? ', encrypted' : ''}`);
  io.print(`keyid:   ${key.keyid}`);
  io.print(`keytype: ${key.tuf.keytype}`);
  io.print(`scheme:  ${key.tuf.scheme}`);
  printPublic(io, key, 'public:  ');
  // JSON.stringify, not canonical JSON: a PEM's line breaks must be escaped to paste into a file.
  io.print(`tuf key: ${key.tuf.keyval.public.includes('\n') ? JSON.stringify(key.tuf) : canonicalJson(key.tuf)}`);
}

function generateCommand(io: CliEnvironment): CommandModule<object, GenerateArgs> {
  return {
    command: 'generate <file>',
    describe: 'Generate a key pair (Ed25519 unless --type says otherwise) and write the private key as PKCS#8 PEM (mode 0600)',
    builder: (yargs) =>
      withPassphraseOption(
        yargs
          .positional('file', { type: 'string', demandOption: true, describe: 'private key file to create; never overwritten' })
          .option('type', {
            choices: KEY_TYPES,
            default: 'ed25519' as KeyType,
            describe: 'key type: ed25519, ecdsa-p256 / ecdsa-p384 (scheme ecdsa-sha2-nistp256/384), rsa-3072 (rsassa-pss-sha256)',
          })
          .option('public-out', { type: 'string', requiresArg: true, describe: 'also write the public key as TUF key JSON to this file' })
          .option('json', { type: 'boolean', default: false, describe: 'print {keyid, public, file} as JSON' })
          .example('$0 keys generate root.pem --public-out root.pub.json', 'a key, and its public TUF key JSON')
          .example('$0 keys generate root.pem --passphrase-env ROOT_PASS', 'a key encrypted with $ROOT_PASS')
          .example('$0 keys generate ecu.pem --type ecdsa-p256', 'an ECDSA P-256 key, for hardware that signs only with ECDSA'),
        io,
        'to encrypt with',
      ) as Argv<GenerateArgs>,
    handler: (argv) => generate(io, argv),
  };
}

function showCommand(io: CliEnvironment): CommandModule<object, ShowArgs> {
  return {
    command: 'show <file>',
    describe: 'Print the keyid, type, public key and TUF key JSON of a private PEM, public PEM or TUF key JSON file',
    builder: (yargs) =>
      withPassphraseOption(
        yargs
          .positional('file', { type: 'string', demandOption: true, describe: 'key file to read' })
          .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
          .example('$0 keys show root.pem', 'keyid and public key of a private key file')
          .example('$0 keys show root.pem --passphrase-env ROOT_PASS', 'the same for an encrypted key (on a terminal, without --passphrase-env, it asks without echo)')
          .example('$0 keys show root.pub.json --json', 'from TUF key JSON, printed as JSON'),
        io,
        'of an encrypted key',
      ) as Argv<ShowArgs>,
    handler: (argv) => show(io, argv),
  };
}

/** The `keys` command group, for the root CLI: `.command(keysCommand(io))`. */
export const keysCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'keys',
  describe: 'Generate and inspect key files (Ed25519, ECDSA P-256/P-384, RSA)',
  builder: (yargs) =>
    yargs
      .command(generateCommand(io))
      .command(showCommand(io))
      .demandCommand(1, 'name a keys subcommand: generate or show'),
  handler: () => {
    // Not reached: demandCommand(1) requires a subcommand.
  },
});
