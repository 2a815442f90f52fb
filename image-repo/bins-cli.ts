// `uptane image bins ...`: hash-bin delegations (TAP 15 succinct_roles) for repositories with tens of
// thousands of images. `bins create` delegates every name from targets to 2^k bins and stages each
// bin; `targets add` and `targets remove` then route each image to its bin by themselves; `bins sign`
// signs every staged bin with one key in one process; `bins expires` re-dates them all; `bins which`
// tells where a name goes. Why bins, and why they are terminating: docs/decisions.md "Hash bins".
import type { Argv, CommandModule } from 'yargs';
import { succinctRoleFor } from '../shared/core/metadata/paths.js';
import { printJson } from '../shared/cli/cli-output.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { loadPublicKey } from '../shared/files/key-files.js';
import { DEFAULT_PIN_ENV, openSigner } from '../shared/keys/key-source.js';
import { openWorkspace, withJson, withWorkspace, type JsonArgs, type WorkspaceArgs, type WorkspaceCliEnvironment } from '../shared/workspace/cli.js';
import { describeExpiry } from '../shared/workspace/duration.js';
import { shortKeyId } from '../shared/workspace/hints.js';
import type { StageResult } from '../shared/workspace/staging.js';
import { DEFAULT_BIN_PREFIX, DEFAULT_HASH_BIN_LIMITS } from '../shared/workspace/targets-edits.js';
import type { StageImagesResult, StagedImage, Workspace } from '../shared/workspace/workspace.js';

/** A short list of role names: the first few, and how many more. */
function someRoles(roles: readonly string[], shown = 8): string {
  return roles.length <= shown ? roles.join(', ') : `${roles.slice(0, shown).join(', ')} and ${roles.length - shown} more`;
}

function stageJson(stage: StageResult) {
  return {
    role: stage.role,
    version: stage.signed.version,
    expires: stage.signed.expires,
    changed: stage.changed,
    started: stage.started,
    publishedVersion: stage.publishedVersion,
    droppedSignatures: stage.droppedSignatures,
  };
}

/** Signatures dropped across several roles, said once: which keys must sign again, and where. */
function printDropped(io: CliEnvironment, stages: readonly StageResult[]): void {
  const dropped = stages.filter((s) => s.droppedSignatures.length > 0);
  if (dropped.length === 0) return;
  const keys = [...new Set(dropped.flatMap((s) => s.droppedSignatures))];
  io.print(`the signed part of ${dropped.length} bin(s) changed (${someRoles(dropped.map((s) => s.role))}), so signatures by ${keys.map(shortKeyId).join(', ')} no longer cover them and were dropped: sign them again`);
}

/** `targets add` into hash bins: a summary per status and the bins touched (each image with --json). */
export function printBinnedAdd(io: WorkspaceCliEnvironment, ws: Workspace, result: StageImagesResult, json = false): void {
  if (json) {
    printJson(io, {
      hashBins: result.hashBins,
      roles: result.stages.map(stageJson),
      images: result.images.map((i) => ({ name: i.name, role: i.role, status: i.status, path: i.path, length: i.target.length, hashes: i.target.hashes, custom: i.target.custom })),
    });
    return;
  }
  const count = (status: StagedImage['status']) => result.images.filter((i) => i.status === status).length;
  const changed = result.stages.filter((s) => s.changed);
  if (result.images.length <= 20) for (const i of result.images) io.print(`${i.status} ${i.name} in ${i.role}`);
  io.print(
    `${result.images.length} image(s) into ${result.stages.length} hash bin(s): ${count('added')} added, ${count('replaced')} replaced, ${count('unchanged')} unchanged`,
  );
  if (changed.length === 0) {
    io.print('nothing changed; signatures collected so far are kept');
    return;
  }
  io.print(`staged ${someRoles(changed.map((s) => `${s.role} v${s.signed.version}`))}`);
  printDropped(io, changed);
  io.print(`next: \`${ws.hint('bins sign --key FILE')}\` signs every staged bin (\`${ws.hint('status')}\` shows who must sign)`);
}

/** `targets remove` of a name that lives in a hash bin. */
export function printBinnedRemove(io: WorkspaceCliEnvironment, ws: Workspace, result: StageResult, name: string, json = false): void {
  if (json) {
    printJson(io, { ...stageJson(result), change: result.changed ? `removed ${name} from ${result.role}` : null });
    return;
  }
  io.print(`removed ${name} from hash bin ${result.role}`);
  io.print(`staged ${result.role} v${result.signed.version}, expires ${result.signed.expires} (${describeExpiry(result.signed.expires, ws.now)})`);
  printDropped(io, [result]);
  io.print(`next: \`${ws.hint('bins sign --key FILE')}\``);
}

