// `uptane vehicle ...`: the integration-test engineer's commands for one vehicle kept in a folder:
// provision it (keys for every ECU, trusted roots, factory images, registration with the Director),
// run update cycles, flip the parked/driving state, and show each ECU's status. The secondaries are
// reached through LocalSecondaryHost (in-process, from the folder) or over HTTP; the root cli.ts
// hands the host over, because the primary never imports the secondary component (DESIGN.md).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../shared/core/crypto/keys.js';
import { FetchError, OperatorRequestError, StorageError, UptaneError } from '../shared/core/errors.js';
import { escapeTerminalText } from '../shared/util/terminal-text.js';
import { printJson, table } from '../shared/cli/cli-output.js';
import { writeFileAtomic } from '../shared/files/fs-atomic.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import type { ReportedAttack } from '../shared/uptane/manifest.js';
import { formatExpires } from '../shared/core/metadata/parse.js';
import { takePidLock } from '../shared/files/pid-lock.js';
import { HttpSecondaryClient, type SecondaryTransport } from '../shared/ecu/secondary-protocol.js';
import { TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';
import {
  loadVehicleConfig,
  slotStatus,
  VEHICLE_FILES,
  vehicleStatePath,
  type EcuFolderStatus,
  type LocalSecondaryHost,
  type VehicleConfig,
} from '../shared/vehicle-folder.js';
import { FileVehicleState, type DrivingState } from '../shared/ecu/vehicle-state.js';
import { parseDuration } from '../shared/workspace/duration.js';
import { Primary, type CycleResult, type PrimaryIdentity, type PrimaryState } from './primary.js';

const DEFAULT_TOKEN_ENV = 'UPTANE_OPERATOR_TOKEN';
const DEFAULT_INTERVAL = '30s';
const REQUEST_TIMEOUT_MS = 30_000;
/** The Director's own rules (director-repo), checked here so a typo fails before any key is made. */
const VIN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Like the Director's, without ':' (the separator of --primary and --secondary). */
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

export interface VehicleCommandDeps {
  /** Secondaries in folders of the vehicle (the secondary component's implementation). */
  readonly secondaries: LocalSecondaryHost;
  /** More `uptane vehicle` subcommands from other components, e.g. `secondary serve`. */
  readonly commands?: ReadonlyArray<CommandModule<object, object>>;
}

// ---------------------------------------------------------------------------------------------
// Small helpers.


function checkHttpUrl(value: string, option: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${option} ${JSON.stringify(value)} is not a URL: write it like http://127.0.0.1:8082`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${option} ${value}: use an http:// or https:// URL`);
  return value.replace(/\/+$/, '');
}

function readFileOrExplain(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${option} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** The vehicle-wide parked/driving state of the vehicle folder `dir`. */
const vehicleState = (dir: string) => new FileVehicleState(vehicleStatePath(dir));

// ---------------------------------------------------------------------------------------------
// provision

interface EcuSpec {
  readonly serial: string;
  readonly hardwareId: string;
  readonly verification: 'partial' | 'full';
}

/** `serial:hardwareId` (primary) or `serial:hardwareId[:full|:partial]` (secondary). */
export function parseEcuSpec(spec: string, option: '--primary' | '--secondary'): EcuSpec {
  const parts = spec.split(':');
  const shape = option === '--primary' ? 'serial:hardwareId' : 'serial:hardwareId[:full]';
  let verification: 'partial' | 'full' = 'partial';
  if (option === '--secondary' && parts.length === 3) {
    const mode = parts.pop();
    if (mode !== 'full' && mode !== 'partial') throw new Error(`${option} ${spec}: the third part must be full or partial (the verification the secondary does), as in ${shape}`);
    verification = mode;
  }
  if (parts.length !== 2) throw new Error(`${option} ${spec}: write ${shape}, e.g. ${option === '--primary' ? 'tcu-1:tcu-a' : 'ecm-1:ecm-x1 or abs-1:abs-z:full'}`);
  const [serial, hardwareId] = parts as [string, string];
  for (const [what, value] of [['serial', serial], ['hardware id', hardwareId]] as const) {
    if (!NAME_PATTERN.test(value)) throw new Error(`${option} ${spec}: the ${what} ${JSON.stringify(value)} must be 1-128 letters, digits, '.', '_' or '-'`);
  }
  return { serial, hardwareId, verification };
}

interface ProvisionArgs {
  readonly dir: string;
  readonly vin: string;
  readonly primary: string;
  readonly secondary: string[];
  readonly directorUrl: string;
  readonly imageUrl: string;
  readonly directorRoot: string;
  readonly imageRoot: string;
  readonly register: boolean;
  readonly operatorTokenEnv: string;
  readonly json: boolean;
}

interface RegistrationBody {
  readonly vin: string;
  readonly ecus: ReadonlyArray<{ serial: string; hardwareId: string; publicKey: string; primary: boolean }>;
}

function operatorToken(io: CliEnvironment, name: string): string {
  const token = io.env[name];
  if (token === undefined || token === '') {
    throw new Error(
      `environment variable ${name} is ${token === undefined ? 'not set' : 'empty'}: put the operator token in it ` +
        '(`uptane director operator add NAME` on the Director host prints one), or leave out --register and hand the printed registration to an operator',
    );
  }
  return token;
}

/** POST /api/v1/vehicles with the operator token; a refusal keeps the Director's code. */
async function registerWithDirector(directorUrl: string, token: string, tokenEnv: string, body: RegistrationBody): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${directorUrl}/api/v1/vehicles`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new FetchError(`cannot reach the Director at ${directorUrl} (${cause?.code ?? (err as Error).message}): is it running, and is the Director URL right?`, { cause: err });
  }
  if (response.ok) {
    await response.arrayBuffer();
    return;
  }
  const text = await response.text();
  let code = `http_${response.status}`;
  let message = text.slice(0, 300);
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message === 'string') message = error.message;
  } catch {
    // Not our Director's JSON error: the raw text (cut short) says more than nothing.
  }
  const hint =
    response.status === 401
      ? `; the token in ${tokenEnv} was not accepted: check it, or create one with \`uptane director operator add NAME\` on the Director host`
      : code === 'conflict'
        ? `; \`uptane director vehicle show ${body.vin}\` shows what is registered`
        : '';
  // The Director's words are quoted escaped: only this CLI's own hints may break the line (docs/threat-model.md HR-6).
  throw new OperatorRequestError(
    `the Director refused to register vehicle ${body.vin}: ${escapeTerminalText(message)} [${escapeTerminalText(code)}, HTTP ${response.status}]${hint}`,
    response.status,
    code,
  );
}

async function provision(io: CliEnvironment, host: LocalSecondaryHost, args: ProvisionArgs): Promise<void> {
  // Everything is checked before the first file is written.
  if (!VIN_PATTERN.test(args.vin)) throw new Error(`--vin ${JSON.stringify(args.vin)}: a VIN is 1-64 letters, digits, '_' or '-'`);
  const primary = parseEcuSpec(args.primary, '--primary');
  const secondaries = args.secondary.map((s) => parseEcuSpec(s, '--secondary'));
  const serials = [primary.serial, ...secondaries.map((s) => s.serial)];
  const twice = serials.find((s, i) => serials.indexOf(s) !== i);
  if (twice !== undefined) throw new Error(`ECU serial ${twice} is given twice: every ECU of a vehicle needs its own serial`);
  const directorUrl = checkHttpUrl(args.directorUrl, '--director-url');
  const imageRepoUrl = checkHttpUrl(args.imageUrl, '--image-url');
  const now = systemClock.now();
  const roots = {} as Record<'director' | 'image', { bytes: Buffer; version: number }>;
  for (const [repository, file, option] of [['director', args.directorRoot, '--director-root'], ['image', args.imageRoot, '--image-root']] as const) {
    const bytes = readFileOrExplain(file, option);
    let set: TrustedMetadataSet;
    try {
      // The root an ECU starts from must carry a threshold of its own keys' signatures (it may be expired).
      set = new TrustedMetadataSet(bytes, now, { repository, backend: nodeBackend });
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      throw new Error(`${option} ${file} is not a root this vehicle can trust: ${err.message} [${err.code}]; give the repository's signed N.root.json`, { cause: err });
    }
    roots[repository] = { bytes, version: set.root.signed.version };
  }
  const token = args.register ? operatorToken(io, args.operatorTokenEnv) : undefined;
  const dir = resolve(args.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`${dir} already exists and is not empty: a vehicle is provisioned into a new folder (its ECU keys live there); pick another --dir`);
  }

  const keys = new Map(serials.map((serial) => [serial, PrivateKey.generate()]));
  const factoryImage = (ecu: EcuSpec) => ({ filename: `factory/${ecu.hardwareId}.bin`, content: Buffer.from(`factory image of ${ecu.hardwareId}\n`) });
  const registration: RegistrationBody = {
    vin: args.vin,
    ecus: [primary, ...secondaries].map((ecu, i) => ({ serial: ecu.serial, hardwareId: ecu.hardwareId, publicKey: keys.get(ecu.serial)!.publicKey.tuf.keyval.public, primary: i === 0 })),
  };
  const config: VehicleConfig = {
    vin: args.vin,
    primary: { serial: primary.serial, hardwareId: primary.hardwareId },
    secondaries: secondaries.map((s) => ({ serial: s.serial, hardwareId: s.hardwareId, verification: s.verification })),
    directorUrl,
    imageRepoUrl,
    provisionedAt: formatExpires(now),
  };
  const created = !existsSync(dir);
  try {
    mkdirSync(dir, { recursive: true });
    for (const ecu of secondaries) {
      host.provision(join(dir, ecu.serial), {
        serial: ecu.serial,
        hardwareId: ecu.hardwareId,
        vin: args.vin,
        verification: ecu.verification,
        key: keys.get(ecu.serial)!,
        directorRoot: roots.director.bytes,
        imageRoot: roots.image.bytes,
        factoryImage: factoryImage(ecu),
      });
    }
    Primary.provision(join(dir, primary.serial), {
      vin: args.vin,
      serial: primary.serial,
      hardwareId: primary.hardwareId,
      directorUrl,
      imageRepoUrl,
      secondaries: Object.fromEntries(secondaries.map((s) => [s.serial, { hardwareId: s.hardwareId, publicKey: keys.get(s.serial)!.publicKey.tuf.keyval.public }])),
      key: keys.get(primary.serial)!,
      directorRoot: roots.director.bytes,
      imageRoot: roots.image.bytes,
      factoryImage: factoryImage(primary),
    });
    writeFileAtomic(join(dir, VEHICLE_FILES.registration), Buffer.from(`${JSON.stringify(registration, null, 2)}\n`));
    // A vehicle leaves the factory parked; until this file exists every ECU treats it as driving.
    vehicleState(dir).set('parked');
    // Written last: a folder without it is an unfinished provisioning, not a vehicle.
    writeFileAtomic(join(dir, VEHICLE_FILES.config), Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
  } catch (err) {
    if (created) rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  let registered = false;
  let registerError: Error | undefined;
  if (token !== undefined) {
    try {
      await registerWithDirector(directorUrl, token, args.operatorTokenEnv, registration);
      registered = true;
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      registerError = err;
    }
  }

  if (args.json) {
    printJson(io, { dir, vin: args.vin, registered, config, registration });
  } else {
    io.print(`provisioned vehicle ${args.vin} in ${dir}`);
    for (const line of table(
      ['ECU', 'role', 'hardware id', 'verification', 'keyid', 'factory image'],
      [primary, ...secondaries].map((ecu, i) => [
        ecu.serial,
        i === 0 ? 'primary' : 'secondary',
        ecu.hardwareId,
        i === 0 ? 'full' : ecu.verification,
        keys.get(ecu.serial)!.keyid.slice(0, 12),
        factoryImage(ecu).filename,
      ]),
    )) {
      io.print(`  ${line}`);
    }
    io.print(`trusted roots: Director root v${roots.director.version}, Image repository root v${roots.image.version}`);
    io.print(`ECU keys: <dir>/<serial>/ecu-key.pem (mode 0600); vehicle state: parked`);
    if (registered) {
      io.print(`registered with the Director at ${directorUrl}`);
    } else if (registerError === undefined) {
      io.print(`not registered yet: a Director operator registers it with this body (POST /api/v1/vehicles; also in ${join(dir, VEHICLE_FILES.registration)}):`);
      printJson(io, registration);
      io.print(`or: uptane director vehicle register --vin ${args.vin} ${registration.ecus.map((e) => `--ecu ${e.serial}:${e.hardwareId}:${e.publicKey}${e.primary ? ':primary' : ''}`).join(' ')}`);
      io.print(`or, with an operator token in ${DEFAULT_TOKEN_ENV}: uptane vehicle register --dir ${args.dir}`);
    }
    if (registerError === undefined) io.print(`next: uptane vehicle run --dir ${args.dir} --once`);
  }
  if (registerError !== undefined) {
    throw new Error(`${registerError.message}\nthe vehicle folder ${dir} is provisioned; once the cause is fixed, register it with \`uptane vehicle register --dir ${args.dir}\``, {
      cause: registerError,
    });
  }
}

const provisionCommand = (io: CliEnvironment, deps: VehicleCommandDeps): CommandModule<object, ProvisionArgs> => ({
  command: 'provision',
  describe: 'provision a vehicle at the "factory": ECU keys, trusted roots, factory images and config in a new folder; optionally register it with the Director',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'new folder for the vehicle (must not exist or be empty)' })
      .option('vin', { type: 'string', demandOption: true, requiresArg: true, describe: 'vehicle identification number' })
      .option('primary', { type: 'string', demandOption: true, requiresArg: true, describe: 'the primary ECU as serial:hardwareId' })
      .option('secondary', {
        type: 'string',
        array: true,
        default: [] as string[],
        requiresArg: true,
        describe: 'a secondary ECU as serial:hardwareId[:full] (partial verification unless :full); repeat for each',
      })
      .option('director-url', { type: 'string', demandOption: true, requiresArg: true, describe: 'URL of the Director (env UPTANE_DIRECTOR_URL)', default: io.env.UPTANE_DIRECTOR_URL })
      .option('image-url', { type: 'string', demandOption: true, requiresArg: true, describe: 'URL of the Image repository (env UPTANE_IMAGE_REPO_URL)', default: io.env.UPTANE_IMAGE_REPO_URL })
      .option('director-root', { type: 'string', demandOption: true, requiresArg: true, describe: "the Director's signed root metadata (e.g. 1.root.json) the ECUs start trusting" })
      .option('image-root', { type: 'string', demandOption: true, requiresArg: true, describe: "the Image repository's signed root metadata the ECUs start trusting" })
      .option('register', { type: 'boolean', default: false, describe: 'register the vehicle with the Director through the operator API (needs an operator token)' })
      .option('operator-token-env', {
        type: 'string',
        default: DEFAULT_TOKEN_ENV,
        requiresArg: true,
        describe: 'environment variable holding the operator token for --register (never pass a token as an argument)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print {dir, vin, registered, config, registration} as JSON' })
      .example(
        '$0 vehicle provision --dir car1 --vin VIN0001 --primary tcu-1:tcu-a --secondary ecm-1:ecm-x1 --secondary abs-1:abs-z:full --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root director-1.root.json --image-root image-1.root.json --register',
        'a vehicle with two secondaries, registered with the token in $UPTANE_OPERATOR_TOKEN',
      )
      .example('$0 vehicle provision --dir car2 --vin VIN0002 --primary tcu-1:tcu-a ... (no --register)', 'prints the registration JSON to hand to a Director operator')
      .epilogue(
        'The folder holds one sub-folder per ECU (its key as 0600 PKCS#8 PEM, trusted roots, A/B slots with a factory image), vehicle.json, registration.json (public keys only) and the vehicle state (parked).',
      ) as unknown as Argv<ProvisionArgs>,
  handler: (argv) => provision(io, deps.secondaries, argv),
});

