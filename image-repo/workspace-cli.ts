// The release engineer's offline workflow under `uptane image ...`: the shared workspace commands
// (init, root, sign, status, sign-request, pull, discard) plus what only the Image repository has:
// images in targets, supplier delegations, and push to the Image repository server.
import type { Argv, CommandModule } from 'yargs';
import { loadPublicKey } from '../shared/files/key-files.js';
import { WorkspaceError } from '../shared/core/errors.js';
import { MINIMUM_PROFILE_FIELD, SECURITY_PROFILES, type SecurityProfile } from '../shared/core/security-profile.js';
import {
  formatBytes,
  openWorkspace,
  printStage,
  progressPrinter,
  withJson,
  type JsonArgs,
  serverUrlOf,
  withWorkspace,
  workspaceCommands,
  type WorkspaceArgs,
  type WorkspaceCliEnvironment,
} from '../shared/workspace/cli.js';
import { shortKeyId } from '../shared/workspace/hints.js';
import { readImageManifest } from '../shared/workspace/image-manifest.js';
import type { ImageToAdd, StagedImage } from '../shared/workspace/workspace.js';
import { binsCommand, printBinnedAdd, printBinnedRemove } from './bins-cli.js';
import { printJson } from '../shared/cli/cli-output.js';
import { ImageRepoClient } from './repo-client.js';
import { planPush, pushWorkspace, type PushPlan } from './push.js';
import { caOption, clientTlsFromFiles } from '../shared/cli/tls-args.js';

const REPOSITORY = 'image';
const DEFAULT_TOKEN_ENV = 'UPTANE_UPLOAD_TOKEN';

interface TargetsRoleArgs extends WorkspaceArgs {
  readonly role: string;
}

function withRole<T>(yargs: Argv<T>): Argv<T & { role: string }> {
  return yargs.option('role', {
    type: 'string',
    default: 'targets',
    describe: 'targets, or a delegated role (a supplier signs its own)',
  }) as unknown as Argv<T & { role: string }>;
}

/** `--custom key=value` (a string) and `--custom-json key=<json>` (any JSON value) into one object. */
function customFields(strings: readonly string[] | undefined, jsons: readonly string[] | undefined): Record<string, unknown> {
  const custom: Record<string, unknown> = {};
  const split = (pair: string, option: string): [string, string] => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new WorkspaceError(`${option} ${JSON.stringify(pair)}: write it as key=value`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  };
  for (const pair of strings ?? []) {
    const [key, value] = split(pair, '--custom');
    custom[key] = value;
  }
  for (const pair of jsons ?? []) {
    const [key, value] = split(pair, '--custom-json');
    try {
      custom[key] = JSON.parse(value) as unknown;
    } catch (err) {
      throw new WorkspaceError(`--custom-json ${key}: ${JSON.stringify(value)} is not JSON (${(err as Error).message})`, { cause: err });
    }
  }
  return custom;
}

interface AddArgs extends TargetsRoleArgs {
  readonly files?: string[] | undefined;
  readonly name?: string | undefined;
  readonly namePrefix?: string | undefined;
  readonly hardwareId?: string[] | undefined;
  readonly releaseCounter?: number | undefined;
  readonly custom?: string[] | undefined;
  readonly customJson?: string[] | undefined;
  readonly minimumProfile?: SecurityProfile | undefined;
  readonly fromManifest?: string | undefined;
  readonly json: boolean;
}

/** Above this many images, `targets add` prints a summary instead of one line per image (--json lists all). */
const LINES_PER_IMAGE_UP_TO = 20;

/** `hashed 1200 / 5000 images (24%)` at least every 10% or second, and always the last. */
function countPrinter(io: WorkspaceCliEnvironment, label: string): (done: number, total: number) => void {
  const print = io.progress ?? io.warn;
  let lastPercent = -100;
  let lastTime = 0;
  return (done, total) => {
    const percent = Math.floor((done * 100) / total);
    const now = Date.now();
    if (done < total && percent < lastPercent + 10 && now - lastTime < 1000) return;
    lastPercent = percent;
    lastTime = now;
    print(`${label} ${done} / ${total} images (${percent}%)`);
  };
}

