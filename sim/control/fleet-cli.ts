// `uptane sim run` and `uptane sim serve`: a simulated fleet from flags or a YAML profile, run for
// some rounds with results for CI (NDJSON, JUnit), or driven over the HTTP control API. Both build
// the same SimulatedFleet (simulated-fleet.ts) a test builds in code.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../../shared/cli/cli-output.js';
import type { CliEnvironment } from '../../shared/cli/environment.js';
import { caOption, clientTlsFromFiles } from '../../shared/cli/tls-args.js';
import { systemClock } from '../../shared/core/clock.js';
import { writeFileAtomic } from '../../shared/files/fs-atomic.js';
import { issueVehicleCertificate } from '../../shared/pki/dev-ca.js';
import { loadCa } from '../../shared/pki/pki-files.js';
import { OperatorClient } from '../../director-repo/operator-client.js';
import { defaultGroup, SIM_PRIMARY_HARDWARE, simSecondaryHardware, type FleetFaults } from '../fleet.js';
import { startControlServer } from './control-server.js';
import { parseFleetProfileText, type FleetProfile } from './profile.js';
import { resultsJunit, resultsNdjson } from './results.js';
import { SimulatedFleet, type FleetResults } from './simulated-fleet.js';

/** What both commands need to reach the repositories. */
interface RepositoryArgs {
  readonly directorUrl: string;
  readonly imageUrl: string;
  readonly directorRoot: string;
  readonly imageRoot: string;
  readonly tokenEnv: string;
  readonly dataDir?: string;
  readonly ca?: string | undefined;
  readonly pkiDir?: string | undefined;
  readonly mqttBroker?: string | undefined;
  readonly resultsNdjson?: string;
  readonly junit?: string;
}

function repositoryOptions<T>(y: Argv<T>, io: CliEnvironment): Argv<T & RepositoryArgs> {
  return y
    .option('director-url', { type: 'string', demandOption: true, describe: 'the Director' })
    .option('image-url', { type: 'string', demandOption: true, describe: 'the Image repository' })
    .option('director-root', { type: 'string', demandOption: true, describe: 'the Director\'s trusted root (1.root.json)' })
    .option('image-root', { type: 'string', demandOption: true, describe: 'the Image repository\'s trusted root' })
    .option('token-env', { type: 'string', default: 'UPTANE_OPERATOR_TOKEN', describe: 'environment variable with an operator token (registers the vehicles, makes assignments)' })
    .option('data-dir', { type: 'string', describe: 'folder for the vehicles\' state (default: a fresh temporary folder); the same folder continues the same fleet' })
    .option('results-ndjson', { type: 'string', requiresArg: true, describe: 'write every cycle, then the summary, as one JSON object a line to this file' })
    .option('junit', { type: 'string', requiresArg: true, describe: 'write the cycles as JUnit XML to this file (a failed cycle is a <failure>)' })
    .option('ca', caOption(io, 'the Director and the Image repository'))
    .option('pki-dir', {
      type: 'string',
      requiresArg: true,
      describe: 'a development CA folder (`uptane pki init`): each simulated vehicle gets a client certificate from it, for a Director with --client-ca',
    })
    .option('mqtt-broker', {
      type: 'string',
      requiresArg: true,
      describe: 'the MQTT broker of profile kinds with transport: mqtt (a Director started with --mqtt answers there); {vin} in the URL becomes each vehicle\'s VIN, e.g. mqtt://{vin}@127.0.0.1:1883 (docs/transport.md "MQTT")',
    }) as unknown as Argv<T & RepositoryArgs>;
}

function operatorFor(io: CliEnvironment, argv: RepositoryArgs, why: string): OperatorClient {
  const token = io.env[argv.tokenEnv];
  if (token === undefined || token === '') throw new Error(`set ${argv.tokenEnv} to an operator token (uptane director operator add NAME)${why}`);
  return new OperatorClient(argv.directorUrl, token, argv.tokenEnv, '--director-url', clientTlsFromFiles({ ca: argv.ca }));
}