// ---------------------------------------------------------------------------------------------
// register

interface RegisterArgs {
  readonly dir: string;
  readonly operatorTokenEnv: string;
}

const registerCommand = (io: CliEnvironment): CommandModule<object, RegisterArgs> => ({
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
    const registration = JSON.parse(readFileOrExplain(join(dir, VEHICLE_FILES.registration), '--dir').toString('utf8')) as RegistrationBody;
    await registerWithDirector(config.directorUrl, token, argv.operatorTokenEnv, registration);
    io.print(`registered vehicle ${config.vin} (${registration.ecus.length} ECUs) with the Director at ${config.directorUrl}`);
  },
});

// ---------------------------------------------------------------------------------------------
// run

interface RunArgs {
  readonly dir: string;
  readonly once: boolean;
  readonly interval?: string | undefined;
  readonly secondaryUrl: string[];
  readonly json: boolean;
}

/** The last cycle, kept in the vehicle folder for `status`. */
interface LastCycle {
  readonly at: string;
  readonly status: CycleResult['status'];
  readonly manifestSent: boolean;
  readonly error?: { readonly code: string; readonly message: string };
  readonly outcomes: CycleResult['outcomes'];
  readonly pending: ReadonlyArray<{ readonly ecuSerial: string; readonly filename: string }>;
}

