// The Director's root through the same offline signing workflow as the Image repository, under
// `uptane director ...`: the shared workspace commands (init, root create/add-key/remove-key/threshold/
// expires, sign, status, discard, sign-request) with the Director's three online keys (targets,
// snapshot, timestamp) filled in from GET /api/v1/online-keys, plus what only the Director has:
// `root push` (a signed file, or the workspace's staged root), `push`, and a root-chain-only `pull`.
import { readFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { HttpFetcher } from '../shared/client/fetcher.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { caOption, clientTlsFromFiles } from '../shared/cli/tls-args.js';
import { openWorkspace, withWorkspace, workspaceCommands, type WorkspaceArgs, type WorkspaceCliEnvironment } from '../shared/workspace/cli.js';
import type { Workspace } from '../shared/workspace/workspace.js';
import { checkUrl, DEFAULT_PORT, DEFAULT_TOKEN_ENV, OperatorClient, printJson } from './operator-client.js';
import { DIRECTOR_ONLINE_ROLES, fetchOnlineKeys, pullRootChain, pushStagedRoot, REPOSITORY } from './root-workspace.js';

interface ServerArgs {
  readonly url?: string | undefined;
  readonly tokenEnv: string;
  readonly ca?: string | undefined;
}

/**
 * --url (alias --server) without a default, so the workspace's own server can come before the
 * environment: --url, then the workspace's server (from `init --server`), then UPTANE_DIRECTOR_URL.
 */
function withServer<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & ServerArgs> {
  return yargs
    .option('url', {
      alias: 'server',
      type: 'string',
      requiresArg: true,
      describe: `URL of the Director; default: the workspace's server, else env UPTANE_DIRECTOR_URL, else http://127.0.0.1:${DEFAULT_PORT}`,
    })
    .option('token-env', {
      type: 'string',
      default: DEFAULT_TOKEN_ENV,
      requiresArg: true,
      describe: 'environment variable holding the operator token (never pass a token as an argument)',
    })
    .option('ca', caOption(io, 'the Director'))
    .check((argv) => {
      if (typeof argv.url === 'string') checkUrl(argv.url, '--url');
      return true;
    }) as unknown as Argv<T & ServerArgs>;
}

function serverOf(io: CliEnvironment, args: { readonly url?: string | undefined }, ws?: Workspace): string {
  const url = args.url ?? ws?.config.serverUrl ?? io.env.UPTANE_DIRECTOR_URL ?? `http://127.0.0.1:${DEFAULT_PORT}`;
  checkUrl(url, args.url !== undefined ? '--url' : ws?.config.serverUrl !== undefined ? `the server of workspace ${ws.dir}` : 'UPTANE_DIRECTOR_URL');
  return url.replace(/\/+$/, '');
}

async function pushWorkspaceRoot(io: WorkspaceCliEnvironment, ws: Workspace, args: ServerArgs & { readonly json: boolean }): Promise<void> {
  const url = serverOf(io, args, ws);
  const { version } = await pushStagedRoot(ws, OperatorClient.from(io, { url, tokenEnv: args.tokenEnv, ca: args.ca }));
  if (args.json) {
    printJson(io, { version, workspace: ws.dir });
    return;
  }
  io.print(`published Director root version ${version}; vehicles fetch it as /metadata/${version}.root.json`);
  io.print(`workspace ${ws.dir}: root v${version} is now the published root; the next root change stages v${version + 1}`);
}

// --- root push ---------------------------------------------------------------------------------

interface RootPushArgs extends ServerArgs {
  readonly file?: string | undefined;
  readonly workspace?: string | undefined;
  readonly json: boolean;
}

const rootPushCommand = (io: WorkspaceCliEnvironment): CommandModule<object, RootPushArgs> => ({
  command: 'push [file]',
  describe: 'publish an offline-signed Director root: a signed file, or the root staged and signed in a workspace',
  builder: (yargs) =>
    withServer(yargs, io)
      .positional('file', { type: 'string', describe: 'signed root metadata, e.g. 2.root.json; without it, the workspace\'s staged root' })
      .option('workspace', { alias: 'w', type: 'string', requiresArg: true, describe: 'push the staged root of this workspace (default without FILE: env UPTANE_WORKSPACE, else the current folder)' })
      .option('json', { type: 'boolean', default: false, describe: 'print {version} as JSON' })
      .check((argv) => {
        if (argv.file !== undefined && argv.workspace !== undefined) throw new Error('give a signed root FILE or --workspace, not both');
        return true;
      })
      .example('$0 director root push -w director-ws', 'the staged root of a workspace, after every local check')
      .example('$0 director root push 2.root.json', 'a root signed elsewhere, checked by the Director exactly as vehicles will check it')
      .epilogue(
        "The root must list the Director's online targets, snapshot and timestamp keys (`uptane director online-keys`; `root create` in a workspace fills them in). " +
          'It is signed offline; only the signed metadata is sent. `uptane director push` is the same as `root push` without FILE.',
      ) as unknown as Argv<RootPushArgs>,
  handler: async (argv) => {
    if (argv.file === undefined) {
      const ws = openWorkspace(io, { workspace: argv.workspace ?? io.env.UPTANE_WORKSPACE ?? '.' }, REPOSITORY);
      await pushWorkspaceRoot(io, ws, argv);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = readFileSync(argv.file);
    } catch (err) {
      throw new Error(`cannot read ${argv.file}: ${(err as Error).message}`, { cause: err });
    }
    const client = OperatorClient.from(io, { url: serverOf(io, argv), tokenEnv: argv.tokenEnv, ca: argv.ca });
    const answer = await client.send('PUT /metadata/root', `publish root ${argv.file}`, { body: new Uint8Array(bytes) });
    if (argv.json) printJson(io, answer);
    else io.print(`published Director root version ${answer.version}; vehicles fetch it as /metadata/${answer.version}.root.json`);
  },
});

// --- push, pull --------------------------------------------------------------------------------

interface PushArgs extends WorkspaceArgs, ServerArgs {
  readonly json: boolean;
}

const pushCommand = (io: WorkspaceCliEnvironment): CommandModule<object, PushArgs> => ({
  command: 'push',
  describe: "publish the workspace's staged Director root, after checking thresholds (old and new root keys), version, expiry and online keys locally",
  builder: (yargs) =>
    withServer(withWorkspace(yargs, io), io)
      .option('json', { type: 'boolean', default: false, describe: 'print {version, workspace} as JSON' })
      .example('UPTANE_OPERATOR_TOKEN=... $0 director push -w director-ws', 'publish the staged root')
      .epilogue('Only root is staged in a Director workspace: its targets, snapshot and timestamp are signed online, per vehicle.') as unknown as Argv<PushArgs>,
  handler: async (argv) => {
    await pushWorkspaceRoot(io, openWorkspace(io, argv, REPOSITORY), argv);
  },
});

interface PullArgs extends WorkspaceArgs {
  readonly url?: string | undefined;
  readonly json: boolean;
  readonly ca?: string | undefined;
}

const pullCommand = (io: WorkspaceCliEnvironment): CommandModule<object, PullArgs> => ({
  command: 'pull',
  describe: "fetch the Director's published root chain, verifying each version from the root this workspace trusts (as a vehicle does)",
  builder: (yargs) =>
    withWorkspace(yargs, io)
      .option('url', { alias: 'server', type: 'string', requiresArg: true, describe: "URL of the Director; default: the workspace's server, else env UPTANE_DIRECTOR_URL" })
      .option('ca', caOption(io, 'the Director'))
      .option('json', { type: 'boolean', default: false, describe: 'print {from, to} as JSON' })
      .example('$0 director init -w ws2 --server http://director:8082 --trusted-root 1.root.json && $0 director pull -w ws2', 'a second engineer catches up to the latest root') as unknown as Argv<PullArgs>,
  handler: async (argv) => {
    const ws = openWorkspace(io, argv, REPOSITORY);
    const url = serverOf(io, argv, ws);
    const fetcher = new HttpFetcher({ tls: clientTlsFromFiles({ ca: argv.ca }) });
    let result: Awaited<ReturnType<typeof pullRootChain>>;
    try {
      result = await pullRootChain(ws, url, fetcher);
    } finally {
      fetcher.close();
    }
    if (argv.json) {
      printJson(io, { from: result.from, to: result.to, stagedOvertaken: result.stagedOvertaken });
      return;
    }
    io.print(result.to === result.from ? `root v${result.to} from ${url} is the latest; nothing new` : `pulled Director root v${result.from + 1} to v${result.to} from ${url}, each verified against the one before`);
    if (result.stagedOvertaken) io.print(`warning: the staged root is not above published v${result.to} any more; \`${ws.hint('discard --role root')}\` and stage the change again`);
  },
});

/** Every `uptane director ...` command of the offline root workflow. */
export function directorWorkspaceCommands(io: WorkspaceCliEnvironment): CommandModule<object, object>[] {
  return [
    ...workspaceCommands(io, {
      repository: REPOSITORY,
      onlineRoles: DIRECTOR_ONLINE_ROLES,
      fetchOnlineKeys: (url, tokenEnv, tls) => fetchOnlineKeys(OperatorClient.from(io, { url, tokenEnv: tokenEnv ?? DEFAULT_TOKEN_ENV }, tls)),
      onlineKeysTokenEnv: DEFAULT_TOKEN_ENV,
      rootCommands: [rootPushCommand(io) as unknown as CommandModule<object, object>],
      pull: pullCommand(io) as unknown as CommandModule<object, object>,
    }),
    pushCommand(io),
  ] as unknown as CommandModule<object, object>[];
}
