// `uptane vectors export DIR` and `uptane vectors run DIR`: Uptane test vectors (docs/test-vectors.md)
// written from this project's attack scenarios, and replayed against its own ECUs offline.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../../shared/cli/cli-output.js';
import type { CliEnvironment } from '../../shared/cli/environment.js';
import { exportVectors } from './export.js';
import { replayVectors } from './replay.js';

interface DirArgs {
  readonly dir: string;
  readonly json: boolean;
}

const dirPositional = (yargs: Argv, describe: string) => yargs.positional('dir', { type: 'string', demandOption: true, describe });

export const vectorsCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'vectors',
  describe: 'Uptane test vectors: honest and attack scenarios as files another implementation can replay',
  builder: (yargs) =>
    yargs
      .command({
        command: 'export <dir>',
        describe: 'play each scenario once against real servers on loopback and write what the vehicle trusted, was served and must decide',
        builder: (y) =>
          (dirPositional(y, 'a new or empty folder')
            .option('json', { type: 'boolean', default: false, describe: 'print the index (the vector names) as JSON' })
            .example('$0 vectors export uptane-vectors', 'writes uptane-vectors/index.json and one folder per scenario')
            .epilogue('The format is docs/test-vectors.md. `uptane vectors run DIR` replays them against this project\'s ECUs.')) as unknown as Argv<DirArgs>,
        handler: async (raw) => {
          const argv = raw as unknown as DirArgs;
          const root = resolve(argv.dir);
          const index = await exportVectors(root, undefined, (name) => io.warn(`exporting ${name}`));
          if (argv.json) printJson(io, { dir: root, ...index });
          else io.print(`${index.vectors.length} vectors in ${root} (index.json lists them; the format is docs/test-vectors.md)`);
        },
      })
      .command({
        command: 'run <dir>',
        describe: 'replay every vector of a folder against this project\'s primary and secondaries, offline, and compare each ECU\'s verdict',
        builder: (y) =>
          (dirPositional(y, 'a folder written by `uptane vectors export`')
            .option('json', { type: 'boolean', default: false, describe: 'print each vector\'s expected and actual verdicts as JSON' })
            .example('$0 vectors run uptane-vectors', 'exit 0 when every ECU decided as expected.json says')) as unknown as Argv<DirArgs>,
        handler: async (raw) => {
          const argv = raw as unknown as DirArgs;
          const results = await replayVectors(resolve(argv.dir), argv.json ? undefined : (r) => io.print(`${r.ok ? 'PASS' : 'FAIL'} ${r.name}${r.ok ? '' : `: ${r.differences.join('; ')}`}`));
          const failed = results.filter((r) => !r.ok);
          if (argv.json) printJson(io, { passed: failed.length === 0, vectors: results });
          else io.print(`${results.length - failed.length}/${results.length} vectors decided as expected`);
          if (failed.length > 0) throw new Error(`${failed.length} vectors decided otherwise than expected: ${failed.map((r) => r.name).join(', ')}`);
        },
      })
      .demandCommand(1, 'name a vectors subcommand: export, run'),
  handler: () => undefined,
});