/** `serial=URL` pairs, each naming a secondary of this vehicle. */
function parseSecondaryUrls(specs: readonly string[], config: VehicleConfig): Map<string, string> {
  const known = new Set(config.secondaries.map((s) => s.serial));
  const urls = new Map<string, string>();
  for (const spec of specs) {
    const at = spec.indexOf('=');
    if (at <= 0) throw new Error(`--secondary-url ${spec}: write serial=URL, e.g. ecm-1=http://127.0.0.1:9031`);
    const serial = spec.slice(0, at);
    if (!known.has(serial)) {
      throw new Error(`--secondary-url ${spec}: ${serial} is not a secondary of vehicle ${config.vin} (its secondaries: ${[...known].join(', ') || 'none'})`);
    }
    if (urls.has(serial)) throw new Error(`--secondary-url names ${serial} twice`);
    urls.set(serial, checkHttpUrl(spec.slice(at + 1), `--secondary-url ${serial}=`));
  }
  return urls;
}

/** An exclusive hold on the vehicle folder: two primaries on one folder would interleave their state. */
function lockVehicle(dir: string): () => void {
  return takePidLock(
    join(dir, VEHICLE_FILES.runLock),
    'uptane vehicle run',
    (holder) => new Error(`another \`uptane vehicle run\` (pid ${holder.pid}) is driving the vehicle in ${dir}: stop it first (or wait for it to finish)`),
  );
}

