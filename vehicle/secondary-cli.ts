// `uptane vehicle secondary ...`: one secondary ECU of a vehicle folder served over HTTP on loopback,
// for vehicles whose ECUs run as separate processes; `uptane vehicle run --secondary-url` reaches it.
import { dirname, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import { UptaneError } from '../shared/core/errors.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import type { SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import { FileVehicleState } from '../shared/ecu/vehicle-state.js';
import { serveSecondary, type RunningSecondaryServer } from '../secondary-ecu/http-server.js';
import { openLocalSecondary } from './compose.js';
import { readSecondaryStatus } from './ecu-status.js';
import { holdSecondaryFolder, VEHICLE_FILES } from './folder.js';

interface ServeArgs {
  readonly dir: string;
  readonly port: number;
  readonly host: string;
  readonly stateFile?: string | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Tells the person watching what the primary asked and what this secondary answered. */
function narrated(secondary: SecondaryTransport, serial: string, say: (line: string) => void): SecondaryTransport {
  const refusal = (what: string) => (err: unknown) => {
    if (err instanceof UptaneError) say(`${serial}: refused ${what}: ${err.code}: ${err.message}`);
    throw err;
  };
  return {
    info: () => secondary.info(),
    versionReport: () => secondary.versionReport().catch(refusal('a version report')),
    async putMetadata(bundle) {
      const verdict = await secondary.putMetadata(bundle).catch(refusal('metadata'));
      say(`${serial}: metadata verified; ${verdict.target === null ? 'nothing new to install' : `will install ${verdict.target.filename} (${verdict.target.length} bytes)`}`);
      return verdict;
    },
    async putImage(filename, body) {
      await secondary.putImage(filename, body).catch(refusal(`image ${filename}`));
      say(`${serial}: image ${filename} written to the inactive slot and verified`);
    },
    async install() {
      const outcome = await secondary.install().catch(refusal('to install'));
      say(`${serial}: install: ${outcome.status.replace('_', ' ')} ${outcome.filename}${outcome.code === undefined ? '' : ` (${outcome.code}: ${outcome.message ?? ''})`}`);
      return outcome;
    },
    async beginTrial(bundleId) {
      const verdict = await secondary.beginTrial(bundleId).catch(refusal(`a trial for install bundle ${bundleId}`));
      say(`${serial}: install bundle ${bundleId}: ${verdict.passed ? 'trial passed, held until the primary commits' : `trial failed, rolled back (${verdict.outcome.code ?? ''})`}`);
      return verdict;
    },
    async commitTrial(bundleId) {
      const outcome = await secondary.commitTrial(bundleId).catch(refusal(`the commit of install bundle ${bundleId}`));
      say(`${serial}: install bundle ${bundleId}: committed ${outcome.filename}`);
      return outcome;
    },
    async rollBackTrial(bundleId, reason) {
      const outcome = await secondary.rollBackTrial(bundleId, reason).catch(refusal(`the rollback of install bundle ${bundleId}`));
      say(`${serial}: install bundle ${bundleId}: back to the previous image${reason === null ? '' : ` (${reason.code})`}`);
      return outcome;
    },
  };
}

const serveCommand = (io: CliEnvironment): CommandModule<object, ServeArgs> => ({
  command: 'serve',
  describe: 'run one secondary ECU over HTTP, for a primary in another process (`uptane vehicle run --secondary-url`)',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the secondary\'s folder: <vehicle folder>/<serial>, as `uptane vehicle provision` made it' })
      .option('port', { type: 'number', default: Number(io.env.UPTANE_SECONDARY_PORT ?? 0), describe: 'TCP port; 0 picks a free one and prints it (env UPTANE_SECONDARY_PORT)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on; keep it loopback, the transport has no authentication' })
      .option('state-file', {
        type: 'string',
        requiresArg: true,
        describe: `the vehicle's parked/driving state file, shared with the primary (default: <dir>/../${VEHICLE_FILES.state})`,
      })
      .check((argv) => {
        const port = argv.port as number;
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${String(argv.port)}: give a port number from 0 to 65535`);
        return true;
      })
      .example('$0 vehicle secondary serve --dir car1/VIN0001-ecm --port 9031', 'serve secondary VIN0001-ecm of the vehicle in car1/')
      .example('$0 vehicle run --dir car1 --once --secondary-url VIN0001-ecm=http://127.0.0.1:9031', 'then, in another shell: a cycle that reaches VIN0001-ecm over HTTP')
      .epilogue(
        'The secondary verifies everything the primary sends it (partial or full verification, as provisioned) and refuses to install while the state file says driving. Stop it with Ctrl-C.',
      ) as unknown as Argv<ServeArgs>,
  handler: async (argv) => {
    const dir = resolve(argv.dir);
    const stateFile = resolve(argv.stateFile ?? `${dirname(dir)}/${VEHICLE_FILES.state}`);
    const status = readSecondaryStatus(dir);
    if (status.servedAt !== null) throw new Error(`secondary ${status.serial} is already served at ${status.servedAt}: stop that \`uptane vehicle secondary serve\` first, or use it`);
    const vehicleState = new FileVehicleState(stateFile);
    const secondary = await openLocalSecondary(dir, { clock: systemClock, vehicleState });
    let server: RunningSecondaryServer;
    try {
      server = await serveSecondary(narrated(secondary, status.serial, io.print), { host: argv.host, port: argv.port, log: io.print });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new Error(`port ${argv.port} on ${argv.host} is already in use: pick another --port, or 0 for a free one`);
      throw err;
    }
    const info = await secondary.info();
    let release: () => void;
    try {
      release = holdSecondaryFolder(dir, info.serial, server.url);
    } catch (err) {
      await server.close();
      throw err;
    }
    io.print(`secondary ${info.serial} (hardware id ${info.hardwareId}, ${info.verification} verification) listening on ${server.url}`);
    io.print(`runs ${status.installed.filename} in slot ${status.activeSlot}; vehicle state ${vehicleState.current()} (from ${stateFile})`);
    io.print(`the primary reaches it with: uptane vehicle run --dir ${dirname(dir)} --secondary-url ${info.serial}=${server.url}`);
    if (!LOOPBACK.has(argv.host)) {
      io.print(`warning: listening on ${argv.host}, beyond loopback: anyone who reaches this port can ask for version reports or send updates this ECU will verify and may refuse`);
    }
    try {
      await new Promise<void>((done) => {
        const stop = () => void server.close().then(done);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    } finally {
      release();
    }
    io.print(`secondary ${info.serial} stopped`);
  },
});

/** The `secondary` group of `uptane vehicle`. */
export const secondaryCommands = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'secondary',
  describe: 'run a secondary ECU of a provisioned vehicle in a process of its own',
  builder: (yargs) => yargs.command(serveCommand(io)).demandCommand(1, 'name a secondary subcommand: serve'),
  handler: () => undefined,
});
