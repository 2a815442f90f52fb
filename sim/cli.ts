// `uptane demo` and `uptane sim ...`: the end-to-end demo and the fleet simulator for test engineers.
import type { Argv, CommandModule } from 'yargs';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { attackCommand } from './attacks/attack-cli.js';
import { simRunCommand, simServeCommand } from './control/fleet-cli.js';

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
    // Loaded here, not at the top: the demo starts both servers, which `uptane sim ...` and every
    // --help would otherwise load at start.
    const { runDemo } = await import('./demo.js');
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

export const simCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'sim',
  describe: 'simulate fleets of vehicles against running repositories',
  builder: (yargs) =>
    yargs
      .command(simRunCommand(io))
      .command(simServeCommand(io))
      .command(attackCommand(io))
      .demandCommand(1, 'name a sim subcommand: run, serve, attack'),
  handler: () => undefined,
});