/** Prints a download's progress at every quarter (a line each, so logs and pipes read well). */
function progressPrinter(say: (line: string) => void): (filename: string, received: number, total: number) => void {
  const shown = new Map<string, number>();
  return (filename, received, total) => {
    const quarter = total === 0 ? 4 : Math.floor((received / total) * 4);
    if (quarter <= (shown.get(filename) ?? 0) || quarter === 0) return;
    shown.set(filename, quarter);
    say(`  ${filename}: ${quarter * 25}% (${received} of ${total} bytes)`);
  };
}

interface OpenedVehicle {
  readonly primary: Primary;
  close(): void;
}

async function openVehicle(dir: string, config: VehicleConfig, host: LocalSecondaryHost, urls: Map<string, string>, say: ((line: string) => void) | undefined): Promise<OpenedVehicle> {
  const state = vehicleState(dir);
  const transports = new Map<string, SecondaryTransport>();
  const clients: HttpSecondaryClient[] = [];
  const close = () => clients.forEach((c) => c.close());
  try {
    for (const ecu of config.secondaries) {
      const url = urls.get(ecu.serial);
      if (url === undefined) {
        transports.set(ecu.serial, await host.open(join(dir, ecu.serial), { clock: systemClock, vehicleState: state }));
        continue;
      }
      const client = new HttpSecondaryClient(url);
      clients.push(client);
      transports.set(ecu.serial, client);
    }
    const primary = await Primary.open(join(dir, config.primary.serial), {
      clock: systemClock,
      vehicleState: state,
      secondaries: transports,
      log: say === undefined ? undefined : (line) => say(`  ${line}`),
      onDownloadProgress: say === undefined ? undefined : progressPrinter(say),
    });
    // A wrong URL is caught now, not as a missing report: the secondary there must be the one provisioned.
    for (const [serial, url] of urls) {
      let info;
      try {
        info = await transports.get(serial)!.info();
      } catch (err) {
        if (!(err instanceof UptaneError)) throw err;
        throw new Error(`cannot reach secondary ${serial} at ${url} (${err.message}): is \`uptane vehicle secondary serve --dir ${join(dir, serial)}\` running there?`, { cause: err });
      }
      const provisioned = primary.identity.secondaries[serial]!;
      if (info.serial !== serial || info.publicKey !== provisioned.publicKey) {
        throw new Error(`the secondary at ${url} is ${info.serial}, not the ${serial} provisioned in ${dir} (its key differs): check --secondary-url`);
      }
    }
    return { primary, close };
  } catch (err) {
    close();
    throw err;
  }
}

