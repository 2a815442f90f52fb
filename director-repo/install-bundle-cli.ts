// Install bundles from the command line (docs/decisions.md "Install bundles"): `uptane director
// assign --atomic --vin VIN --member SERIAL=IMAGE ...` stores images for several ECUs of one vehicle
// that install all or none (POST /api/v1/install-bundles), and `uptane director install-bundle show
// ID` prints a bundle's one outcome. Not to be confused with `director bundle export` (offline bundles).
import type { Argv, CommandModule } from 'yargs';
import { OperatorRequestError } from '../shared/core/errors.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import type { InstallBundleView } from './api/operator-api.js';
import { OperatorClient, plural, printJson, printTable, withRemote, type RemoteArgs } from './operator-client.js';

/** A bundle's id as the CLI takes it: the number, or the `ib-N` the vehicle's targets carry. */
const BUNDLE_ID = /^(?:ib-)?([1-9][0-9]{0,14})$/;

export interface InstallBundleMember {
  readonly ecuSerial: string;
  readonly image: string;
}

/**
 * `--member SERIAL=IMAGE`, each ECU once, at least two: a bundle of one ECU is an ordinary
 * assignment, so it is refused here before the Director is asked.
 */
export function parseMembers(pairs: readonly string[]): InstallBundleMember[] {
  const members: InstallBundleMember[] = [];
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0 || at === pair.length - 1) throw new Error(`--member ${pair}: write ECU_SERIAL=IMAGE, e.g. WVW123-ecm=engine/ecm-2.1.bin`);
    const ecuSerial = pair.slice(0, at);
    if (members.some((m) => m.ecuSerial === ecuSerial)) throw new Error(`--member: ECU ${ecuSerial} is named twice; an install bundle gives each ECU one image`);
    members.push({ ecuSerial, image: pair.slice(at + 1) });
  }
  if (members.length < 2) {
    throw new Error(
      `an install bundle needs at least two --member ECU=IMAGE (${members.length} given): for one ECU, assign without --atomic (--image IMAGE --ecu SERIAL)`,
    );
  }
  return members;
}

/** The bundle number from `3` or `ib-3`. */
export function parseBundleId(raw: string): number {
  const match = BUNDLE_ID.exec(raw.trim());
  if (match === null) throw new Error(`install bundle ${raw}: give its number or its id as the vehicle's targets carry it (3 or ib-3)`);
  return Number(match[1]);
}

export interface AtomicAssignArgs extends RemoteArgs {
  readonly vin: string;
  readonly members: readonly InstallBundleMember[];
  readonly json: boolean;
}

/** The assign command's --atomic form: one POST /install-bundles, its refusals with a next step. */
export async function assignInstallBundle(io: CliEnvironment, argv: AtomicAssignArgs): Promise<void> {
  const client = OperatorClient.from(io, argv);
  let bundle: InstallBundleView;
  try {
    bundle = await client.send('POST /install-bundles', `make the install bundle for ${argv.vin}`, { body: { vin: argv.vin, members: argv.members } });
  } catch (err) {
    if (!(err instanceof OperatorRequestError)) throw err;
    throw new OperatorRequestError(`${err.message}${await refusalHint(client, argv.vin, err)}`, err.status, err.remoteCode);
  }
  if (argv.json) {
    printJson(io, bundle);
    return;
  }
  io.print(`install bundle ${bundle.id} (${bundle.bundleId}) for ${bundle.vin}: ${plural(bundle.members.length, 'ECU')}, all or none`);
  printMembers(io, bundle);
  io.print(`the vehicle gets it at its next update check; \`uptane director install-bundle show ${bundle.id}\` shows its outcome`);
}

/**
 * The next step for a refused bundle. The operator client already explains tokens, scopes and an
 * unknown image (target_not_found); this adds the vehicle's ECUs and the bundle that blocks a new one.
 */
