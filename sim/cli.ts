// `uptane demo` and `uptane sim ...`: the end-to-end demo and the fleet simulator for test engineers.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { escapeTerminalText } from '../shared/util/terminal-text.js';
import { printJson } from '../shared/cli/cli-output.js';
import { systemClock } from '../shared/core/clock.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import { caOption, clientTlsFromFiles } from '../shared/cli/tls-args.js';
import { issueVehicleCertificate } from '../shared/pki/dev-ca.js';
import { loadCa } from '../shared/pki/pki-files.js';
import { runDemo } from './demo.js';
import { Fleet, SIM_PRIMARY_HARDWARE, simSecondaryHardware, type FleetFaults } from './fleet.js';

interface DemoArgs {
  readonly keep: boolean;
  readonly dataDir?: string;
  readonly insecureHttp: boolean;
}

export const demoCommand = (io: CliEnvironment): CommandModule<object, DemoArgs> => ({
  command: 'demo',
  describe: 'run the end-to-end demo: both repositories, a release engineer, an operator, a vehicle, and two attacks',
  builder: (yargs) =>
    (yargs
      .option('keep', { type: 'boolean', default: false, describe: 'leave the servers running at the end and print how to explore them' })
      .option('data-dir', { type: 'string', describe: 'folder for the servers\' data (default: a fresh temporary folder)' })
      .option('insecure-http', { type: 'boolean', default: false, describe: 'run over plain HTTP on loopback instead of TLS with a development CA and mutual TLS for the vehicle' })
      .example('$0 demo', 'run the demo over TLS and exit 0 if every step behaved as described')
      .example('$0 demo --keep', 'then explore the running servers with the CLI')) as unknown as Argv<DemoArgs>,
  handler: async (argv) => {
    // The demo opens a section with a blank line of its own ("\n== step"); that newline is printed
    // as a line, any other stays escaped like every printed value.
    const print = (line: string) => {
      if (line.startsWith('\n')) io.print('');
      io.print(line.replace(/^\n/, ''));
    };
    const result = await runDemo({ dataDir: argv.dataDir, keep: argv.keep, print, insecureHttp: argv.insecureHttp });
    if (!result.ok) throw new Error('the demo did not behave as described (see above)');
    if (argv.keep) {
      await new Promise<void>((done) => {
        const stop = () => void result.stop().then(done);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    }
  },
});

interface SimArgs {
  readonly vehicles: number;
  readonly secondaries: number;
  readonly seed: string;
  readonly directorUrl: string;
  readonly imageUrl: string;
  readonly directorRoot: string;
  readonly imageRoot: string;
  readonly tokenEnv: string;
  readonly register: boolean;
  readonly rounds: number;
  readonly concurrency: number;
  readonly dataDir?: string;
  readonly driving: number;
  readonly interrupted: number;
  readonly slow: number;
  readonly failingBoots: number;
  readonly powerCuts: number;
  readonly attacked: number;
  readonly attack: 'tamper-images' | 'replay-director-metadata';
  readonly json: boolean;
  readonly ca?: string | undefined;
  readonly pkiDir?: string | undefined;
  readonly assign: string[];
}

export const simCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'sim',
  describe: 'simulate fleets of vehicles against running repositories',
  builder: (yargs) =>
    yargs
      .command({
        command: 'run',
        describe: 'start N simulated vehicles (a primary with M secondaries each), register them, and run update cycles',
        builder: (y) =>
          (y
            .option('vehicles', { type: 'number', default: 10, describe: 'number of vehicles' })
            .option('secondaries', { type: 'number', default: 2, describe: 'secondaries per vehicle (hardware ids sim-ecu-1, sim-ecu-2, ...; the primary is sim-tcu)' })
            .option('seed', { type: 'string', default: 'sim', describe: 'same seed, same VINs, keys and faulty vehicles' })
            .option('director-url', { type: 'string', demandOption: true, describe: 'the Director' })
            .option('image-url', { type: 'string', demandOption: true, describe: 'the Image repository' })
            .option('director-root', { type: 'string', demandOption: true, describe: 'the Director\'s trusted root (1.root.json)' })
            .option('image-root', { type: 'string', demandOption: true, describe: 'the Image repository\'s trusted root' })
            .option('token-env', { type: 'string', default: 'UPTANE_OPERATOR_TOKEN', describe: 'environment variable with an operator token (to register the vehicles)' })
            .option('register', { type: 'boolean', default: true, describe: 'register the vehicles with the Director first' })
            .option('rounds', { type: 'number', default: 1, describe: 'update cycles per vehicle' })
            .option('concurrency', { type: 'number', default: 8, describe: 'vehicles cycling at once' })
            .option('data-dir', { type: 'string', describe: 'folder for the vehicles\' state (default: a fresh temporary folder)' })
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
            .option('ca', caOption(io, 'the Director and the Image repository'))
            .option('pki-dir', {
              type: 'string',
              requiresArg: true,
              describe: 'a development CA folder (`uptane pki init`): each simulated vehicle gets a client certificate from it, for a Director with --client-ca',
            })
            .example(
              '$0 sim run --vehicles 100 --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root trust/director-root.json --image-root trust/image-root.json --driving 0.1',
              '100 vehicles, 10% of them driving in the first round',
            )
            .example(
              '$0 sim run --vehicles 20 --rounds 2 --assign sim-ecu-1=engine/ecm-2.0.bin --data-dir fleet1 --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root trust/director-root.json --image-root trust/image-root.json',
              'every first secondary updates; run it again with --data-dir fleet1 to continue the same fleet',
            )
            .epilogue(
              'Without --assign (or a campaign or assignment made by an operator) every cycle ends "no-update": the simulated ECUs have nothing to install. ' +
                'Vehicles are made from --seed: a second run with the same seed continues the fleet only with the same --data-dir, where the ECUs keep their report counters; ' +
                'the same seed in a new folder makes vehicles whose counters start again, and the Director refuses their manifests as replayed.',
            )) as unknown as Argv<SimArgs>,
        handler: async (raw) => {
          const argv = raw as unknown as SimArgs;
          const token = io.env[argv.tokenEnv];
          const assignments = argv.assign.map(parseSimAssignment);
          if ((argv.register || assignments.length > 0) && (token === undefined || token === '')) {
            throw new Error(`set ${argv.tokenEnv} to an operator token (uptane director operator add NAME)${assignments.length > 0 ? ' to --assign' : ', or pass --no-register'}`);
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
          const tls = clientTlsFromFiles({ ca: argv.ca });
          const pkiCa = argv.pkiDir === undefined ? undefined : loadCa(resolve(argv.pkiDir));
          const directory = resolve(argv.dataDir ?? mkdtempSync(join(tmpdir(), 'uptane-sim-')));
          const operatorHttp = new HttpFetcher({ tls });
          const operatorCall = (method: string, path: string, body: unknown) =>
            operatorHttp.send(`${argv.directorUrl}${path}`, {
              method,
              body: Buffer.from(JSON.stringify(body)),
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              maxBytes: 1_000_000,
              timeoutMs: 60_000,
            });
          // Registered already, in a run whose vehicles this one does not continue (another folder).
          let alreadyRegistered = 0;
          // A line every 10% rather than one rewritten with a carriage return: stderr is escaped
          // line by line (shared/cli/cli-output.ts), and plain lines also read well in a log file.
          const progress = (label: string) => (done: number, total: number) => {
            if (done === total || done % Math.max(1, Math.floor(total / 10)) === 0) io.warn(`${label}: ${done}/${total}`);
          };
          const fleet = await Fleet.start({
            size: argv.vehicles,
            secondariesPerVehicle: argv.secondaries,
            seed: argv.seed,
            directory,
            directorUrl: argv.directorUrl,
            imageRepoUrl: argv.imageUrl,
            directorRoot: readFileSync(argv.directorRoot),
            imageRoot: readFileSync(argv.imageRoot),
            clock: systemClock,
            faults,
            concurrency: argv.concurrency,
            log: io.warn,
            tls,
            clientCertificate: pkiCa === undefined ? undefined : (vin, primarySerial) => issueVehicleCertificate(pkiCa, { vin, primarySerial }),
            register: argv.register
              ? async (registration) => {
                  const response = await operatorCall('POST', '/api/v1/vehicles', registration);
                  if (response.status === 409) alreadyRegistered++;
                  else if (response.status !== 201) throw new Error(`registering ${registration.vin}: HTTP ${response.status} ${escapeTerminalText(response.body.toString('utf8'))}`);
                }
              : undefined,
          });
          if (alreadyRegistered > 0) {
            io.warn(
              `warning: ${alreadyRegistered} vehicles of seed ${argv.seed} were registered with the Director by an earlier run: their ECUs start counting reports again here, and the Director will refuse their manifests as replayed. ` +
                `Continue that fleet with the --data-dir of the run that made it, or give a new --seed.`,
            );
          }
          if (fleet.continued > 0) io.warn(`continuing ${fleet.continued} vehicles provisioned by an earlier run in ${directory}`);
          for (const { hardwareId, image } of assignments) {
            let made = 0;
            for (const { vehicle } of fleet.records) {
              const response = await operatorCall('POST', '/api/v1/assignments', { vin: vehicle.spec.vin, hardwareId, image });
              if (response.status === 201) made++;
              else if (response.status !== 409) {
                throw new Error(`--assign ${hardwareId}=${image} for ${vehicle.spec.vin}: HTTP ${response.status} ${escapeTerminalText(response.body.toString('utf8', 0, 300))}`);
              }
            }
            io.warn(`assigned ${image} to the ${hardwareId} ECUs of ${made} vehicles${made < fleet.records.length ? ` (${fleet.records.length - made} had it assigned already)` : ''}`);
          }
          operatorHttp.close();
          for (let round = 1; round <= argv.rounds; round++) {
            await fleet.runRound(progress(`round ${round}/${argv.rounds}`));
            if (round === 1) fleet.parkAll();
          }
          const summary = fleet.summary();
          if (argv.json) {
            printJson(io, summary);
            return;
          }
          io.print(`vehicles ${summary.vehicles} (${summary.ecus} ECUs), cycles ${summary.cycles} in ${summary.seconds}s (${summary.cyclesPerSecond}/s)`);
          io.print(`results: ${Object.entries(summary.byStatus).map(([k, v]) => `${k} ${v}`).join(', ')}`);
          io.print(`images installed ${summary.installs}, rolled back ${summary.rolledBack}, cycles ending in a detected attack or fault ${summary.attacksDetected}`);
          if (Object.keys(summary.errors).length > 0) io.print(`errors: ${Object.entries(summary.errors).map(([k, v]) => `${k} ${v}`).join(', ')}`);
          io.print(`cycle time ms: p50 ${summary.cycleMs.p50}, p95 ${summary.cycleMs.p95}, max ${summary.cycleMs.max}`);
          io.print(`vehicle state folders: ${directory} (run again with --data-dir ${directory} to continue this fleet)`);
          if (summary.byStatus['no-update'] === summary.cycles && summary.cycles > 0) {
            io.print(
              `every cycle ended no-update: nothing is assigned to these ECUs (hardware ids ${SIM_PRIMARY_HARDWARE}, ${Array.from({ length: argv.secondaries }, (_, i) => simSecondaryHardware(i)).join(', ')}); ` +
                'give --assign HARDWARE_ID=IMAGE, or assign or start a campaign with `uptane director`',
            );
          }
        },
      })
      .demandCommand(1, 'name a sim subcommand: run'),
  handler: () => undefined,
});

/** `--assign HARDWARE_ID=IMAGE`. */
function parseSimAssignment(text: string): { hardwareId: string; image: string } {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw new Error(`--assign ${JSON.stringify(text)}: write HARDWARE_ID=IMAGE, e.g. sim-ecu-1=engine/ecm-2.0.bin`);
  return { hardwareId: text.slice(0, at), image: text.slice(at + 1) };
}
