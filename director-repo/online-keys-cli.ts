// `uptane director online-keys [show]` and `uptane director online-keys rotate`: the Director's online
// targets, snapshot and timestamp keys, and their rotation through a new root (docs/decisions.md
// "Online key rotation"): the Director makes a pending key (admin token), the workspace stages root
// with it, the offline root keys sign, and the push that publishes that root switches the Director.
import type { Argv, CommandModule } from 'yargs';
import { PublicKey } from '../shared/core/crypto/keys.js';
import { FetchError, UnsupportedKeyError } from '../shared/core/errors.js';
import { openWorkspace, withWorkspace, type WorkspaceCliEnvironment } from '../shared/workspace/cli.js';
import { runOnlineKeyRotation, type ServerOnlineKeys } from '../shared/workspace/online-key-rotation-cli.js';
import type { OnlineKeyEntry, OnlineKeyRole } from './api/operator-api.js';
import { isRecord, OperatorClient, printJson, printTable, withRemote, type RemoteArgs } from './operator-client.js';
import { DIRECTOR_ONLINE_ROLES, fetchOnlineKeys, REPOSITORY } from './root-workspace.js';

interface ShowArgs extends RemoteArgs {
  readonly json: boolean;
}

const showCommand = (io: WorkspaceCliEnvironment): CommandModule<object, ShowArgs> => ({
  command: ['show', '$0'],
  describe: "the Director's online targets, snapshot and timestamp public keys in use (to list in its offline-signed root), and any pending rotation",
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('json', { type: 'boolean', default: false, describe: 'print {role: {keyid, key}, pending: {role: {keyid, key}}} as JSON (TUF key objects)' })
      .example('$0 director online-keys', 'keyids and public keys')
      .example('$0 director online-keys --json > director-online-keys.json', 'for the offline root ceremony') as Argv<ShowArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const keys = await client.send('GET /online-keys', 'show its online keys');
    if (argv.json) {
      printJson(io, keys);
      return;
    }
    printTable(
      io,
      ['ROLE', 'KEYID', 'PUBLIC KEY (ed25519)', 'PENDING KEYID'],
      DIRECTOR_ONLINE_ROLES.map((role) => [role, keys[role].keyid, keys[role].key.keyval.public, keys.pending?.[role]?.keyid ?? '-']),
    );
    io.print('list these under the targets, snapshot and timestamp roles of the Director root, sign it offline, then `uptane director root push FILE`');
    if (Object.keys(keys.pending ?? {}).length > 0) io.print('a pending key starts signing when a root that lists it is published (`uptane director push`)');
  },
});

interface RotateArgs extends ShowArgs {
  readonly workspace: string;
  readonly role?: OnlineKeyRole[] | undefined;
  readonly replace: boolean;
  readonly pendingOnly: boolean;
  readonly dryRun: boolean;
}

/** A key of the rotation answer, its keyid recomputed here rather than trusted. */
function keyOf(entry: OnlineKeyEntry | undefined, role: string): PublicKey {
  const keyval = isRecord(entry?.key) ? entry.key.keyval : undefined;
  if (entry === undefined || typeof entry.key.keytype !== 'string' || typeof entry.key.scheme !== 'string' || !isRecord(keyval) || typeof keyval.public !== 'string') {
    throw new FetchError(`the Director's ${role} key in the rotation answer is not a TUF key object`);
  }
  const key = PublicKey.fromTuf({ keytype: entry.key.keytype, scheme: entry.key.scheme, keyval: { public: keyval.public } });
  if (entry.keyid !== key.keyid) throw new UnsupportedKeyError(`the Director's ${role} keyid ${entry.keyid} is not the digest of its key`, { repository: REPOSITORY, role });
  return key;
}