async function startFleet(io: CliEnvironment, argv: RepositoryArgs, profile: FleetProfile, directory: string, operator: OperatorClient | undefined, register: boolean) {
  const pkiCa = argv.pkiDir === undefined ? undefined : loadCa(resolve(argv.pkiDir));
  return SimulatedFleet.start({
    profile,
    directory,
    directorUrl: argv.directorUrl,
    imageRepoUrl: argv.imageUrl,
    directorRoot: readFileSync(argv.directorRoot),
    imageRoot: readFileSync(argv.imageRoot),
    clock: systemClock,
    operator,
    register,
    tls: clientTlsFromFiles({ ca: argv.ca }),
    clientCertificate: pkiCa === undefined ? undefined : (vin, primarySerial) => issueVehicleCertificate(pkiCa, { vin, primarySerial }),
    ...(argv.mqttBroker === undefined ? {} : { mqtt: { url: (vin: string) => argv.mqttBroker!.replaceAll('{vin}', vin), ...(argv.ca === undefined ? {} : { ca: readFileSync(argv.ca, 'utf8') }) } }),
    log: io.warn,
  });
}

function warnAboutContinuation(io: CliEnvironment, fleet: SimulatedFleet, directory: string): void {
  if (fleet.alreadyRegistered > 0) {
    io.warn(
      `warning: ${fleet.alreadyRegistered} vehicles of seed ${fleet.profile.seed} were registered with the Director by an earlier run: their ECUs start counting reports again here, and the Director will refuse their manifests as replayed. ` +
        `Continue that fleet with the --data-dir of the run that made it, or give a new --seed.`,
    );
  }
  if (fleet.fleet.continued > 0) io.warn(`continuing ${fleet.fleet.continued} vehicles provisioned by an earlier run in ${directory}`);
}

function writeResults(io: CliEnvironment, argv: RepositoryArgs, results: FleetResults): void {
  if (argv.resultsNdjson !== undefined) {
    writeFileAtomic(resolve(argv.resultsNdjson), Buffer.from(resultsNdjson(results)));
    io.warn(`wrote ${results.cycles.length} cycles to ${argv.resultsNdjson}`);
  }
  if (argv.junit !== undefined) {
    writeFileAtomic(resolve(argv.junit), Buffer.from(resultsJunit(results)));
    io.warn(`wrote JUnit XML to ${argv.junit}`);
  }
}

interface RunArgs extends RepositoryArgs {
  readonly profile?: string;
  readonly vehicles: number;
  readonly secondaries: number;
  readonly seed: string;
  readonly register: boolean;
  readonly rounds: number;
  readonly concurrency: number;
  readonly driving: number;
  readonly interrupted: number;
  readonly slow: number;
  readonly failingBoots: number;
  readonly powerCuts: number;
  readonly attacked: number;
  readonly attack: 'tamper-images' | 'replay-director-metadata';
  readonly json: boolean;
  readonly assign: string[];
}

/** `--assign HARDWARE_ID=IMAGE`. */
function parseSimAssignment(text: string): { hardwareId: string; image: string } {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw new Error(`--assign ${JSON.stringify(text)}: write HARDWARE_ID=IMAGE, e.g. sim-ecu-1=engine/ecm-2.0.bin`);
  return { hardwareId: text.slice(0, at), image: text.slice(at + 1) };
}

/** The profile --profile names, or the one kind of vehicle the flags describe; --assign adds to either. */
function runProfile(argv: RunArgs): FleetProfile {
  const assign = argv.assign.map(parseSimAssignment);
  if (argv.profile !== undefined) {
    const profile = parseFleetProfileText(readFileSync(argv.profile, 'utf8'));
    return { ...profile, assign: [...profile.assign, ...assign] };
  }
  const faults: FleetFaults = {
    driving: argv.driving,
    interruptedDownloads: argv.interrupted,
    slowDownloads: argv.slow,
    failingBoots: argv.failingBoots,
    powerCuts: argv.powerCuts,
    attacked: argv.attacked,
    attack: argv.attack,
  };
  return { seed: argv.seed, concurrency: argv.concurrency, groups: [defaultGroup(argv.vehicles, argv.secondaries, faults)], assign };
}