interface CreateArgs extends WorkspaceArgs, JsonArgs {
  readonly bins: number;
  readonly key: string[];
  readonly threshold: number;
  readonly prefix: string;
  readonly expires?: string | undefined;
}

const createCommand = (io: WorkspaceCliEnvironment): CommandModule<object, CreateArgs> => ({
  command: 'create',
  describe:
    'stage a hash-bin delegation: targets delegates every image name to 2^k bins (TAP 15 succinct_roles) signed by --key; every bin is staged, and images targets listed move into their bins',
  builder: (yargs) =>
    withJson(withWorkspace(yargs, io))
      .option('bins', {
        type: 'number',
        demandOption: true,
        describe: `how many bins: a power of two from 2 to ${DEFAULT_HASH_BIN_LIMITS.maxBins} (about one bin per 20 to 200 images keeps each small)`,
      })
      .option('key', { type: 'string', array: true, demandOption: true, describe: 'public key file that may sign the bins (repeat for several)' })
      .option('threshold', { type: 'number', default: 1, describe: 'signatures each bin needs' })
      .option('prefix', { type: 'string', default: DEFAULT_BIN_PREFIX, describe: 'bin names are <prefix>-<hex>, e.g. bins-0a3' })
      .option('expires', { type: 'string', requiresArg: true, describe: 'expiry of every bin: a duration (90d) or a date; default the workspace policy for delegated roles' })
      .example('$0 image bins create --bins 256 --key bins.pub.json', 'targets delegates to bins-00 .. bins-ff; then sign targets and `bins sign`')
      .example('$0 image bins create --bins 4096 --key b1.pub.json --key b2.pub.json --threshold 2 --expires 30d', 'two of two keys sign each of 4096 bins') as unknown as Argv<CreateArgs>,
  handler: (argv) => {
    const ws = openWorkspace(io, argv);
    const keys = argv.key.map((file) => loadPublicKey(file));
    const result = ws.createHashBins({
      bins: argv.bins,
      keys,
      threshold: argv.threshold,
      prefix: argv.prefix,
      ...(argv.expires !== undefined ? { expires: argv.expires } : {}),
    });
    const bins = result.bins;
    if (argv.json) {
      printJson(io, { succinct: result.succinct, moved: result.moved, targets: stageJson(result.targets), bins: bins.map(stageJson) });
      return;
    }
    const first = bins[0]!;
    io.print(
      `targets delegates every image name to ${bins.length} hash bins ${first.role} .. ${bins[bins.length - 1]!.role} (${argv.threshold} of ${keys.map((k) => shortKeyId(k.keyid)).join(', ')})`,
    );
    if (result.moved > 0) io.print(`moved the ${result.moved} image(s) targets listed into their bins`);
    io.print(`staged targets v${result.targets.signed.version} and ${bins.length} bins (v${first.signed.version}, expire ${first.signed.expires})`);
    io.print(
      `next: \`${ws.hint('sign --role targets --key FILE')}\`, \`${ws.hint('bins sign --key FILE')}\`, then \`${ws.hint('push')}\`; \`${ws.hint('targets add')}\` puts each image in its bin from now on`,
    );
  },
});

interface SignArgs extends WorkspaceArgs, JsonArgs {
  readonly key: string;
  readonly passphraseEnv?: string | undefined;
  readonly pinEnv?: string | undefined;
  readonly pkcs11Module?: string | undefined;
}

