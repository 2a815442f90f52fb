// `uptane vehicle ...`: the integration-test engineer's commands for one vehicle kept in a folder:
// provision it (keys for every ECU, trusted roots, factory images, registration with the Director),
// run update cycles, flip the parked/driving state, show each ECU's status, and serve one secondary
// in a process of its own. vehicle/ is the composition layer: it alone builds a primary together
// with its secondaries, which otherwise meet only through the secondary protocol.
import type { CommandModule } from 'yargs';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { provisionCommand } from './provision-cli.js';
import { registerCommand } from './register-cli.js';
import { runCommand } from './run-cli.js';
import { installOfflineCommand } from './offline-install-cli.js';
import { secondaryCommands } from './secondary-cli.js';
import { stateCommand, statusCommand } from './status-cli.js';
import { factoryResetCommand } from './factory-reset-cli.js';

/** The `vehicle` command group, for the root CLI: `.command(vehicleCommand(io))`. */
export const vehicleCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'vehicle',
  describe: 'a simulated vehicle in a folder: provision, run update cycles, parked/driving, status',
  builder: (yargs) =>
    yargs
      .command(provisionCommand(io))
      .command(registerCommand(io))
      .command(runCommand(io))
      .command(installOfflineCommand(io))
      .command(stateCommand(io))
      .command(statusCommand(io))
      .command(secondaryCommands(io))
      .command(factoryResetCommand(io))
      .demandCommand(1, 'name a vehicle subcommand: provision, register, run, state, status, secondary or factory-reset'),
  handler: () => undefined,
});