export const simRunCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'run',
  describe: 'start simulated vehicles (from flags or a YAML --profile), register them, and run update cycles',
  builder: (y) =>
    repositoryOptions(y, io)
      .option('profile', { type: 'string', requiresArg: true, describe: 'a YAML fleet profile (docs/simulator.md): kinds of vehicle, their ECUs, verification, transport and fault rates; replaces --vehicles, --secondaries, --seed, --concurrency and the fault shares' })
      .option('vehicles', { type: 'number', default: 10, describe: 'number of vehicles' })
      .option('secondaries', { type: 'number', default: 2, describe: 'secondaries per vehicle (hardware ids sim-ecu-1, sim-ecu-2, ...; the primary is sim-tcu)' })
      .option('seed', { type: 'string', default: 'sim', describe: 'same seed, same VINs, keys and faulty vehicles' })
      .option('register', { type: 'boolean', default: true, describe: 'register the vehicles with the Director first' })
      .option('rounds', { type: 'number', default: 1, describe: 'update cycles per vehicle' })
      .option('concurrency', { type: 'number', default: 8, describe: 'vehicles cycling at once' })
      .option('driving', { type: 'number', default: 0, describe: 'share of vehicles driving during the first round (0..1)' })
      .option('interrupted', { type: 'number', default: 0, describe: 'share of vehicles whose downloads are cut midway once' })
      .option('slow', { type: 'number', default: 0, describe: 'share of vehicles with too slow downloads' })
      .option('failing-boots', { type: 'number', default: 0, describe: 'share of vehicles whose secondaries fail their boot check' })
      .option('power-cuts', { type: 'number', default: 0, describe: 'share of vehicles that lose power once during an install' })
      .option('attacked', { type: 'number', default: 0, describe: 'share of vehicles behind a network attacker' })
      .option('attack', { choices: ['tamper-images', 'replay-director-metadata'] as const, default: 'tamper-images' as const, describe: 'what the attacker does' })
      .option('assign', {
        type: 'string',
        array: true,
        default: [],
        requiresArg: true,
        describe: 'HARDWARE_ID=IMAGE: assign an image of the Image repository to every simulated ECU of that hardware id (sim-tcu, sim-ecu-1, ...) before the first round; repeatable',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' })
      .example(
        '$0 sim run --vehicles 100 --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root trust/director-root.json --image-root trust/image-root.json --driving 0.1',
        '100 vehicles, 10% of them driving in the first round',
      )
      .example(
        '$0 sim run --vehicles 20 --rounds 2 --assign sim-ecu-1=engine/ecm-2.0.bin --data-dir fleet1 --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root trust/director-root.json --image-root trust/image-root.json',
        'every first secondary updates; run it again with --data-dir fleet1 to continue the same fleet',
      )
      .example(
        '$0 sim run --profile fleet.yaml --rounds 2 --results-ndjson results.ndjson --junit junit.xml --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root trust/director-root.json --image-root trust/image-root.json',
        'the fleet a YAML profile describes, with results for CI',
      )
      .epilogue(
        'Without --assign (or a campaign or assignment made by an operator) every cycle ends "no-update": the simulated ECUs have nothing to install. ' +
          'Vehicles are made from the seed: a second run with the same seed continues the fleet only with the same --data-dir, where the ECUs keep their report counters; ' +
          'the same seed in a new folder makes vehicles whose counters start again, and the Director refuses their manifests as replayed.',
      ),
  handler: async (raw) => {
    const argv = raw as unknown as RunArgs;
    const profile = runProfile(argv);
    const operator = argv.register || profile.assign.length > 0 ? operatorFor(io, argv, profile.assign.length > 0 ? ' to assign images' : ', or pass --no-register') : undefined;
    const directory = resolve(argv.dataDir ?? mkdtempSync(join(tmpdir(), 'uptane-sim-')));
    // A line every 10% rather than one rewritten with a carriage return: stderr is escaped
    // line by line (shared/cli/cli-output.ts), and plain lines also read well in a log file.
    const progress = (label: string) => (done: number, total: number) => {
      if (done === total || done % Math.max(1, Math.floor(total / 10)) === 0) io.warn(`${label}: ${done}/${total}`);
    };
    let fleet: SimulatedFleet;
    try {
      fleet = await startFleet(io, argv, profile, directory, operator, argv.register);
    } finally {
      operator?.close();
    }
    try {
      warnAboutContinuation(io, fleet, directory);
      for (let round = 1; round <= argv.rounds; round++) {
        await fleet.step(undefined, progress(`round ${round}/${argv.rounds}`));
        // The profile's driving vehicles drive through the first round only: they install in the next.
        if (round === 1) fleet.fleet.parkAll();
      }
    } finally {
      await fleet.close();
    }
    const results = fleet.results();
    writeResults(io, argv, results);
    const { summary } = results;
    if (argv.json) {
      printJson(io, summary);
      return;
    }
    io.print(`vehicles ${summary.vehicles} (${summary.ecus} ECUs), cycles ${summary.cycles} in ${summary.seconds}s (${summary.cyclesPerSecond}/s)`);
    io.print(`results: ${Object.entries(summary.byStatus).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    io.print(`images installed ${summary.installs}, rolled back ${summary.rolledBack}, cycles ending in a detected attack or fault ${summary.attacksDetected}`);
    if (Object.keys(summary.errors).length > 0) io.print(`errors: ${Object.entries(summary.errors).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    io.print(`cycle time ms: p50 ${summary.cycleMs.p50}, p95 ${summary.cycleMs.p95}, max ${summary.cycleMs.max}`);
    if (summary.gateway !== undefined) {
      const g = summary.gateway;
      io.print(`gateway: ${g.imageFills} image downloads from the Image repository (${(g.imageFillBytes / 1024 / 1024).toFixed(1)} MiB) for ${g.imageHits + g.imageJoins} served to vehicles, ${g.directorRequests} Director requests passed through`);
    }
    io.print(`vehicle state folders: ${directory} (run again with --data-dir ${directory} to continue this fleet)`);
    if (summary.byStatus['no-update'] === summary.cycles && summary.cycles > 0) {
      const ids = argv.profile === undefined ? [SIM_PRIMARY_HARDWARE, ...Array.from({ length: argv.secondaries }, (_, i) => simSecondaryHardware(i))] : fleet.hardwareIds();
      io.print(
        `every cycle ended no-update: nothing is assigned to these ECUs (hardware ids ${ids.join(', ')}); ` +
          'give --assign HARDWARE_ID=IMAGE, or assign or start a campaign with `uptane director`',
      );
    }
  },
});

interface ServeArgs extends RepositoryArgs {
  readonly host: string;
  readonly port: number;
  readonly controlTokenEnv?: string;
}

export const simServeCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'serve',
  describe: 'serve the simulator\'s HTTP control API: start a fleet from a profile, set vehicles driving, switch faults and attacks, move the clock, step cycles, read results',
  builder: (y) =>
    repositoryOptions(y, io)
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on; anything but loopback needs --control-token-env' })
      .option('port', { type: 'number', default: 8090, describe: 'TCP port (0: any free one, printed)' })
      .option('control-token-env', {
        type: 'string',
        requiresArg: true,
        describe: 'environment variable with the token every control request must send as Authorization: Bearer (required off loopback)',
      })
      .example(
        '$0 sim serve --port 8090 --data-dir fleets --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root trust/director-root.json --image-root trust/image-root.json',
        'then: curl -X POST --data-binary @fleet.yaml -H "content-type: application/yaml" http://127.0.0.1:8090/fleet',
      )
      .epilogue('The routes and their bodies are in docs/simulator.md. Each fleet lives in DATA_DIR/<seed>, so a fleet started again with the same seed and --data-dir continues. Ctrl-C stops the server and writes --results-ndjson and --junit.'),
  handler: async (raw) => {
    const argv = raw as unknown as ServeArgs;
    let controlToken: string | undefined;
    if (argv.controlTokenEnv !== undefined) {
      controlToken = io.env[argv.controlTokenEnv];
      if (controlToken === undefined || controlToken.length < 16) throw new Error(`set ${argv.controlTokenEnv} to a control token of at least 16 characters (e.g. \`openssl rand -hex 16\`)`);
    }
    const token = io.env[argv.tokenEnv];
    const operator = token === undefined || token === '' ? undefined : operatorFor(io, argv, '');
    if (operator === undefined) io.warn(`${argv.tokenEnv} is not set: vehicles are not registered and POST /assignments is refused; register them with \`uptane director\``);
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) throw new Error(`--port ${argv.port}: give a TCP port from 0 to 65535 (0: any free one)`);
    const root = resolve(argv.dataDir ?? mkdtempSync(join(tmpdir(), 'uptane-sim-')));
    const server = await startControlServer({
      host: argv.host,
      port: argv.port,
      token: controlToken,
      operator,
      startFleet: async (profile) => {
        const directory = join(root, profile.seed);
        const fleet = await startFleet(io, argv, profile, directory, operator, operator !== undefined);
        warnAboutContinuation(io, fleet, directory);
        return fleet;
      },
    }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      throw new Error(`${argv.host}:${argv.port} is in use (another sim serve?): give another --port, or --port 0 for any free one`);
    });
    io.print(`simulator control API on ${server.url} (fleets in ${root}); Ctrl-C to stop`);
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    const fleet = server.fleet();
    if (fleet !== undefined) writeResults(io, argv, fleet.results());
    await server.close();
    operator?.close();
  },
});
