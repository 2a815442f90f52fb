// `uptane image online-keys [show]` and `uptane image online-keys rotate`: the Image repository's
// online snapshot and timestamp keys, and their rotation through a new root (docs/decisions.md
// "Online key rotation"): the server makes a pending key, the workspace stages root with it, the
// offline root keys sign, and the push that publishes that root switches the server to the new key.
import type { Argv, CommandModule } from 'yargs';
import { printJson, printTable } from '../shared/cli/cli-output.js';
import { caOption, clientTlsFromFiles } from '../shared/cli/tls-args.js';
import { WorkspaceError } from '../shared/core/errors.js';
import { openWorkspace, serverUrlOf, withWorkspace, type WorkspaceCliEnvironment } from '../shared/workspace/cli.js';
import { runOnlineKeyRotation } from '../shared/workspace/online-key-rotation-cli.js';
import { Workspace } from '../shared/workspace/workspace.js';
import { ImageRepoClient } from './repo-client.js';
import { IMAGE_ONLINE_ROLES, type ImageOnlineRole } from './repository.js';

const REPOSITORY = 'image';
const DEFAULT_TOKEN_ENV = 'UPTANE_UPLOAD_TOKEN';

interface ShowArgs {
  readonly server?: string | undefined;
  readonly workspace: string;
  readonly ca?: string | undefined;
  readonly json: boolean;
}

/** --server, else env UPTANE_IMAGE_URL, else the workspace's server URL. */
function serverOf(io: WorkspaceCliEnvironment, argv: ShowArgs): string {
  const given = argv.server ?? io.env.UPTANE_IMAGE_URL;
  if (given !== undefined && given !== '') return given.replace(/\/+$/, '');
  let ws: Workspace;
  try {
    ws = Workspace.open(argv.workspace, io.clock);
  } catch (err) {
    if (!(err instanceof WorkspaceError)) throw err;
    throw new WorkspaceError(`no server URL: pass --server http://host:port (or set UPTANE_IMAGE_URL), or run this in a workspace that names its server`, { cause: err });
  }
  return serverUrlOf(ws, undefined);
}

const showCommand = (io: WorkspaceCliEnvironment): CommandModule<object, ShowArgs> => ({
  command: ['show', '$0'],
  describe: 'the online snapshot and timestamp public keys in use, and any pending rotation',
  builder: (yargs) =>
    withWorkspace(yargs, io)
      .option('server', { type: 'string', requiresArg: true, describe: "server URL; default: env UPTANE_IMAGE_URL, else the workspace's" })
      .option('ca', caOption(io, 'the Image repository'))
      .option('json', { type: 'boolean', default: false, describe: 'print {current: {role: {keyid, key}}, pending: {...}} as JSON' })
      .example('$0 image online-keys --server http://127.0.0.1:8081', 'keyids in use and pending')
      .example('$0 image online-keys show --json', "with the workspace's server, for scripts") as unknown as Argv<ShowArgs>,
  handler: async (argv) => {
    const server = serverOf(io, argv);
    const client = new ImageRepoClient(server, undefined, clientTlsFromFiles({ ca: argv.ca }));
    const state = await client.onlineKeyState().finally(() => client.close());
    const entry = (key: { keyid: string; tuf: unknown }) => ({ keyid: key.keyid, key: key.tuf });
    if (argv.json) {
      printJson(io, {
        server,
        current: Object.fromEntries(IMAGE_ONLINE_ROLES.map((role) => [role, entry(state.current[role])])),
        pending: Object.fromEntries(Object.entries(state.pending).map(([role, key]) => [role, entry(key)])),
      });
      return;
    }
    printTable(
      io,
      ['ROLE', 'KEYID IN USE', 'PENDING KEYID'],
      IMAGE_ONLINE_ROLES.map((role) => [role, state.current[role].keyid, state.pending[role]?.keyid ?? '-']),
    );
    if (Object.keys(state.pending).length > 0) io.print('a pending key starts signing when a root that lists it is published (`uptane image push`)');
  },
});

interface RotateArgs extends ShowArgs {
  readonly role?: ImageOnlineRole[] | undefined;
  readonly replace: boolean;
  readonly pendingOnly: boolean;
  readonly dryRun: boolean;
  readonly tokenEnv: string;
}