function describeCycle(io: CliEnvironment, dir: string, cycle: LastCycle): void {
  const outcomes = Object.entries(cycle.outcomes);
  const outcomeLines = outcomes.map(([serial, o]) => `  ${serial}: ${o.status.replace('_', ' ')} ${o.filename}${o.code === undefined ? '' : ` (${o.code}: ${o.message ?? ''})`}`);
  switch (cycle.status) {
    case 'no-update':
      io.print(`${cycle.at} no update: every ECU runs what the Director assigned`);
      break;
    case 'installed':
      io.print(`${cycle.at} installed: ${outcomes.length} ECU${outcomes.length === 1 ? '' : 's'} updated`);
      outcomeLines.forEach((l) => io.print(l));
      break;
    case 'deferred':
      io.print(`${cycle.at} deferred: the update is downloaded and verified, but the vehicle is driving; it installs once the vehicle is parked`);
      outcomeLines.forEach((l) => io.print(l));
      cycle.pending.forEach((p) => io.print(`  waiting: ${p.ecuSerial} ${p.filename}`));
      io.print(`  park with \`uptane vehicle state --dir ${dir} parked\`, then run again`);
      break;
    case 'failed':
      io.print(`${cycle.at} failed${cycle.error === undefined ? '' : `: ${cycle.error.code}: ${cycle.error.message}`}`);
      outcomeLines.forEach((l) => io.print(l));
      io.print(`  the previous images and trusted metadata stay in place; the failure goes to the Director in the next manifest`);
      break;
  }
  if (!cycle.manifestSent) io.print('  note: the vehicle version manifest was not sent this cycle (see above), so the Director has not seen this state');
}

