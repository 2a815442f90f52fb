// `uptane pki ...`: a development PKI in a folder (shared/pki/), so the demo and a test bench run
// over TLS and mutual TLS without openssl: `init` makes the CA, `server` a certificate for the
// Director and the Image repository, `vehicle` a client certificate naming one vehicle and its
// primary ECU. The root cli.ts registers this group (docs/code-style.md R3).
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { createDevCa, issueServerCertificate, issueVehicleCertificate } from '../pki/dev-ca.js';
import { CA_CERT_FILE, loadCa, saveCa, saveIssued, type IssuedFiles } from '../pki/pki-files.js';
import { printJson } from './cli-output.js';
import type { CliEnvironment } from './environment.js';

interface CommonArgs {
  readonly dir: string;
  readonly json: boolean;
  readonly force: boolean;
}

interface InitArgs extends CommonArgs {
  readonly name: string;
  readonly days: number;
}

interface ServerArgs extends CommonArgs {
  readonly host: string[];
  readonly out: string;
  readonly days: number;
}

interface VehicleArgs extends CommonArgs {
  readonly vin: string;
  readonly primary: string;
  readonly out?: string | undefined;
  readonly days: number;
}

function withCommon<T>(yargs: Argv<T>, io: CliEnvironment): Argv<T & CommonArgs> {
  return yargs
    .option('dir', { type: 'string', default: io.env.UPTANE_PKI_DIR ?? 'pki', describe: 'folder of the CA: ca.pem and ca-key.pem (env UPTANE_PKI_DIR)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the written paths and certificate details as JSON' })
    .option('force', { type: 'boolean', default: false, describe: 'replace files that already exist' }) as unknown as Argv<T & CommonArgs>;
}

function days(fallback: number): { type: 'number'; default: number; describe: string } {
  return { type: 'number', default: fallback, describe: 'days the certificate is valid' };
}

function checkDays(argv: { days?: unknown }): true {
  const value = argv.days as number;
  if (!Number.isInteger(value) || value < 1 || value > 36_500) throw new Error(`--days ${String(argv.days)}: give whole days from 1 to 36500`);
  return true;
}

/** What a command prints: the files and the certificate's subject, names and validity. */
function report(io: CliEnvironment, json: boolean, what: string, files: Record<string, string>, certPem: string): void {
  const cert = new X509Certificate(certPem);
  const details = {
    subject: cert.subject.replace(/\n/g, ', '),
    subjectAltName: cert.subjectAltName ?? null,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    fingerprint256: cert.fingerprint256,
  };
  if (json) {
    printJson(io, { ...files, ...details });
    return;
  }
  io.print(`${what}: ${details.subject}${details.subjectAltName === null ? '' : ` (${details.subjectAltName})`}`);
  io.print(`valid ${details.validFrom} to ${details.validTo}, SHA-256 ${details.fingerprint256}`);
  for (const [name, path] of Object.entries(files)) io.print(`${name}: ${path}`);
}

function issuedFiles(files: IssuedFiles): Record<string, string> {
  return { certFile: files.certFile, keyFile: files.keyFile, caFile: files.caFile };
}

const initCommand = (io: CliEnvironment): CommandModule<object, InitArgs> => ({
  command: 'init',
  describe: 'create a development CA (ECDSA P-256) in --dir: ca.pem, and ca-key.pem (0600)',
  builder: (yargs) =>
    withCommon(yargs, io)
      .option('name', { type: 'string', default: 'Uptane development CA', describe: 'common name of the CA' })
      .option('days', days(3650))
      .check(checkDays)
      .example('$0 pki init --dir pki', 'pki/ca.pem and pki/ca-key.pem')
      .epilogue('For development and tests. Keep ca-key.pem off the servers: it signs every certificate they and the vehicles trust.') as unknown as Argv<InitArgs>,
  handler: async (argv) => {
    const dir = resolve(argv.dir);
    const ca = await createDevCa({ commonName: argv.name, validDays: argv.days });
    const files = saveCa(dir, ca, { force: argv.force });
    report(io, argv.json, 'CA', { ...files }, ca.certPem);
  },
});

const serverCommand = (io: CliEnvironment): CommandModule<object, ServerArgs> => ({
  command: 'server',
  describe: 'issue a TLS server certificate for the Director or the Image repository',
  builder: (yargs) =>
    withCommon(yargs, io)
      .option('host', { type: 'string', array: true, demandOption: true, requiresArg: true, describe: 'DNS name or IP address clients use to reach the server; repeat for each' })
      .option('out', { type: 'string', requiresArg: true, default: undefined, describe: 'folder for cert.pem, key.pem (0600) and ca.pem; default <dir>/server' })
      .option('days', days(365))
      .check(checkDays)
      .example('$0 pki server --dir pki --host 127.0.0.1 --host localhost --out pki/server', 'then: uptane director serve --tls-cert pki/server/cert.pem --tls-key pki/server/key.pem')
      .epilogue('Clients check the name in the URL against these names: give every name and address they use.') as unknown as Argv<ServerArgs>,
  handler: async (argv) => {
    const dir = resolve(argv.dir);
    const ca = loadCa(dir);
    const issued = await issueServerCertificate(ca, { hostnames: argv.host, validDays: argv.days });
    const files = saveIssued(resolve(argv.out ?? `${dir}/server`), issued, ca.certPem, { force: argv.force });
    report(io, argv.json, 'server certificate', issuedFiles(files), issued.certPem);
  },
});

const vehicleCommand = (io: CliEnvironment): CommandModule<object, VehicleArgs> => ({
  command: 'vehicle',
  describe: "issue a vehicle's client certificate for mutual TLS: subject CN=<vin>, URI urn:uptane:vehicle:<vin>:primary:<serial>",
  builder: (yargs) =>
    withCommon(yargs, io)
      .option('vin', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle identification number' })
      .option('primary', { type: 'string', demandOption: true, requiresArg: true, describe: "the primary ECU's serial, as registered with the Director" })
      .option('out', { type: 'string', requiresArg: true, describe: 'folder for cert.pem, key.pem (0600) and ca.pem; default <dir>/vehicles/<vin>' })
      .option('days', days(365))
      .check(checkDays)
      .example('$0 pki vehicle --dir pki --vin VIN0001 --primary primary-1 --out pki/vehicles/VIN0001', 'the files `uptane vehicle provision` takes as --client-cert, --client-key and --ca')
      .epilogue('The Director accepts the certificate only for the vehicle and primary ECU it names.') as unknown as Argv<VehicleArgs>,
  handler: async (argv) => {
    const dir = resolve(argv.dir);
    const ca = loadCa(dir);
    const issued = await issueVehicleCertificate(ca, { vin: argv.vin, primarySerial: argv.primary, validDays: argv.days });
    const files = saveIssued(resolve(argv.out ?? `${dir}/vehicles/${argv.vin}`), issued, ca.certPem, { force: argv.force });
    report(io, argv.json, 'vehicle certificate', issuedFiles(files), issued.certPem);
  },
});

/** The `pki` command group, for the root CLI: `.command(pkiCommand(io))`. */
export const pkiCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'pki',
  describe: 'a development PKI: a CA, TLS server certificates, vehicle client certificates',
  builder: (yargs) =>
    yargs
      .command(initCommand(io))
      .command(serverCommand(io))
      .command(vehicleCommand(io))
      .example('$0 pki init --dir pki', `the CA: pki/${CA_CERT_FILE} and pki/ca-key.pem`)
      .demandCommand(1, 'name a pki subcommand: init, server or vehicle'),
  handler: () => undefined,
});
