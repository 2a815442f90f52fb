// `uptane vehicle factory-reset`: one ECU goes back to the factory image kept in its recovery
// partition (docs/threat-model.md M21), through the normal verified path: the partition is re-verified
// against the length and hashes recorded at provisioning, copied into the inactive slot with its
// hashes checked again, switched to, boot-checked, soaked under the ECU's health check and committed.
// The next version report names the factory image as installed, so the Director sees it and can
// assign an image again. Refused while the vehicle is driving, or while another process holds the ECU.
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { AbSlots } from '../shared/ecu/ab-slots.js';
import { NoFactoryImageError, VehicleDrivingError } from '../shared/core/errors.js';
import { printJson } from '../shared/cli/cli-output.js';
import { confirmDestructive, withYes, type YesArgs } from '../shared/cli/confirm.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { readPidLock } from '../shared/files/pid-lock.js';
import { loadEcuHealthCheck } from './ecu-health.js';
import { loadVehicleConfig, lockVehicle, vehicleState, VEHICLE_FILES } from './folder.js';

interface FactoryResetArgs extends YesArgs {
  readonly dir: string;
  readonly ecu: string;
  readonly json: boolean;
}

async function factoryReset(io: CliEnvironment, argv: FactoryResetArgs): Promise<void> {
  const dir = resolve(argv.dir);
  const config = loadVehicleConfig(dir);
  const serials = [config.primary.serial, ...config.secondaries.map((s) => s.serial)];
  if (!serials.includes(argv.ecu)) throw new Error(`--ecu ${argv.ecu}: vehicle ${config.vin} has no such ECU (its ECUs: ${serials.join(', ')})`);
  const ecuDir = join(dir, argv.ecu);
  const server = readPidLock(join(ecuDir, VEHICLE_FILES.serveLock));
  if (server !== undefined) throw new Error(`secondary ${argv.ecu} is served by another process (pid ${server.pid}) at ${server.note}: stop that \`uptane vehicle secondary serve\` first`);
  // Nothing installs while the vehicle moves, a factory image no more than an update.
  if (vehicleState(dir).current() !== 'parked') throw new VehicleDrivingError(`vehicle ${config.vin} is driving: park it first (\`uptane vehicle state --dir ${argv.dir} parked\`)`);
  const slotsDir = join(ecuDir, 'slots');
  const before = AbSlots.peek(slotsDir);
  // Said before asking: nothing to confirm when there is no factory image (AbSlots.factoryReset refuses it too).
  if (before.factory === undefined || before.factory === null) throw new NoFactoryImageError(`ECU ${argv.ecu} was provisioned without a factory image: install an image through an update instead`);
  await confirmDestructive(io, argv, `replace the image ECU ${argv.ecu} of vehicle ${config.vin} runs with its factory image ${before.factory?.filename ?? '(none)'}`);
  const release = lockVehicle(dir);
  try {
    const healthCheck = loadEcuHealthCheck(ecuDir);
    const slots = await AbSlots.open(slotsDir, healthCheck === undefined ? {} : { healthCheck });
    const previous = slots.installed.filename;
    const outcome = await slots.factoryReset();
    const result = { vin: config.vin, ecu: argv.ecu, previous, outcome, installed: slots.installed.filename, activeSlot: slots.current.active };
    if (argv.json) printJson(io, result);
    if (outcome.status !== 'installed') {
      // The factory image failed its boot check or health soak: the previous image came back.
      throw new Error(`ECU ${argv.ecu}: the factory image ${outcome.filename} was ${outcome.status} (${outcome.code ?? 'unknown'}: ${outcome.message ?? ''}); it still runs ${slots.installed.filename}`);
    }
    if (argv.json) return;
    io.print(`ECU ${argv.ecu} runs its factory image ${outcome.filename} (slot ${result.activeSlot}; was ${previous})`);
    io.print(`next: \`uptane vehicle run --dir ${argv.dir} --once\` reports it to the Director, which can assign an image again`);
  } finally {
    release();
  }
}

export const factoryResetCommand = (io: CliEnvironment): CommandModule<object, FactoryResetArgs> => ({
  command: 'factory-reset',
  describe: "put one ECU back on the factory image of its recovery partition, re-verified and installed like any image (switch, boot check, health soak, commit)",
  builder: (yargs) =>
    withYes(
      yargs
        .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle folder' })
        .option('ecu', { type: 'string', demandOption: true, requiresArg: true, describe: 'serial of the ECU to reset (primary or secondary)' })
        .option('json', { type: 'boolean', default: false, describe: 'print {vin, ecu, previous, outcome, installed, activeSlot} as JSON' }),
    )
      .example('$0 vehicle factory-reset --dir car1 --ecu VIN0001-ecm --yes', 'VIN0001-ecm runs its factory image; the next `uptane vehicle run` reports it')
      .epilogue(
        'The factory image was written at provisioning into <ecu>/slots/factory.img with its length and hashes; no update writes it. A corrupted one is refused (factory_image_corrupted) and nothing changes. The vehicle must be parked and not running (`uptane vehicle run` holds it).',
      ) as unknown as Argv<FactoryResetArgs>,
  handler: (argv) => factoryReset(io, argv),
});