const rotateCommand = (io: WorkspaceCliEnvironment): CommandModule<object, RotateArgs> => ({
  command: 'rotate',
  describe: 'make new online keys on the server (pending) and stage the root that lists them in the workspace',
  builder: (yargs) =>
    withWorkspace(yargs, io)
      .option('role', { type: 'string', array: true, requiresArg: true, choices: IMAGE_ONLINE_ROLES, describe: 'a role to rotate; repeat; default: snapshot and timestamp' })
      .option('replace', { type: 'boolean', default: false, describe: 'throw away a key already pending for these roles and make another' })
      .option('pending-only', { type: 'boolean', default: false, describe: 'make no new key: stage the keys already pending on the server (after a staging that failed, or in another workspace)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'check the workspace and show the keys; ask the server for nothing, stage nothing' })
      .option('server', { type: 'string', requiresArg: true, describe: "server URL; default: the workspace's" })
      .option('token-env', { type: 'string', default: DEFAULT_TOKEN_ENV, requiresArg: true, describe: 'environment variable holding an uploader token that may publish root (never pass it as an argument)' })
      .option('ca', caOption(io, 'the Image repository'))
      .option('json', { type: 'boolean', default: false, describe: 'print {server, current, pending, staged: {version, changes, next}} as JSON' })
      .check((argv) => {
        if (argv.replace === true && argv['pending-only'] === true) throw new Error('--replace makes new keys and --pending-only makes none: give one of them');
        return true;
      })
      .example('UPTANE_UPLOAD_TOKEN=... $0 image online-keys rotate -w image-ws', 'rotate snapshot and timestamp; then sign root offline and push')
      .example('$0 image online-keys rotate -w image-ws --role timestamp --json', 'the timestamp key only, for scripts')
      .example('$0 image online-keys rotate -w image-ws --dry-run', 'what would happen')
      .epilogue(
        'The server keeps signing with the keys in use until the staged root is signed by the root keys and published ' +
          '(`uptane image sign --role root --key FILE`, then `uptane image push`). In the step that stores that root it switches to the new keys; ' +
          'for a few minutes it also signs with the old ones, so vehicles mid-update finish. A root that does not list the new key leaves the old one in use. ' +
          'A second rotation while one is pending is refused: --replace or --pending-only.',
      ) as unknown as Argv<RotateArgs>,
  handler: async (argv) => {
    const ws = openWorkspace(io, argv, REPOSITORY);
    const server = serverUrlOf(ws, argv.server);
    const token = io.env[argv.tokenEnv];
    const needsToken = !argv.dryRun && !argv.pendingOnly;
    if (needsToken && (token === undefined || token === '')) {
      throw new WorkspaceError(
        `environment variable ${argv.tokenEnv} holds no uploader token: set it to a token that may publish root (\`uptane image uploader add NAME --role root\` on the server host), or name another variable with --token-env`,
        { repository: REPOSITORY },
      );
    }
    const client = new ImageRepoClient(server, token === '' ? undefined : token, clientTlsFromFiles({ ca: argv.ca }));
    const roles = argv.role === undefined ? [...IMAGE_ONLINE_ROLES] : IMAGE_ONLINE_ROLES.filter((role) => argv.role!.includes(role));
    try {
      await runOnlineKeyRotation(io, {
        ws,
        repository: REPOSITORY,
        server,
        roles,
        replace: argv.replace,
        pendingOnly: argv.pendingOnly,
        dryRun: argv.dryRun,
        json: argv.json,
        fetchKeys: () => client.onlineKeyState(),
        rotate: (r, replace) => client.rotateOnlineKeys(r, replace),
        retryHint: `uptane image online-keys rotate -w ${ws.dir} ${roles.map((role) => `--role ${role}`).join(' ')} --pending-only`,
      });
    } finally {
      client.close();
    }
  },
});

export const imageOnlineKeysCommand = (io: WorkspaceCliEnvironment): CommandModule<object, object> => ({
  command: 'online-keys',
  describe: 'the online snapshot and timestamp keys: show them (default), or rotate them through a new root',
  builder: (yargs) => yargs.command(showCommand(io)).command(rotateCommand(io)) as Argv,
  handler: () => undefined,
});