/** What `targets add` stages: its FILE arguments with the command's fields, or a manifest's lines. */
function imagesToAdd(argv: AddArgs): ImageToAdd[] {
  const files = argv.files ?? [];
  if (argv.fromManifest !== undefined) {
    const alsoGiven = [
      files.length > 0 ? 'FILE arguments' : undefined,
      argv.name !== undefined ? '--name' : undefined,
      argv.namePrefix !== undefined ? '--name-prefix' : undefined,
      argv.hardwareId !== undefined ? '--hardware-id' : undefined,
      argv.releaseCounter !== undefined ? '--release-counter' : undefined,
      argv.custom !== undefined || argv.customJson !== undefined ? '--custom' : undefined,
      argv.minimumProfile !== undefined ? `--minimum-profile (a line sets it as "custom": {"${MINIMUM_PROFILE_FIELD}": "${argv.minimumProfile}"})` : undefined,
    ].filter((x) => x !== undefined);
    if (alsoGiven.length > 0) throw new WorkspaceError(`--from-manifest lists every image with its own fields: drop ${alsoGiven.join(', ')}`);
    return readImageManifest(argv.fromManifest);
  }
  if (files.length === 0) throw new WorkspaceError('name the image file(s) to add, or a manifest with --from-manifest FILE');
  if (argv.hardwareId === undefined || argv.hardwareId.length === 0) throw new WorkspaceError('--hardware-id is required (repeat it for several)');
  if (argv.releaseCounter === undefined) throw new WorkspaceError('--release-counter is required');
  if (argv.name !== undefined && files.length > 1) {
    throw new WorkspaceError(`--name names one image, and ${files.length} files are given: use --name-prefix (e.g. engine/) or --from-manifest to name several`);
  }
  if (argv.name !== undefined && argv.namePrefix !== undefined) throw new WorkspaceError('give --name or --name-prefix, not both');
  const custom = customFields(argv.custom, argv.customJson);
  if (argv.minimumProfile !== undefined) {
    if (custom[MINIMUM_PROFILE_FIELD] !== undefined) throw new WorkspaceError(`give the minimum security profile once: --minimum-profile or --custom ${MINIMUM_PROFILE_FIELD}=..., not both`);
    // The Image repository's signed minimum is the one ECUs enforce (docs/security-profiles.md).
    custom[MINIMUM_PROFILE_FIELD] = argv.minimumProfile;
  }
  const fields = { hardwareIds: argv.hardwareId, releaseCounter: argv.releaseCounter, custom };
  return files.map((file) => {
    const base = file.split(/[\\/]/).pop()!;
    const name = argv.name ?? `${argv.namePrefix ?? ''}${base}`;
    return { path: file, name, fields };
  });
}

