// The TLS flags of `uptane director serve` and `uptane image serve`: --tls-cert, --tls-key,
// --client-ca, --tls-min-version and --insecure-http, each with an environment variable under the
// server's prefix, turned into the server's TlsServerConfig; and the rule that plain HTTP stays on
// loopback unless the operator says otherwise (docs/decisions.md "TLS").
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { checkPlainHttpAllowed, isLoopbackHost, type TlsServerConfig } from '../server/tls.js';
import type { CliEnvironment } from './environment.js';

export interface ServeTlsArgs {
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly clientCa?: string | undefined;
  readonly tlsMinVersion: '1.3' | '1.2';
  readonly insecureHttp: boolean;
}

/** Adds the TLS flags; `envPrefix` is the server's (UPTANE_DIRECTOR, UPTANE_IMAGE). */
export function withServeTlsOptions<T>(yargs: Argv<T>, io: CliEnvironment, envPrefix: string, clientCaUse: string): Argv<T & ServeTlsArgs> {
  const env = (name: string): string | undefined => {
    const value = io.env[`${envPrefix}_${name}`];
    return value === undefined || value === '' ? undefined : value;
  };
  return yargs
    .option('tls-cert', {
      type: 'string',
      requiresArg: true,
      default: env('TLS_CERT'),
      describe: `serve HTTPS with this certificate (PEM, chain after it); SIGHUP re-reads it and --tls-key (env ${envPrefix}_TLS_CERT)`,
    })
    .option('tls-key', { type: 'string', requiresArg: true, default: env('TLS_KEY'), describe: `private key of --tls-cert (PEM, unencrypted) (env ${envPrefix}_TLS_KEY)` })
    .option('client-ca', { type: 'string', requiresArg: true, default: env('CLIENT_CA'), describe: `CA bundle (PEM) of ${clientCaUse} (env ${envPrefix}_CLIENT_CA)` })
    .option('tls-min-version', {
      choices: ['1.3', '1.2'] as const,
      default: (env('TLS_MIN_VERSION') ?? '1.3') as '1.3' | '1.2',
      describe: `lowest TLS version accepted; 1.2 only for clients that cannot do 1.3 (env ${envPrefix}_TLS_MIN_VERSION)`,
    })
    .option('insecure-http', {
      type: 'boolean',
      default: env('INSECURE_HTTP') === '1',
      describe: `allow plain HTTP on an address other than loopback: tokens, VINs and images then cross the network in clear (env ${envPrefix}_INSECURE_HTTP=1)`,
    })
    .check((argv) => {
      const cert = argv['tls-cert'] as string | undefined;
      const key = argv['tls-key'] as string | undefined;
      if ((cert === undefined) !== (key === undefined)) throw new Error('--tls-cert and --tls-key go together: give both, or neither for plain HTTP on loopback');
      if (argv['client-ca'] !== undefined && cert === undefined) throw new Error('--client-ca needs --tls-cert and --tls-key: client certificates exist only over TLS');
      if (String(argv['tls-min-version']) === '1.2' && cert === undefined) throw new Error('--tls-min-version needs --tls-cert and --tls-key');
      if (argv['insecure-http'] === true && cert !== undefined) throw new Error('--insecure-http and --tls-cert contradict each other: pick one');
      return true;
    }) as unknown as Argv<T & ServeTlsArgs>;
}

/**
 * The server's TLS configuration from the flags, or undefined for plain HTTP, which is refused
 * (PlainHttpRefusedError) on an address off loopback without --insecure-http.
 */
export function serveTlsConfig(argv: ServeTlsArgs & { readonly host: string }, command: string): TlsServerConfig | undefined {
  const tls: TlsServerConfig | undefined =
    argv.tlsCert === undefined || argv.tlsKey === undefined
      ? undefined
      : {
          certFile: resolve(argv.tlsCert),
          keyFile: resolve(argv.tlsKey),
          ...(argv.clientCa === undefined ? {} : { clientCaFile: resolve(argv.clientCa) }),
          minVersion: argv.tlsMinVersion === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
        };
  checkPlainHttpAllowed({ host: argv.host, tls: tls !== undefined, insecureHttp: argv.insecureHttp, command });
  return tls;
}

/** One line for the server's start-up log: what it serves and how to reload. */
export function describeServeTls(tls: TlsServerConfig | undefined, host: string, pid: number): string {
  if (tls === undefined) return `plain HTTP on ${host}${isLoopbackHost(host) ? ' (loopback only)' : ' (--insecure-http: tokens, VINs and images cross the network in clear)'}`;
  const min = tls.minVersion === 'TLSv1.2' ? 'TLS 1.2 and 1.3' : 'TLS 1.3';
  const clients = tls.clientCaFile === undefined ? '' : `; client certificates from ${tls.clientCaFile}`;
  return `${min} with ${tls.certFile}${clients}; \`kill -HUP ${pid}\` reloads the certificate files`;
}
