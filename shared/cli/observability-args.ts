// The serve commands' options for logs and metrics: --log-format, --log-level, --metrics and
// --metrics-token-env, turned into the server's ObservabilityOptions and the `log(line)` callback
// its older messages use. Log lines leave through the CLI's own output (cli-output.ts), so only
// cli.ts touches the process's streams (docs/code-style.md R3).
import { Writable } from 'node:stream';
import type { Argv } from 'yargs';
import type { MetricsAccess } from '../server/metrics.js';
import type { ObservabilityOptions } from '../server/observability.js';
import type { LogFormat, Logger } from '../server/request-log.js';
import type { CliEnvironment } from './environment.js';

/**
 * pino's levels, the choices of --log-level. Spelled out here rather than taken from
 * request-log.ts's LOG_LEVELS: importing that module loads pino and pino-pretty, which every
 * `uptane image|director ...` command (and --help) would pay for at start; only
 * observabilityFrom, in a serve handler, loads it. test/cli/lazy-groups.test.ts checks the two lists agree.
 */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export interface ObservabilityArgs {
  readonly logFormat: 'auto' | LogFormat;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly metrics: 'on' | 'off';
  readonly metricsTokenEnv?: string | undefined;
}

/** Adds the options, with examples, to a serve command; `envPrefix` is UPTANE_DIRECTOR or UPTANE_IMAGE. */
export function withObservabilityOptions<T>(yargs: Argv<T>, io: CliEnvironment, envPrefix: string, command: string): Argv<T & ObservabilityArgs> {
  return yargs
    .option('log-format', {
      choices: ['auto', 'json', 'pretty'] as const,
      default: (io.env[`${envPrefix}_LOG_FORMAT`] as 'auto' | 'json' | 'pretty' | undefined) ?? 'auto',
      describe: `log lines as JSON (one per request, for a collector) or pretty (for a terminal); auto: pretty when standard output is a terminal (env ${envPrefix}_LOG_FORMAT)`,
    })
    .option('log-level', {
      choices: LOG_LEVELS,
      default: (io.env[`${envPrefix}_LOG_LEVEL`] as (typeof LOG_LEVELS)[number] | undefined) ?? 'info',
      describe: `least severe level logged: requests are info, server faults (5xx) error (env ${envPrefix}_LOG_LEVEL)`,
    })
    .option('metrics', {
      choices: ['on', 'off'] as const,
      default: 'on' as const,
      describe: 'serve Prometheus metrics at GET /metrics (off: 404)',
    })
    .option('metrics-token-env', {
      type: 'string',
      requiresArg: true,
      describe: 'name of an environment variable holding a secret: GET /metrics then needs Authorization: Bearer <that secret>',
    })
    .example(`METRICS_TOKEN=$(openssl rand -hex 24) $0 ${command} --metrics-token-env METRICS_TOKEN --log-format json`, 'JSON log lines for a collector; /metrics only for a scraper holding the secret')
    .example(`$0 ${command} --log-level warn`, 'only warnings and errors (no line per request)') as unknown as Argv<T & ObservabilityArgs>;
}

/** The server's options from the parsed arguments; throws naming the variable when the metrics secret is missing or short. */
export async function observabilityFrom(argv: ObservabilityArgs, io: CliEnvironment, name: string): Promise<{ observability: ObservabilityOptions; logger: Logger; log: (line: string) => void }> {
  const { createLogger, lineLogger } = await import('../server/request-log.js');
  const format: LogFormat = argv.logFormat === 'auto' ? (io.stdoutIsTerminal === true ? 'pretty' : 'json') : argv.logFormat;
  const logger = createLogger({ format, level: argv.logLevel, name, destination: printedLines(io) });
  return { observability: { logger, metricsAccess: metricsAccessFrom(argv, io) }, logger, log: lineLogger(logger) };
}

/** Shortest metrics secret accepted: a guessable one would open what the option closes. */
const MIN_METRICS_TOKEN_LENGTH = 16;

function metricsAccessFrom(argv: ObservabilityArgs, io: CliEnvironment): MetricsAccess {
  if (argv.metrics === 'off') return { mode: 'off' };
  if (argv.metricsTokenEnv === undefined) return { mode: 'open' };
  const token = io.env[argv.metricsTokenEnv];
  if (token === undefined || token === '') throw new Error(`--metrics-token-env ${argv.metricsTokenEnv}: environment variable ${argv.metricsTokenEnv} is not set; export a secret in it (for example \`export ${argv.metricsTokenEnv}=$(openssl rand -hex 24)\`)`);
  if (token.length < MIN_METRICS_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(`--metrics-token-env ${argv.metricsTokenEnv}: the secret must be at least ${MIN_METRICS_TOKEN_LENGTH} characters without spaces (\`openssl rand -hex 24\` makes one)`);
  }
  return { mode: 'token', token };
}

/** A destination stream for pino that prints each line through the CLI's output (escaped, as every line it prints). */
function printedLines(io: CliEnvironment): Writable {
  // A stream, not just a write(): pino-pretty listens on its destination.
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') io.print(line);
      done();
    },
  });
}