const targetsAddCommand = (io: WorkspaceCliEnvironment): CommandModule<object, AddArgs> => ({
  command: 'add [files..]',
  describe:
    'stage images in one edit: hash each file (sha256 and sha512, streamed), with its hardware ids, release counter and custom fields; many FILEs, or a manifest',
  builder: (yargs) =>
    withRole(withWorkspace(yargs, io))
      .positional('files', { type: 'string', array: true, describe: 'the image file(s); every one gets the same fields' })
      .option('name', { type: 'string', requiresArg: true, describe: 'target name of a single FILE (default: the file name), e.g. engine/ecm-2.1.bin' })
      .option('name-prefix', { type: 'string', requiresArg: true, describe: 'prefix every FILE\'s name with this, e.g. engine/ (engine/ecm.bin)' })
      .option('hardware-id', { type: 'string', array: true, describe: 'hardware id the images are for (repeat for several); required with FILEs' })
      .option('release-counter', { type: 'number', requiresArg: true, describe: 'release counter (never lower than an installed image\'s: anti-rollback); required with FILEs' })
      .option('custom', { type: 'string', array: true, describe: 'free custom field as key=value (a string)' })
      .option('custom-json', { type: 'string', array: true, describe: 'free custom field as key=<JSON value>' })
      .option('minimum-profile', {
        choices: SECURITY_PROFILES,
        requiresArg: true,
        describe: `the lowest ECU security profile that may install the images (custom.${MINIMUM_PROFILE_FIELD}; ECUs below it refuse them, docs/security-profiles.md); default: any profile`,
      })
      .option('from-manifest', {
        type: 'string',
        requiresArg: true,
        describe:
          'JSON Lines file, one image per line: {"path", "name"?, "hardwareIds", "releaseCounter", "custom"?}; paths relative to the manifest\'s folder; every line is checked before anything is staged',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print what was staged as JSON (every image, its status, length and hashes)' })
      .example('$0 image targets add build/ecm.bin --name engine/ecm-2.1.bin --hardware-id ecm-x1 --release-counter 21', 'stage an engine ECU image')
      .example('$0 image targets add build/bcm/*.bin --name-prefix body/ --hardware-id bcm-2 --release-counter 7', 'many files in one edit: body/<file name>')
      .example(
        '$0 image targets add build/brake.bin --name chassis/brake-4.0.bin --hardware-id brake-b2 --release-counter 40 --minimum-profile high',
        'a brake controller image only ECUs of security profile high may install (hardware key, full verification)',
      )
      .example(
        '$0 image targets add --from-manifest release.jsonl',
        'a release from a manifest; a line of it: {"path": "ecm.bin", "name": "engine/ecm-2.1.bin", "hardwareIds": ["ecm-x1"], "releaseCounter": 21, "custom": {"build": "2026.12.1"}}',
      )
      .example('$0 image targets add radar.bin --role acme --name acme/radar-3.bin --hardware-id radar-a --release-counter 3', 'a supplier stages its own image') as unknown as Argv<AddArgs>,
  handler: async (argv) => {
    const images = imagesToAdd(argv);
    const ws = openWorkspace(io, argv);
    const single = images.length === 1;
    const perFile = new Map<string, (done: number, total: number) => void>();
    const counter = single ? undefined : countPrinter(io, 'hashed');
    const staged = await ws.stageImages(images, {
      role: argv.role,
      // One image: byte progress, as large images take a while. Many: a count (bytes of a thousand
      // small files would be a thousand lines).
      ...(single
        ? {
            onProgress: (name: string, read: number, total: number) => {
              if (!perFile.has(name)) perFile.set(name, progressPrinter(io, `hashing ${name}`));
              perFile.get(name)!(read, total);
            },
          }
        : { onImage: (done: number, total: number) => counter!(done, total) }),
    });
    if (staged.hashBins !== undefined) {
      printBinnedAdd(io, ws, staged, argv.json);
      return;
    }
    const result = { ...staged.stages[0]!, images: staged.images };
    if (argv.json) {
      printJson(io, {
        role: result.role,
        version: result.signed.version,
        changed: result.changed,
        started: result.started,
        publishedVersion: result.publishedVersion,
        droppedSignatures: result.droppedSignatures,
        images: result.images.map((i) => ({ name: i.name, status: i.status, path: i.path, length: i.target.length, hashes: i.target.hashes, custom: i.target.custom })),
      });
      return;
    }
    const describe = (i: StagedImage) =>
      `${i.status} ${i.name} in ${argv.role}: ${formatBytes(i.target.length)}, sha256 ${i.target.hashes.sha256}, hardwareIds ${(i.target.custom?.hardwareIds ?? []).join(', ')}, releaseCounter ${i.target.custom?.releaseCounter}${
        i.target.custom?.minimumSecurityProfile === undefined ? '' : `, minimum security profile ${i.target.custom.minimumSecurityProfile}`
      }`;
    if (single) {
      printStage(io, ws, result, describe(result.images[0]!));
      return;
    }
    const count = (status: StagedImage['status']) => result.images.filter((i) => i.status === status).length;
    if (result.changed && images.length <= LINES_PER_IMAGE_UP_TO) for (const i of result.images) io.print(describe(i));
    printStage(io, ws, result, `${images.length} images in ${argv.role}: ${count('added')} added, ${count('replaced')} replaced, ${count('unchanged')} unchanged`);
  },
});

interface RemoveArgs extends TargetsRoleArgs, JsonArgs {
  readonly name: string;
}

const targetsRemoveCommand = (io: WorkspaceCliEnvironment): CommandModule<object, RemoveArgs> => ({
  command: 'remove <name>',
  describe: 'stage the removal of an image from targets (or a delegated role)',
  builder: (yargs) =>
    withJson(withRole(withWorkspace(yargs, io)))
      .positional('name', { type: 'string', demandOption: true, describe: 'target name, as listed' })
      .example('$0 image targets remove engine/ecm-2.0.bin', 'stop offering an old image') as Argv<RemoveArgs>,
  handler: (argv) => {
    const ws = openWorkspace(io, argv);
    const result = ws.removeImage(argv.name, argv.role);
    if (result.role !== argv.role) {
      printBinnedRemove(io, ws, result, argv.name, argv.json);
      return;
    }
    printStage(io, ws, result, `removed ${argv.name} from ${argv.role}`, argv.json);
  },
});

interface ExpiresArgs extends TargetsRoleArgs, JsonArgs {
  readonly when: string;
}

const targetsExpiresCommand = (io: WorkspaceCliEnvironment): CommandModule<object, ExpiresArgs> => ({
  command: 'expires <when>',
  describe: 'stage a new expiry for targets or a delegated role (also how to re-sign before it expires)',
  builder: (yargs) =>
    withJson(withRole(withWorkspace(yargs, io)))
      .positional('when', { type: 'string', demandOption: true, describe: 'duration from now (90d, 12h, 1y, 2w, 1y30d) or a date (2027-06-30)' })
      .example('$0 image targets expires 90d', 'valid for 90 days from now')
      .example('$0 image targets expires 2027-01-31 --role acme', 'a delegated role until a date') as Argv<ExpiresArgs>,
  handler: (argv) => {
    const ws = openWorkspace(io, argv);
    printStage(io, ws, ws.setExpires(argv.role, argv.when), `set the ${argv.role} expiry`, argv.json);
  },
});

const targetsCommand = (io: WorkspaceCliEnvironment): CommandModule<object, object> => ({
  command: 'targets',
  describe: 'stage changes to the images in targets or a delegated role',
  builder: (yargs) =>
    yargs
      .command(targetsAddCommand(io))
      .command(targetsRemoveCommand(io))
      .command(targetsExpiresCommand(io))
      .example('$0 image targets add ecm.bin --hardware-id ecm-x1 --release-counter 3', 'stage an image, then sign and push')
      .demandCommand(1, 'name a targets subcommand: add, remove or expires'),
  handler: () => undefined,
});

interface DelegateArgs extends WorkspaceArgs, JsonArgs {
  readonly name: string;
  readonly key: string[];
  readonly path: string[];
  readonly threshold: number;
  readonly hardwareId?: string[] | undefined;
  readonly terminating: boolean;
}

const delegateCommand = (io: WorkspaceCliEnvironment): CommandModule<object, DelegateArgs> => ({
  command: 'delegate <name>',
  describe: 'stage a delegation from targets: images matching path patterns (and hardware ids) may be signed by a supplier\'s keys',
  builder: (yargs) =>
    withJson(withWorkspace(yargs, io))
      .positional('name', { type: 'string', demandOption: true, describe: 'delegated role name, e.g. acme' })
      .option('path', { type: 'string', array: true, demandOption: true, describe: 'target name pattern (* and ? stay within one path segment), e.g. "acme/*"' })
      .option('key', { type: 'string', array: true, demandOption: true, describe: 'supplier public key file (repeat for several)' })
      .option('threshold', { type: 'number', default: 1, describe: 'supplier signatures required' })
      .option('hardware-id', { type: 'string', array: true, describe: 'only for images for these hardware ids (Uptane)' })
      .option('terminating', { type: 'boolean', default: false, describe: 'clients search no further delegations for matching names' })
      .example('$0 image delegate acme --path "acme/*" --key acme.pub.json --hardware-id radar-a --terminating', 'Acme signs its radar images itself') as Argv<DelegateArgs>,
  handler: (argv) => {
    const ws = openWorkspace(io, argv);
    const keys = argv.key.map((file) => loadPublicKey(file));
    const result = ws.delegate({
      name: argv.name,
      keys,
      threshold: argv.threshold,
      paths: argv.path,
      ...(argv.hardwareId !== undefined ? { hardwareIds: argv.hardwareId } : {}),
      terminating: argv.terminating,
    });
    printStage(io, ws, result, `delegated ${argv.path.join(', ')} to ${argv.name} (${argv.threshold} of ${keys.map((k) => shortKeyId(k.keyid)).join(', ')})`, argv.json);
    if (argv.json) return;
    io.print(`after pushing targets, the supplier runs \`uptane image targets add FILE --role ${argv.name} ...\` in their own workspace`);
  },
});

interface UndelegateArgs extends WorkspaceArgs, JsonArgs {
  readonly name: string;
}

const undelegateCommand = (io: WorkspaceCliEnvironment): CommandModule<object, UndelegateArgs> => ({
  command: 'undelegate <name>',
  describe: 'stage the removal of a delegation from targets',
  builder: (yargs) =>
    withJson(withWorkspace(yargs, io))
      .positional('name', { type: 'string', demandOption: true, describe: 'delegated role name' })
      .example('$0 image undelegate acme', 'Acme\'s images are no longer trusted after the next targets push') as Argv<UndelegateArgs>,
  handler: (argv) => {
    const ws = openWorkspace(io, argv);
    printStage(io, ws, ws.undelegate(argv.name), `removed the delegation to ${argv.name}`, argv.json);
  },
});

interface PushArgs extends WorkspaceArgs, JsonArgs {
  readonly role?: string[] | undefined;
  readonly dryRun: boolean;
  readonly tokenEnv: string;
  readonly server?: string | undefined;
  readonly ca?: string | undefined;
}

const pushCommand = (io: WorkspaceCliEnvironment): CommandModule<object, PushArgs> => ({
  command: 'push',
  describe: 'upload the staged images and publish the staged metadata (root, then targets, then delegated roles), after checking everything locally',
  builder: (yargs) =>
    withJson(withWorkspace(yargs, io))
      .option('role', { type: 'string', array: true, describe: 'push only these staged roles (default: all)' })
      .option('token-env', {
        type: 'string',
        default: DEFAULT_TOKEN_ENV,
        describe: 'environment variable holding the uploader token (never pass it as an argument)',
      })
      .option('server', { type: 'string', requiresArg: true, describe: 'server URL; default: the workspace\'s' })
      .option('ca', caOption(io, 'the Image repository'))
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'make every local check and show what would be published and uploaded, sending nothing (with a token, asks the server which images it has)',
      })
      .example('UPTANE_UPLOAD_TOKEN=... $0 image push', 'publish everything staged')
      .example('$0 image push --dry-run', 'what a push would publish: roles and versions, images added and removed')
      .example('$0 image push --role acme --token-env ACME_TOKEN', 'a supplier publishes its delegated role') as unknown as Argv<PushArgs>,
  handler: async (argv) => {
    const ws = openWorkspace(io, argv);
    const token = io.env[argv.tokenEnv];
    if (argv.dryRun) {
      await dryRun(io, ws, argv, token === '' ? undefined : token);
      return;
    }
    if (token === undefined || token === '') {
      throw new WorkspaceError(
        `environment variable ${argv.tokenEnv} holds no uploader token: set it (the server operator creates one with \`uptane image uploader add NAME\`), or name another variable with --token-env`,
      );
    }
    const url = serverUrlOf(ws, argv.server);
    const progress = new Map<string, (sent: number, total: number) => void>();
    const client = new ImageRepoClient(url, token, clientTlsFromFiles({ ca: argv.ca }));
    const result = await pushWorkspace(ws, client, {
      ...(argv.role !== undefined ? { roles: argv.role } : {}),
      onUploadProgress: (name, sent, total) => {
        if (!progress.has(name)) progress.set(name, progressPrinter(io, `uploading ${name}`));
        progress.get(name)!(sent, total);
      },
      // With --json, standard output holds the JSON alone: the push's log goes to standard error.
      log: argv.json === true ? io.warn : io.print,
    }).finally(() => client.close());
    if (argv.json) {
      printJson(io, { server: url, ...result });
      return;
    }
    const uploaded = result.images.filter((i) => i.uploaded).length;
    // Hundreds of hash bins are summed up, not listed (--json lists every role).
    const published = result.published.length <= 12 ? result.published.map((p) => `${p.role} v${p.version}`).join(', ') : `${result.published.length} roles (${result.published.slice(0, 4).map((p) => `${p.role} v${p.version}`).join(', ')}, ...)`;
    io.print(`pushed to ${url}: ${uploaded} image(s) uploaded, ${result.images.length - uploaded} already there; ${published} published`);
  },
});

