// The serve commands' transparency log options (docs/transparency-log.md "Server routes"): --log-key
// turns the log on, --log-witness-key names each witness whose cosignatures the server accepts,
// --log-file and --log-name override the defaults. Without --log-key the server keeps no log and
// behaves exactly as before.
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { BadRequestError } from '../core/errors.js';
import { loadPrivateKey, loadPublicKey } from '../files/key-files.js';
import type { ServerLogConfig } from '../transparency/server-log.js';

export interface TransparencyLogArgs {
  readonly logKey?: string | undefined;
  readonly logWitnessKey?: string[] | undefined;
  readonly logFile?: string | undefined;
  readonly logName?: string | undefined;
}

/** Adds the options to a serve command; `defaultName` is the log's name when --log-name is absent. */
export function withTransparencyLogOptions<T>(yargs: Argv<T>, command: string, defaultName: string): Argv<T & TransparencyLogArgs> {
  return yargs
    .option('log-key', {
      type: 'string',
      requiresArg: true,
      describe: 'keep a transparency log of every metadata version published, served at /log, its tree heads signed with this private key file (PEM; `uptane keys generate`)',
    })
    .option('log-witness-key', {
      type: 'string',
      array: true,
      requiresArg: true,
      describe: "a witness's public key file: its cosignatures of the log's tree heads are accepted (POST /log/tree-head/cosignature) and served with the head; repeat for each witness",
    })
    .option('log-file', { type: 'string', requiresArg: true, describe: 'the log\'s SQLite file (default <data-dir>/transparency-log.sqlite)' })
    .option('log-name', { type: 'string', requiresArg: true, describe: `the log's name, signed into every tree head (default "${defaultName}")` })
    .example(`$0 ${command} --log-key keys/log.pem --log-witness-key witness-1.pub`, 'keep a transparency log signed with log.pem, cosigned by one witness') as unknown as Argv<T & TransparencyLogArgs>;
}

/** The server's log configuration, or undefined without --log-key; a log option without it is refused. */
export function transparencyLogFrom(argv: TransparencyLogArgs): ServerLogConfig | undefined {
  if (argv.logKey === undefined) {
    const stray = (argv.logWitnessKey ?? []).length > 0 ? '--log-witness-key' : argv.logFile !== undefined ? '--log-file' : argv.logName !== undefined ? '--log-name' : undefined;
    if (stray !== undefined) throw new BadRequestError(`${stray} needs --log-key: give the log's private key file to keep a transparency log`);
    return undefined;
  }
  return {
    signer: loadPrivateKey(resolve(argv.logKey)),
    witnessKeys: (argv.logWitnessKey ?? []).map((file) => loadPublicKey(resolve(file))),
    ...(argv.logFile === undefined ? {} : { file: resolve(argv.logFile) }),
    ...(argv.logName === undefined ? {} : { name: argv.logName }),
  };
}
