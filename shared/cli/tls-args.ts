// `--ca <file>` (env UPTANE_CA) on every command that talks to a server, and the vehicle's client
// certificate flags: the files are read here, once, and handed down as PEM text in a ClientTlsConfig
// (shared/client/tls-client.ts), so no client module reads the process or the file system for them.
import { readFileSync } from 'node:fs';
import type { Options } from 'yargs';
import { checkClientTlsConfig, type ClientTlsConfig } from '../client/tls-client.js';
import { TlsConfigurationError } from '../core/errors.js';
import type { CliEnvironment } from './environment.js';

/** The environment variable --ca defaults to. */
export const CA_ENV = 'UPTANE_CA';

/** The yargs option `--ca`, defaulting to $UPTANE_CA. */
export function caOption(io: CliEnvironment, what = 'the server'): Options {
  return {
    type: 'string',
    requiresArg: true,
    default: nonEmpty(io.env[CA_ENV]),
    defaultDescription: `$${CA_ENV}`,
    describe: `CA certificate (PEM) that ${what}'s TLS certificate must be issued by; with it only https:// URLs are used (env ${CA_ENV})`,
  };
}

/** The TLS settings of a client from the CA file an option names: undefined without one (plain or system-trusted https). */
export function clientTlsFromFiles(files: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined }, options = { ca: '--ca', cert: '--client-cert', key: '--client-key' }): ClientTlsConfig | undefined {
  const ca = files.ca === undefined ? undefined : readPem(files.ca, options.ca);
  const cert = files.cert === undefined ? undefined : readPem(files.cert, options.cert);
  const key = files.key === undefined ? undefined : readPem(files.key, options.key);
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  const config: ClientTlsConfig = { ca, cert, key };
  try {
    checkClientTlsConfig(config);
  } catch (err) {
    if (!(err instanceof TlsConfigurationError)) throw err;
    const named = [files.ca === undefined ? '' : `${options.ca} ${files.ca}`, files.cert === undefined ? '' : `${options.cert} ${files.cert}`, files.key === undefined ? '' : `${options.key} ${files.key}`]
      .filter((s) => s !== '')
      .join(', ');
    throw new TlsConfigurationError(`${named}: ${err.message}`, { cause: err });
  }
  return config;
}

/** A URL given with --ca must be https: the CA would otherwise be silently unused. */
export function checkTlsUrl(url: string, option: string, tls: ClientTlsConfig | undefined, caOptionName = '--ca'): void {
  if (tls !== undefined && !url.startsWith('https://')) {
    throw new TlsConfigurationError(`${option} ${url}: ${caOptionName} is given, so the server is reached over TLS only; give its https:// URL`);
  }
}

function readPem(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsConfigurationError(`${option} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