/** `push --dry-run`: the plan, and the server asked only whether it holds the images (a read). */
async function dryRun(io: WorkspaceCliEnvironment, ws: ReturnType<typeof openWorkspace>, argv: PushArgs, token: string | undefined): Promise<void> {
  const roles = argv.role !== undefined ? { roles: argv.role } : {};
  let plan: PushPlan;
  let url: string | undefined;
  if (token === undefined) plan = await planPush(ws, roles);
  else {
    url = serverUrlOf(ws, argv.server);
    const client = new ImageRepoClient(url, token, clientTlsFromFiles({ ca: argv.ca }));
    plan = await planPush(ws, { ...roles, hasImage: (name, sha256) => client.hasImage(name, sha256) }).finally(() => client.close());
  }
  if (argv.json) {
    printJson(io, { dryRun: true, ...(url === undefined ? {} : { server: url }), ...plan });
    return;
  }
  io.print('dry run: nothing is sent; a push would publish');
  for (const r of plan.roles) {
    io.print(`  ${r.role} v${r.version} (${r.publishedVersion === 0 ? 'never published' : `published v${r.publishedVersion}`}), expires ${r.expires ?? '-'}`);
    for (const name of r.targetsAdded) io.print(`    + ${name}`);
    for (const name of r.targetsRemoved) io.print(`    - ${name}`);
    for (const name of r.targetsChanged) io.print(`    ~ ${name}`);
  }
  if (plan.images.length === 0) io.print('and upload no image');
  else {
    io.print('and upload');
    for (const i of plan.images) {
      const where = i.onServer === null ? `not checked against the server (no token in ${argv.tokenEnv})` : i.onServer ? 'already on the server, skipped' : 'to upload';
      io.print(`  ${i.name} (${formatBytes(i.length)}): ${where}`);
    }
  }
  io.print(`to publish: \`${ws.hint('push')}\``);
}

/** Every `uptane image ...` command of the offline workflow. */
export function imageWorkspaceCommands(io: WorkspaceCliEnvironment): CommandModule<object, object>[] {
  return [
    ...workspaceCommands(io, {
      repository: REPOSITORY,
      pullTokenEnv: DEFAULT_TOKEN_ENV,
      fetchOnlineKeys: async (serverUrl, _tokenEnv, tls) => {
        const client = new ImageRepoClient(serverUrl, undefined, tls);
        try {
          return await client.onlineKeys();
        } finally {
          client.close();
        }
      },
    }),
    targetsCommand(io),
    delegateCommand(io),
    undelegateCommand(io),
    binsCommand(io),
    pushCommand(io),
  ] as unknown as CommandModule<object, object>[];
}
