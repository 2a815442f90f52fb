// The `uptane vehicle provision` options that make a primary require the Image repository's
// transparency log (primary-ecu/log-check.ts, docs/transparency-log.md "Vehicles requiring inclusion
// proofs"), checked before anything is written.
import type { Options } from 'yargs';
import { UptaneError } from '../shared/core/errors.js';
import { loadPublicKey } from '../shared/files/key-files.js';
import { IMAGE_LOG_NAME } from '../shared/transparency/server-log.js';
import { checkImageLogPolicy, type ImageLogPolicy } from '../primary-ecu/log-check.js';

export interface ImageLogArgs {
  readonly imageLogKey?: string | undefined;
  readonly imageLogName: string;
  readonly logWitnessKey: string[];
  readonly logWitnessThreshold?: number | undefined;
  readonly logMaxAge: number;
}

/** One day: a log signs a head at least after every publication, and its server re-signs the head it serves. */
export const DEFAULT_LOG_MAX_AGE_SECONDS = 86_400;

export const imageLogOptions: Record<string, Options> = {
  'image-log-key': {
    type: 'string',
    requiresArg: true,
    describe: "the Image log's public key (PEM or TUF JSON): the primary then installs only from Image targets the log holds, proved at a head signed by this key (off unless given)",
  },
  'image-log-name': { type: 'string', default: IMAGE_LOG_NAME, requiresArg: true, describe: 'the name the Image log signs into its heads' },
  'log-witness-key': { type: 'string', array: true, default: [] as string[], requiresArg: true, describe: "a witness's public key whose cosignature of the Image log's head counts; repeat for each" },
  'log-witness-threshold': { type: 'number', requiresArg: true, describe: 'cosignatures of --log-witness-key required on a head (default 1 with witness keys, else 0)' },
  'log-max-age': { type: 'number', default: DEFAULT_LOG_MAX_AGE_SECONDS, requiresArg: true, describe: 'the oldest Image log head accepted, in seconds (a log frozen in the past is refused)' },
};

/** The policy the options describe, or undefined without --image-log-key; an Error saying what to fix for anything else. */
export function imageLogPolicyFromArgs(args: ImageLogArgs): ImageLogPolicy | undefined {
  if (args.imageLogKey === undefined) {
    if (args.logWitnessKey.length > 0 || args.logWitnessThreshold !== undefined) throw new Error('--log-witness-key and --log-witness-threshold need --image-log-key: the log whose heads the witnesses cosign');
    return undefined;
  }
  const read = (path: string, option: string) => {
    try {
      return loadPublicKey(path).tuf;
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      throw new Error(`${option} ${path}: ${err.message}; give the public key file the log's operator (or the witness) publishes`, { cause: err });
    }
  };
  const policy: ImageLogPolicy = {
    log: args.imageLogName,
    logKey: read(args.imageLogKey, '--image-log-key'),
    witnessKeys: args.logWitnessKey.map((k) => read(k, '--log-witness-key')),
    witnessThreshold: args.logWitnessThreshold ?? (args.logWitnessKey.length > 0 ? 1 : 0),
    maxAgeSeconds: args.logMaxAge,
  };
  try {
    checkImageLogPolicy(policy);
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    throw new Error(`${err.message}: check --image-log-key, --log-witness-key, --log-witness-threshold and --log-max-age`, { cause: err });
  }
  return policy;
}
