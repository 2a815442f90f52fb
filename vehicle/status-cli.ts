// `uptane vehicle state` and `uptane vehicle status`: the parked/driving state every ECU process of
// the vehicle reads, and each ECU's folder shown without opening the ECU (vehicle/ecu-status.ts).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { printJson, table } from '../shared/cli/cli-output.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import type { DrivingState } from '../shared/ecu/vehicle-state.js';
import type { ReportedAttack } from '../shared/uptane/manifest.js';
import { DEFAULT_SECURITY_PROFILE, type SecurityProfile } from '../shared/core/security-profile.js';
import { readJsonFile, readPrimaryState, readPrimaryStatus, readSecondaryStatus, type EcuFolderStatus } from './ecu-status.js';
import { loadVehicleConfig, vehicleState, vehicleStatePath, VEHICLE_FILES, type LastCycle, type VehicleConfig } from './folder.js';

interface StateArgs {
  readonly dir: string;
  readonly state?: DrivingState | undefined;
  readonly json: boolean;
}

function currentState(dir: string): { state: DrivingState; set: boolean } {
  return { state: vehicleState(dir).current(), set: existsSync(vehicleStatePath(dir)) };
}

export const stateCommand = (io: CliEnvironment): CommandModule<object, StateArgs> => ({
  command: 'state [state]',
  describe: 'show the vehicle state, or set it to parked or driving (every ECU process of the vehicle reads it; nothing installs while driving)',
  builder: (yargs) =>
    yargs
      .positional('state', { type: 'string', choices: ['parked', 'driving'] as const, describe: 'the new state; leave out to show the current one' })
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle folder' })
      .option('json', { type: 'boolean', default: false, describe: 'print {vin, state} as JSON' })
      .example('$0 vehicle state --dir car1 driving', 'updates are downloaded and verified, but not installed')
      .example('$0 vehicle state --dir car1 parked', 'the next cycle installs what is waiting')
      .example('$0 vehicle state --dir car1', 'show it') as unknown as Argv<StateArgs>,
  handler: (argv) => {
    const dir = resolve(argv.dir);
    const config = loadVehicleConfig(dir);
    const before = currentState(dir);
    if (argv.state !== undefined) vehicleState(dir).set(argv.state);
    const now = currentState(dir);
    if (argv.json) {
      printJson(io, { vin: config.vin, state: now.state });
      return;
    }
    if (argv.state === undefined) {
      io.print(`vehicle ${config.vin} is ${now.state}${now.set ? '' : ' (no state file: treated as driving until set)'}`);
      return;
    }
    io.print(`vehicle ${config.vin} is now ${now.state}${before.state === now.state ? ' (unchanged)' : ` (was ${before.state})`}`);
    const pending = readPrimaryState(join(dir, config.primary.serial)).pending;
    if (pending !== null) {
      io.print(
        now.state === 'parked'
          ? `${pending.targets.length} verified update(s) waiting: the next \`uptane vehicle run --dir ${argv.dir}\` installs them`
          : `${pending.targets.length} verified update(s) waiting: they install once the vehicle is parked`,
      );
    }
  },
});

interface EcuStatusView extends EcuFolderStatus {
  readonly role: 'primary' | 'secondary';
  readonly verification: 'partial' | 'full';
  /** As provisioned (docs/security-profiles.md); standard for a folder provisioned before profiles, as the ECU takes it. */
  readonly securityProfile: SecurityProfile;
  /** The image the primary verified for this ECU and installs once the vehicle is parked. */
  readonly pending: string | null;
}

interface StatusArgs {
  readonly dir: string;
  readonly json: boolean;
}

function vehicleStatus(dir: string, config: VehicleConfig) {
  const primary = readPrimaryStatus(join(dir, config.primary.serial));
  const pendingFor = (serial: string) => primary.pendingTargets?.targets.find((t) => t.ecuSerial === serial)?.filename ?? null;
  const { pendingTargets, ...primaryFolder } = primary;
  const ecus: EcuStatusView[] = [
    { ...primaryFolder, role: 'primary', verification: 'full', securityProfile: config.primary.securityProfile ?? DEFAULT_SECURITY_PROFILE, pending: pendingFor(config.primary.serial) },
    ...config.secondaries.map((s) => ({
      ...readSecondaryStatus(join(dir, s.serial)),
      role: 'secondary' as const,
      verification: s.verification,
      securityProfile: s.securityProfile ?? DEFAULT_SECURITY_PROFILE,
      pending: pendingFor(s.serial),
    })),
  ];
  const lastCyclePath = join(dir, VEHICLE_FILES.lastCycle);
  return {
    vin: config.vin,
    state: currentState(dir).state,
    directorUrl: config.directorUrl,
    imageRepoUrl: config.imageRepoUrl,
    pendingSince: pendingTargets?.verifiedAt ?? null,
    lastCycle: existsSync(lastCyclePath) ? readJsonFile<LastCycle>(lastCyclePath) : null,
    ecus,
  };
}

function describeInstall(outcome: EcuFolderStatus['lastInstall']): string {
  if (outcome === null) return '-';
  return `${outcome.status.replace('_', ' ')} ${outcome.filename}${outcome.code === undefined ? '' : ` (${outcome.code})`}`;
}

export const statusCommand = (io: CliEnvironment): CommandModule<object, StatusArgs> => ({
  command: 'status',
  describe: 'show each ECU: active slot, installed image, pending update, last install, attacks waiting to be reported',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle folder' })
      .option('json', { type: 'boolean', default: false, describe: 'print the status as JSON' })
      .example('$0 vehicle status --dir car1', 'a table, one ECU per line')
      .example('$0 vehicle status --dir car1 --json', 'for scripts and tests') as unknown as Argv<StatusArgs>,
  handler: (argv) => {
    const dir = resolve(argv.dir);
    const status = vehicleStatus(dir, loadVehicleConfig(dir));
    if (argv.json) {
      printJson(io, status);
      return;
    }
    io.print(`vehicle ${status.vin}: ${status.state}`);
    io.print(`Director ${status.directorUrl}; Image repository ${status.imageRepoUrl}`);
    const last = status.lastCycle;
    io.print(
      last === null
        ? 'last cycle: none yet (`uptane vehicle run --dir ... --once`)'
        : `last cycle: ${last.status} at ${last.at}${last.error === undefined ? '' : ` (${last.error.code}: ${last.error.message})`}${last.manifestSent ? '' : '; manifest not sent'}`,
    );
    if (status.pendingSince !== null) io.print(`pending update verified at ${status.pendingSince}: installs when the vehicle is parked and the next cycle runs`);
    for (const line of table(
      ['ECU', 'role', 'hardware id', 'slot', 'installed', 'pending', 'last install', 'attacks', 'profile'],
      status.ecus.map((e) => [e.serial, e.role, e.hardwareId, e.activeSlot, e.installed.filename, e.pending ?? '-', describeInstall(e.lastInstall), String(e.attacksToReport.length), e.securityProfile]),
    )) {
      io.print(`  ${line}`);
    }
    for (const e of status.ecus) if (e.servedAt !== null) io.print(`${e.serial} is served by \`uptane vehicle secondary serve\` at ${e.servedAt}`);
    const attacks: Array<[string, ReportedAttack]> = status.ecus.flatMap((e) => e.attacksToReport.map((a) => [e.serial, a] as [string, ReportedAttack]));
    if (attacks.length > 0) {
      io.print('attacks detected, to be reported in the next manifest:');
      for (const [serial, a] of attacks) io.print(`  ${serial}: ${a.code}: ${a.message}`);
    }
  },
});