const rotateCommand = (io: WorkspaceCliEnvironment): CommandModule<object, RotateArgs> => ({
  command: 'rotate',
  describe: 'make new online keys on the Director (pending; admin token) and stage the root that lists them in the workspace',
  builder: (yargs) =>
    withWorkspace(withRemote(yargs, io), io)
      .option('role', { type: 'string', array: true, requiresArg: true, choices: DIRECTOR_ONLINE_ROLES, describe: 'a role to rotate; repeat; default: targets, snapshot and timestamp' })
      .option('replace', { type: 'boolean', default: false, describe: 'throw away a key already pending for these roles and make another' })
      .option('pending-only', { type: 'boolean', default: false, describe: 'make no new key: stage the keys already pending on the Director (after a staging that failed, or in another workspace)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'check the workspace and show the keys; ask the Director for nothing, stage nothing' })
      .option('json', { type: 'boolean', default: false, describe: 'print {server, current, pending, staged: {version, changes, next}} as JSON' })
      .check((argv) => {
        if (argv.replace === true && argv['pending-only'] === true) throw new Error('--replace makes new keys and --pending-only makes none: give one of them');
        return true;
      })
      .example('UPTANE_OPERATOR_TOKEN=... $0 director online-keys rotate -w director-ws', 'rotate all three online keys; then sign root offline and push')
      .example('$0 director online-keys rotate -w director-ws --role snapshot --role timestamp --json', 'two roles, for scripts')
      .example('$0 director online-keys rotate -w director-ws --dry-run', 'what would happen')
      .epilogue(
        'Needs an operator token with scope admin. The Director keeps signing with the keys in use until the staged root is signed by the root keys and published ' +
          '(`uptane director sign --role root --key FILE`, then `uptane director push`). In the step that stores that root it switches: each vehicle\'s targets, ' +
          'snapshot and timestamp are re-signed with the new keys when it next asks; for a few minutes the old keys sign beside them, so vehicles mid-update finish. ' +
          'A root that does not list the new key leaves the old one in use. A second rotation while one is pending is refused: --replace or --pending-only.',
      ) as unknown as Argv<RotateArgs>,
  handler: async (argv) => {
    const ws = openWorkspace(io, argv, REPOSITORY);
    const client = OperatorClient.from(io, argv);
    const roles = argv.role === undefined ? [...DIRECTOR_ONLINE_ROLES] : DIRECTOR_ONLINE_ROLES.filter((role) => argv.role!.includes(role));
    const fetchKeys = async (): Promise<ServerOnlineKeys<OnlineKeyRole>> => {
      const { pending = {}, ...current } = await fetchOnlineKeys(client);
      return { current, pending };
    };
    await runOnlineKeyRotation(io, {
      ws,
      repository: REPOSITORY,
      server: argv.url,
      roles,
      replace: argv.replace,
      pendingOnly: argv.pendingOnly,
      dryRun: argv.dryRun,
      json: argv.json,
      fetchKeys,
      rotate: async (r, replace) => {
        const answer = await client.send('POST /online-keys/rotate', `rotate its online ${r.join(', ')} key(s)`, { body: { roles: r, replace } });
        const current = Object.fromEntries(DIRECTOR_ONLINE_ROLES.map((role) => [role, keyOf(answer.current[role], role)])) as Record<OnlineKeyRole, PublicKey>;
        const pending = Object.fromEntries(Object.entries(answer.pending).map(([role, entry]) => [role, keyOf(entry, role)])) as Partial<Record<OnlineKeyRole, PublicKey>>;
        return { current, pending };
      },
      retryHint: `uptane director online-keys rotate -w ${ws.dir} ${roles.map((role) => `--role ${role}`).join(' ')} --pending-only`,
    });
  },
});

export const directorOnlineKeysCommand = (io: WorkspaceCliEnvironment): CommandModule<object, object> => ({
  command: 'online-keys',
  describe: "the Director's online keys: show them (default), or rotate them through a new root",
  builder: (yargs) => yargs.command(showCommand(io)).command(rotateCommand(io)) as Argv,
  handler: () => undefined,
});