async function refusalHint(client: OperatorClient, vin: string, err: OperatorRequestError): Promise<string> {
  if (err.status === 404 && err.message.includes(`vehicle ${vin} has no ECU`)) return `\n\`uptane director vehicle show ${vin}\` lists its ECUs`;
  if (err.status === 404 && err.message.includes(`no vehicle ${vin}`)) return '\n`uptane director vehicle list` shows the registered VINs';
  if (err.status === 409 && err.message.includes('pending install bundle')) {
    // The refusal does not name the pending bundle; the vehicle's active assignments do.
    const status = await client.send('GET /vehicles/:vin', `show vehicle ${vin}`, { params: { vin } });
    const pending = [...new Set(status.assignments.filter((a) => a.bundleId !== undefined && (a.state === 'pending' || a.state === 'in_flight')).map((a) => a.bundleId!))];
    if (pending.length > 0) return `\n\`uptane director install-bundle show ${pending[0]}\` shows the pending one; \`uptane director cancel ASSIGNMENT_ID\` on one of its members cancels it whole`;
  }
  if (err.status === 409 && err.message.includes('cancel it first')) return '\n`uptane director cancel ID` cancels that assignment; then assign the bundle again';
  return '';
}

function printMembers(io: CliEnvironment, bundle: InstallBundleView): void {
  printTable(
    io,
    ['ASSIGNMENT', 'ECU', 'IMAGE', 'RELEASE', 'STATE', 'REASON'],
    bundle.members.map((m) => [String(m.id), m.ecuSerial, m.filename, String(m.releaseCounter), m.state, m.reason ?? '']),
  );
}

interface ShowArgs extends RemoteArgs {
  readonly id: string;
  readonly json: boolean;
}

const showCommand = (io: CliEnvironment): CommandModule<object, ShowArgs> => ({
  command: 'show <id>',
  describe: "an install bundle's outcome (pending, installed, rolled_back with the ECU that failed, or cancelled) and its members",
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('id', { type: 'string', demandOption: true, describe: 'the bundle: its number (as `assign --atomic` printed it) or ib-N' })
      .option('json', { type: 'boolean', default: false, describe: 'print the bundle and its member assignments as JSON' })
      .check((argv) => {
        parseBundleId(String(argv.id));
        return true;
      })
      .example('$0 director install-bundle show 3', 'the outcome of install bundle 3')
      .example('$0 director install-bundle show ib-3 --json', 'the same, for scripts') as unknown as Argv<ShowArgs>,
  handler: async (argv) => {
    const id = parseBundleId(String(argv.id));
    const client = OperatorClient.from(io, argv);
    const bundle = await client.send('GET /install-bundles/:id', `show install bundle ${id}`, { params: { id: String(id) } });
    if (argv.json) {
      printJson(io, bundle);
      return;
    }
    io.print(`install bundle  ${bundle.id} (${bundle.bundleId})`);
    io.print(`vehicle         ${bundle.vin}`);
    io.print(`state           ${bundle.state}${describeState(bundle)}`);
    if (bundle.failingEcu !== null) io.print(`failing ECU     ${bundle.failingEcu}`);
    if (bundle.reason !== null) io.print(`reason          ${bundle.reason}`);
    io.print(`created         ${bundle.createdAt} by ${bundle.createdBy}`);
    io.print(`updated         ${bundle.updatedAt}`);
    io.print('');
    printMembers(io, bundle);
  },
});

function describeState(bundle: InstallBundleView): string {
  switch (bundle.state) {
    case 'pending':
      return ': not every member has reported its image installed yet';
    case 'installed':
      return ': every member runs its new image';
    case 'rolled_back':
      return ': a member failed, so every member went back to its previous image';
    case 'cancelled':
      return ': a member was cancelled, and every member with it';
  }
}

/** `uptane director install-bundle ...` (assigning one is `uptane director assign --atomic`). */
export const installBundleCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'install-bundle',
  describe: 'install bundles (several ECUs of a vehicle, all or none): show one; `assign --atomic` makes one',
  builder: (yargs) =>
    yargs
      .command(showCommand(io))
      .example('$0 director assign --atomic --vin WVW127 --member WVW127-ecm=engine/ecm-2.1.bin --member WVW127-bcm=body/front.bin', 'make one')
      .example('$0 director install-bundle show 3', 'its outcome')
      .demandCommand(1, 'name an install-bundle subcommand: show'),
  handler: () => undefined,
});