async function runCycle(primary: Primary): Promise<LastCycle> {
  const at = formatExpires(systemClock.now());
  const result = await primary.runCycle();
  return {
    at,
    status: result.status,
    manifestSent: result.manifestSent,
    ...(result.error === undefined ? {} : { error: result.error }),
    outcomes: result.outcomes,
    pending: (primary.pending?.targets ?? []).map((t) => ({ ecuSerial: t.ecuSerial, filename: t.filename })),
  };
}

async function run(io: CliEnvironment, host: LocalSecondaryHost, args: RunArgs): Promise<void> {
  if (args.once && args.interval !== undefined) throw new Error('give --once or --interval, not both');
  let intervalMs = 0;
  if (!args.once) {
    try {
      intervalMs = parseDuration(args.interval ?? DEFAULT_INTERVAL);
    } catch (err) {
      throw new Error(`--interval ${args.interval ?? ''}: write a duration such as 30s, 5m or 1h`, { cause: err });
    }
  }
  const dir = resolve(args.dir);
  const config = loadVehicleConfig(dir);
  const urls = parseSecondaryUrls(args.secondaryUrl, config);
  const unlock = lockVehicle(dir);
  const say = args.json ? undefined : io.print;
  try {
    const vehicle = await openVehicle(dir, config, host, urls, say);
    try {
      if (args.once) {
        const cycle = await runCycle(vehicle.primary);
        writeFileAtomic(join(dir, VEHICLE_FILES.lastCycle), Buffer.from(JSON.stringify(cycle)));
        if (args.json) printJson(io, cycle, { compact: true });
        else describeCycle(io, args.dir, cycle);
        if (cycle.status === 'failed') {
          throw new Error(`the update cycle failed${cycle.error === undefined ? ' on an ECU' : ` (${cycle.error.code})`}; \`uptane vehicle status --dir ${args.dir}\` shows each ECU`);
        }
        return;
      }
      await runLoop(io, dir, args, vehicle.primary, intervalMs);
    } finally {
      vehicle.close();
    }
  } finally {
    unlock();
  }
}

