// `uptane vehicle register`, and the registration `uptane vehicle provision --register` sends: the
// vehicle folder's registration.json POSTed to the Director's operator API with an operator token.
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { DEFAULT_TOKEN_ENV, OperatorClient } from '../director-repo/operator-client.js';
import { registerOnce } from '../director-repo/registration-client.js';
import type { ClientTlsConfig } from '../shared/client/tls-client.js';
import { readFileOrExplain } from './cli-args.js';
import { loadVehicleConfig, loadVehicleTls, VEHICLE_FILES } from './folder.js';
import type { VehicleRegistrationBody } from './provision.js';

/** The operator token from the environment variable `name`; tokens are never arguments (they would show in `ps`). */
export function operatorToken(io: CliEnvironment, name: string): string {
  const token = io.env[name];
  if (token === undefined || token === '') {
    throw new Error(
      `environment variable ${name} is ${token === undefined ? 'not set' : 'empty'}: put the operator token in it ` +
        '(`uptane director operator add NAME` on the Director host prints one), or leave out --register and hand the printed registration to an operator',
    );
  }
  return token;
}

/**
 * POST /api/v1/vehicles through the operator API client; a refusal keeps the Director's code. The
 * same registration a second time is "unchanged"; a refusal over an ECU serial or key another vehicle
 * holds names that vehicle (registration-client.ts), never a `vehicle show` of this unregistered VIN.
 */
export async function registerVehicle(
  directorUrl: string,
  token: string,
  tokenEnv: string,
  registration: VehicleRegistrationBody,
  urlSource: string,
  tls?: ClientTlsConfig,
): Promise<'registered' | 'unchanged'> {
  const client = new OperatorClient(directorUrl, token, tokenEnv, urlSource, tls);
  try {
    const ecus = registration.ecus.map((ecu) => ({ ...ecu, primary: ecu.primary === true }));
    return (await registerOnce(client, { ...registration, ecus })).result;
  } finally {
    client.close();
  }
}

interface RegisterArgs {
  readonly dir: string;
  readonly operatorTokenEnv: string;
}

export const registerCommand = (io: CliEnvironment): CommandModule<object, RegisterArgs> => ({
  command: 'register',
  describe: 'register a provisioned vehicle with its Director through the operator API (when provision ran without --register)',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle folder' })
      .option('operator-token-env', { type: 'string', default: DEFAULT_TOKEN_ENV, requiresArg: true, describe: 'environment variable holding the operator token' })
      .example('UPTANE_OPERATOR_TOKEN=... $0 vehicle register --dir car1', 'POSTs car1/registration.json to the Director') as unknown as Argv<RegisterArgs>,
  handler: async (argv) => {
    const dir = resolve(argv.dir);
    const config = loadVehicleConfig(dir);
    const token = operatorToken(io, argv.operatorTokenEnv);
    const registration = JSON.parse(readFileOrExplain(join(dir, VEHICLE_FILES.registration), '--dir').toString('utf8')) as VehicleRegistrationBody;
    // The operator API needs no client certificate; the vehicle's CA is what the Director's certificate chains to.
    const ca = loadVehicleTls(dir, config)?.ca;
    const result = await registerVehicle(config.directorUrl, token, argv.operatorTokenEnv, registration, `the Director URL in ${join(dir, VEHICLE_FILES.config)}`, ca === undefined ? undefined : { ca });
    io.print(`${result === 'registered' ? 'registered' : 'already registered (unchanged):'} vehicle ${config.vin} (${registration.ecus.length} ECUs) with the Director at ${config.directorUrl}`);
  },
});
