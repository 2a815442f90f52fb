// `uptane director serve --mqtt URL`: the options that bridge a Director to an MQTT broker
// (director-mqtt.ts), read here so director-repo/cli.ts gains three lines. The password comes from
// an environment variable, never the command line, where any user of the host could read it.
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { CliEnvironment } from '../../shared/cli/environment.js';
import type { DirectorMqttOptions } from './director-mqtt.js';

export interface MqttServeArgs {
  readonly mqtt?: string | undefined;
  readonly mqttPasswordEnv: string;
  readonly mqttCa?: string | undefined;
}

export const DEFAULT_MQTT_PASSWORD_ENV = 'UPTANE_MQTT_PASSWORD';

export function withMqttServeOptions<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & MqttServeArgs> {
  return yargs
    .option('mqtt', {
      type: 'string',
      requiresArg: true,
      default: io.env.UPTANE_DIRECTOR_MQTT,
      describe: 'also answer vehicles over MQTT 5 through this broker, e.g. mqtts://director@broker.example:8883 (docs/transport.md "MQTT"); replicas share the requests (env UPTANE_DIRECTOR_MQTT)',
    })
    .option('mqtt-password-env', { type: 'string', default: DEFAULT_MQTT_PASSWORD_ENV, describe: "the environment variable holding the Director's broker password" })
    .option('mqtt-ca', { type: 'string', requiresArg: true, describe: "the CA (PEM) the broker's certificate must chain to (mqtts://)" })
    // Async so the MQTT client library loads only when --mqtt is given, not for every
    // `uptane director ...` command and --help.
    .check(async (argv) => {
      if (argv.mqtt !== undefined) (await import('../../shared/transport-mqtt/mqtt-connection.js')).checkBrokerUrl(argv.mqtt as string, '--mqtt');
      return true;
    })
    .example('UPTANE_MQTT_PASSWORD=... $0 director serve --mqtt mqtts://director@broker.example:8883 --mqtt-ca pki/ca.pem', 'vehicles provisioned with --transport mqtts://... reach this Director through the broker') as unknown as Argv<T & MqttServeArgs>;
}

/** The bridge options the flags ask for, or undefined without --mqtt. */
export function mqttOptionsFrom(argv: MqttServeArgs, io: CliEnvironment): Omit<DirectorMqttOptions, 'log'> | undefined {
  if (argv.mqtt === undefined) return undefined;
  const password = io.env[argv.mqttPasswordEnv];
  let ca: string | undefined;
  if (argv.mqttCa !== undefined) {
    try {
      ca = readFileSync(argv.mqttCa, 'utf8');
    } catch (err) {
      throw new Error(`--mqtt-ca ${argv.mqttCa}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; give the CA certificate (PEM) the broker's certificate chains to`, { cause: err });
    }
  }
  return { broker: { url: argv.mqtt, ...(password === undefined || password === '' ? {} : { password }), ...(ca === undefined ? {} : { ca }) } };
}