async function runLoop(io: CliEnvironment, dir: string, args: RunArgs, primary: Primary, intervalMs: number): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => {
    if (!args.json) io.print('stopping after the current cycle');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (!args.json) io.print(`running an update cycle every ${args.interval ?? DEFAULT_INTERVAL} for vehicle in ${dir}; Ctrl-C stops`);
  try {
    while (!stop.signal.aborted) {
      let cycle: LastCycle;
      try {
        cycle = await runCycle(primary);
      } catch (err) {
        // Not a verdict on the repositories (those end the cycle as "failed"): say it and try again next time.
        cycle = { at: formatExpires(systemClock.now()), status: 'failed', manifestSent: false, error: { code: 'internal', message: (err as Error).message }, outcomes: {}, pending: [] };
      }
      writeFileAtomic(join(dir, VEHICLE_FILES.lastCycle), Buffer.from(JSON.stringify(cycle)));
      if (args.json) printJson(io, cycle, { compact: true });
      else describeCycle(io, args.dir, cycle);
      await new Promise<void>((done) => {
        const timer = setTimeout(done, intervalMs);
        stop.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          done();
        });
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const runCommand = (io: CliEnvironment, deps: VehicleCommandDeps): CommandModule<object, RunArgs> => ({
  command: 'run',
  describe: 'run update cycles: send the vehicle manifest, verify both repositories, download, hand images to the secondaries, install (never while driving)',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle folder' })
      .option('once', { type: 'boolean', default: false, describe: 'run one cycle and exit: status 1 if it failed' })
      .option('interval', { type: 'string', requiresArg: true, describe: `time between cycles when looping (default ${DEFAULT_INTERVAL}), e.g. 30s, 5m` })
      .option('secondary-url', {
        type: 'string',
        array: true,
        default: [] as string[],
        requiresArg: true,
        describe: 'reach a secondary over HTTP (serial=URL, from `uptane vehicle secondary serve`) instead of opening its folder in this process; repeat for each',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object per cycle (no progress lines)' })
      .example('$0 vehicle run --dir car1 --once', 'one update cycle with every secondary in this process')
      .example('$0 vehicle run --dir car1 --interval 5m', 'a cycle every five minutes until Ctrl-C')
      .example('$0 vehicle run --dir car1 --once --secondary-url ecm-1=http://127.0.0.1:9031', 'secondary ecm-1 runs in its own process (`uptane vehicle secondary serve`)')
      .epilogue('Each cycle ends as one of: no update, installed, deferred (downloaded and verified, waiting for the vehicle to park) or failed.') as unknown as Argv<RunArgs>,
  handler: (argv) => run(io, deps.secondaries, argv),
});

// ---------------------------------------------------------------------------------------------
// state

interface StateArgs {
  readonly dir: string;
  readonly state?: DrivingState | undefined;
  readonly json: boolean;
}

function currentState(dir: string): { state: DrivingState; set: boolean } {
  return { state: vehicleState(dir).current(), set: existsSync(vehicleStatePath(dir)) };
}

const stateCommand = (io: CliEnvironment): CommandModule<object, StateArgs> => ({
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

// ---------------------------------------------------------------------------------------------
// status

function readJsonFile<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

const readPrimaryState = (directory: string) => readJsonFile<PrimaryState>(join(directory, 'state.json'));

/** The primary's folder, read without opening it (a `vehicle run` may hold it). */
function readPrimaryStatus(directory: string): EcuFolderStatus & { readonly pendingTargets: PrimaryState['pending'] } {
  const identity = readJsonFile<PrimaryIdentity>(join(directory, 'identity.json'));
  const state = readPrimaryState(directory);
  const own = state.pending?.targets.find((t) => t.ecuSerial === identity.serial);
  return {
    serial: identity.serial,
    hardwareId: identity.hardwareId,
    ...slotStatus(join(directory, 'slots')),
    expected: own?.filename ?? null,
    attacksToReport: state.attacks,
    servedAt: null,
    pendingTargets: state.pending,
  };
}

interface EcuStatusView extends EcuFolderStatus {
  readonly role: 'primary' | 'secondary';
  readonly verification: 'partial' | 'full';
  /** The image the primary verified for this ECU and installs once the vehicle is parked. */
  readonly pending: string | null;
}

interface StatusArgs {
  readonly dir: string;
  readonly json: boolean;
}

function vehicleStatus(dir: string, config: VehicleConfig, host: LocalSecondaryHost) {
  const primary = readPrimaryStatus(join(dir, config.primary.serial));
  const pendingFor = (serial: string) => primary.pendingTargets?.targets.find((t) => t.ecuSerial === serial)?.filename ?? null;
  const { pendingTargets, ...primaryFolder } = primary;
  const ecus: EcuStatusView[] = [
    { ...primaryFolder, role: 'primary', verification: 'full', pending: pendingFor(config.primary.serial) },
    ...config.secondaries.map((s) => ({ ...host.status(join(dir, s.serial)), role: 'secondary' as const, verification: s.verification, pending: pendingFor(s.serial) })),
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

const statusCommand = (io: CliEnvironment, deps: VehicleCommandDeps): CommandModule<object, StatusArgs> => ({
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
    const status = vehicleStatus(dir, loadVehicleConfig(dir), deps.secondaries);
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
      ['ECU', 'role', 'hardware id', 'slot', 'installed', 'pending', 'last install', 'attacks'],
      status.ecus.map((e) => [e.serial, e.role, e.hardwareId, e.activeSlot, e.installed.filename, e.pending ?? '-', describeInstall(e.lastInstall), String(e.attacksToReport.length)]),
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

// ---------------------------------------------------------------------------------------------

/** The `vehicle` command group, for the root CLI: `.command(vehicleCommand(io, { secondaries }))`. */
export const vehicleCommand = (io: CliEnvironment, deps: VehicleCommandDeps): CommandModule<object, object> => ({
  command: 'vehicle',
  describe: 'a simulated vehicle in a folder: provision, run update cycles, parked/driving, status',
  builder: (yargs) => {
    let group = yargs
      .command(provisionCommand(io, deps))
      .command(registerCommand(io))
      .command(runCommand(io, deps))
      .command(stateCommand(io))
      .command(statusCommand(io, deps));
    for (const command of deps.commands ?? []) group = group.command(command);
    return group.demandCommand(1, 'name a vehicle subcommand: provision, register, run, state, status or secondary');
  },
  handler: () => undefined,
});