const signCommand = (io: WorkspaceCliEnvironment): CommandModule<object, SignArgs> => ({
  command: 'sign',
  describe: 'sign every staged hash bin with one key, in one process (run once per key when bins need several)',
  builder: (yargs) =>
    withJson(withWorkspace(yargs, io))
      .option('key', {
        type: 'string',
        demandOption: true,
        describe: "a key the bin delegation names: private key file (PKCS#8 PEM), or a token key as 'pkcs11:token=LABEL;object=LABEL'",
      })
      .option('passphrase-env', { type: 'string', requiresArg: true, describe: 'environment variable holding the key file passphrase (never pass it as an argument)' })
      .option('pin-env', { type: 'string', requiresArg: true, describe: `environment variable holding the token PIN for a pkcs11: --key (default ${DEFAULT_PIN_ENV})` })
      .option('pkcs11-module', { type: 'string', requiresArg: true, describe: 'PKCS#11 module (.so) for a pkcs11: --key' })
      .example('$0 image bins sign --key bins.pem', 'sign the 256 bins `bins create` or `targets add` staged')
      .example("$0 image bins sign --key 'pkcs11:token=release;object=bins'", 'one token session signs every bin') as unknown as Argv<SignArgs>,
  handler: async (argv) => {
    const ws = openWorkspace(io, argv);
    // One key opened once (one token session, one PIN) for every bin.
    const opened = await openSigner(argv.key, { env: io.env, passphraseEnv: argv.passphraseEnv, pinEnv: argv.pinEnv, pkcs11Module: argv.pkcs11Module, promptSecret: io.promptSecret });
    for (const warning of opened.warnings) io.warn(warning);
    let results: ReturnType<Workspace['signHashBins']>;
    try {
      results = ws.signHashBins(opened.signer);
    } finally {
      opened.close();
    }
    const signed = results.filter((r) => !r.alreadySigned);
    const met = results.filter((r) => r.progress.every((p) => p.met));
    if (argv.json) {
      printJson(io, {
        keyid: results[0]!.keyid,
        roles: results.map((r) => ({ role: r.role, version: r.version, alreadySigned: r.alreadySigned, thresholdMet: r.progress.every((p) => p.met) })),
      });
      return;
    }
    io.print(`signed ${signed.length} hash bin(s) with ${shortKeyId(results[0]!.keyid)}${results.length > signed.length ? ` (${results.length - signed.length} already carried its signature)` : ''}`);
    io.print(
      met.length === results.length
        ? `every staged bin meets its threshold; next: \`${ws.hint('push')}\``
        : `${results.length - met.length} bin(s) need more signatures: \`${ws.hint('bins sign --key FILE')}\` with another bin key`,
    );
  },
});

interface ExpiresArgs extends WorkspaceArgs, JsonArgs {
  readonly when: string;
}

const expiresCommand = (io: WorkspaceCliEnvironment): CommandModule<object, ExpiresArgs> => ({
  command: 'expires <when>',
  describe: 'stage a new expiry on every hash bin (how bins are re-signed before they expire)',
  builder: (yargs) =>
    withJson(withWorkspace(yargs, io))
      .positional('when', { type: 'string', demandOption: true, describe: 'duration from now (90d, 12h, 1y) or a date (2027-06-30)' })
      .example('$0 image bins expires 90d', 'every bin valid for 90 more days; then `bins sign` and push') as Argv<ExpiresArgs>,
  handler: (argv) => {
    const ws = openWorkspace(io, argv);
    const stages = ws.setHashBinsExpires(argv.when);
    if (argv.json) {
      printJson(io, { roles: stages.map(stageJson) });
      return;
    }
    io.print(`staged ${stages.length} bins expiring ${stages[0]!.signed.expires} (${describeExpiry(stages[0]!.signed.expires, ws.now)})`);
    printDropped(io, stages);
    io.print(`next: \`${ws.hint('bins sign --key FILE')}\`, then \`${ws.hint('push')}\``);
  },
});

interface WhichArgs extends WorkspaceArgs, JsonArgs {
  readonly names: string[];
}

const whichCommand = (io: WorkspaceCliEnvironment): CommandModule<object, WhichArgs> => ({
  command: 'which <names..>',
  describe: 'the hash bin each target name goes to (the first bits of the SHA-256 of the name)',
  builder: (yargs) =>
    withJson(withWorkspace(yargs, io))
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'target names, as listed' })
      .example('$0 image bins which engine/ecm-2.1.bin', 'bins-3f (for 256 bins)') as unknown as Argv<WhichArgs>,
  handler: (argv) => {
    const ws = openWorkspace(io, argv);
    const bins = ws.requireHashBins();
    const rows = argv.names.map((name) => ({ name, role: succinctRoleFor(bins, name) }));
    if (argv.json) {
      printJson(io, { hashBins: bins, names: rows });
      return;
    }
    for (const row of rows) io.print(`${row.name}: ${row.role}`);
  },
});

/** `uptane image bins ...`. */
export const binsCommand = (io: WorkspaceCliEnvironment): CommandModule<object, object> => ({
  command: 'bins',
  describe: 'hash-bin delegations for repositories with tens of thousands of images: create, sign, expires, which',
  builder: (yargs) =>
    yargs
      .command(createCommand(io))
      .command(signCommand(io))
      .command(expiresCommand(io))
      .command(whichCommand(io))
      .example('$0 image bins create --bins 256 --key bins.pub.json', 'then `targets add` routes every image to its bin')
      .demandCommand(1, 'name a bins subcommand: create, sign, expires or which'),
  handler: () => undefined,
});
