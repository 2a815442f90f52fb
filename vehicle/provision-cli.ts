// `uptane vehicle provision`: the integration-test engineer's factory. Every argument is checked
// before the first file is written, then vehicle/provision.ts makes the folder and, with --register,
// the vehicle is registered with the Director through the operator API.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { systemClock } from '../shared/core/clock.js';
import { nodeBackend } from '../shared/core/crypto/ed25519.js';
import { ECU_KEY_TYPES, ecuKeyType, type EcuKeyType } from '../shared/core/crypto/ecu-keys.js';
import { PrivateKey } from '../shared/core/crypto/keys.js';
import { EncryptionKeyPair } from '../shared/core/crypto/image-encryption.js';
import { UptaneError } from '../shared/core/errors.js';
import { formatExpires } from '../shared/core/metadata/parse.js';
import { TrustedMetadataSet } from '../shared/core/trusted-metadata-set.js';
import { printJson, table } from '../shared/cli/cli-output.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { caOption, checkTlsUrl, clientTlsFromFiles } from '../shared/cli/tls-args.js';
import { DEFAULT_TOKEN_ENV } from '../director-repo/operator-client.js';
import { checkHttpUrl, readFileOrExplain } from './cli-args.js';
import { checkAnchorsOffline, checkAnchorsOnline, type TrustAnchor } from './trust-anchors.js';
import { HttpFetcher } from '../shared/client/fetcher.js';
import { VEHICLE_FILES } from './folder.js';
import { checkPlanProfiles, factoryImage, provisionVehicleFolder, securityProfileOf, type EcuSpec } from './provision.js';
import { isSecurityProfile, SECURITY_PROFILES, type SecurityProfile } from '../shared/core/security-profile.js';
import { operatorToken, registerVehicle } from './register-cli.js';
import { parseHealthOption, persistEcuHealth } from './ecu-health.js';
import { imageLogPolicyFromArgs, imageLogOptions, type ImageLogArgs } from './image-log-args.js';

/** The Director's own rules (director-repo), checked here so a typo fails before any key is made. */
const VIN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Like the Director's, without ':' (the separator of --primary and --secondary). */
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * `serial:hardwareId[:keyType]` (primary) or `serial:hardwareId[:full|:partial][:keyType]`
 * (secondary); the key type (ed25519, ecdsa-p256, ecdsa-p384) overrides --key-type for that ECU.
 */
function parseEcuSpec(spec: string, option: '--primary' | '--secondary', defaultKeyType: EcuKeyType): Required<Omit<EcuSpec, 'securityProfile'>> & { keyType: EcuKeyType } {
  const parts = spec.split(':');
  const shape = option === '--primary' ? 'serial:hardwareId[:keyType]' : 'serial:hardwareId[:full][:keyType]';
  let verification: 'partial' | 'full' = 'partial';
  let keyType = defaultKeyType;
  const last = parts[parts.length - 1];
  if (parts.length > 2 && (ECU_KEY_TYPES as readonly string[]).includes(last!)) {
    keyType = parts.pop() as EcuKeyType;
  }
  if (option === '--secondary' && parts.length === 3) {
    const mode = parts.pop();
    if (mode !== 'full' && mode !== 'partial') {
      throw new Error(`${option} ${spec}: ${JSON.stringify(mode)} is neither full or partial (the verification the secondary does) nor a key type (${ECU_KEY_TYPES.join(', ')}), as in ${shape}`);
    }
    verification = mode;
  }
  if (parts.length !== 2) {
    throw new Error(`${option} ${spec}: write ${shape} (key types ${ECU_KEY_TYPES.join(', ')}), e.g. ${option === '--primary' ? 'VIN0001-tcu:tcu-a or VIN0001-tcu:tcu-a:ecdsa-p256' : 'VIN0001-ecm:ecm-x1, VIN0001-abs:abs-z:full or VIN0001-abs:abs-z:full:ecdsa-p256'}`);
  }
  const [serial, hardwareId] = parts as [string, string];
  for (const [what, value] of [['serial', serial], ['hardware id', hardwareId]] as const) {
    if (!NAME_PATTERN.test(value)) throw new Error(`${option} ${spec}: the ${what} ${JSON.stringify(value)} must be 1-128 letters, digits, '.', '_' or '-'`);
  }
  return { serial, hardwareId, verification, keyType };
}

/** `--ecu-profile SERIAL=PROFILE`, each serial one of the vehicle's ECUs and named once. */
function parseEcuProfiles(options: readonly string[], serials: readonly string[]): Map<string, SecurityProfile> {
  const profiles = new Map<string, SecurityProfile>();
  for (const option of options) {
    const at = option.indexOf('=');
    const serial = option.slice(0, at);
    const profile = option.slice(at + 1);
    if (at <= 0) throw new Error(`--ecu-profile ${option}: write SERIAL=PROFILE, e.g. --ecu-profile ${serials[0] ?? 'VIN0001-tcu'}=standard`);
    if (!serials.includes(serial)) throw new Error(`--ecu-profile ${option}: ${serial} is not one of this vehicle's ECUs (${serials.join(', ')})`);
    if (!isSecurityProfile(profile)) throw new Error(`--ecu-profile ${option}: ${JSON.stringify(profile)} is not a security profile; give one of ${SECURITY_PROFILES.join(', ')}`);
    if (profiles.has(serial)) throw new Error(`--ecu-profile ${serial}=... is given twice: one profile per ECU`);
    profiles.set(serial, profile);
  }
  return profiles;
}

interface ProvisionArgs extends ImageLogArgs {
  readonly dir: string;
  readonly vin: string;
  readonly primary: string;
  readonly secondary: string[];
  readonly health: string[];
  readonly ecuProfile: string[];
  readonly keyType: EcuKeyType;
  readonly directorUrl: string;
  readonly imageUrl: string;
  readonly directorRoot: string;
  readonly imageRoot: string;
  readonly register: boolean;
  readonly operatorTokenEnv: string;
  readonly json: boolean;
  readonly offline: boolean;
  readonly ca?: string | undefined;
  readonly clientCert?: string | undefined;
  readonly clientKey?: string | undefined;
  readonly transport?: string | undefined;
}

/** The root an ECU starts from must carry a threshold of its own keys' signatures (it may be expired). */
function trustedRoot(repository: 'director' | 'image', file: string, option: string, now: Date, metadataUrl: string): TrustAnchor {
  const bytes = readFileOrExplain(file, option);
  let set: TrustedMetadataSet;
  try {
    set = new TrustedMetadataSet(bytes, now, { repository, backend: nodeBackend });
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    throw new Error(`${option} ${file} is not a root this vehicle can trust: ${err.message} [${err.code}]; give the repository's signed N.root.json`, { cause: err });
  }
  return { bytes, set, option, file, metadataUrl };
}

async function provision(io: CliEnvironment, args: ProvisionArgs): Promise<void> {
  if (!VIN_PATTERN.test(args.vin)) throw new Error(`--vin ${JSON.stringify(args.vin)}: a VIN is 1-64 letters, digits, '_' or '-'`);
  const parsedPrimary = parseEcuSpec(args.primary, '--primary', args.keyType);
  const parsedSecondaries = args.secondary.map((s) => parseEcuSpec(s, '--secondary', args.keyType));
  const serials = [parsedPrimary.serial, ...parsedSecondaries.map((s) => s.serial)];
  const twice = serials.find((s, i) => serials.indexOf(s) !== i);
  if (twice !== undefined) throw new Error(`ECU serial ${twice} is given twice: every ECU of a vehicle needs its own serial`);
  const profiles = parseEcuProfiles(args.ecuProfile, serials);
  const withProfile = <T extends EcuSpec>(ecu: T): T => (profiles.has(ecu.serial) ? { ...ecu, securityProfile: profiles.get(ecu.serial)! } : ecu);
  const primary = withProfile(parsedPrimary);
  const secondaries = parsedSecondaries.map(withProfile);
  // Before any key is made or server asked: an ECU claiming more than it is (docs/security-profiles.md).
  checkPlanProfiles({ primary, secondaries }, { signingKey: 'file', secureTime: false });
  const health = args.health.map((h) => parseHealthOption(h, serials));
  const healthTwice = health.find((h, i) => health.findIndex((o) => o.serial === h.serial) !== i);
  if (healthTwice !== undefined) throw new Error(`--health ${healthTwice.serial}=... is given twice: one health check per ECU`);
  const directorUrl = checkHttpUrl(args.directorUrl, '--director-url');
  const imageRepoUrl = checkHttpUrl(args.imageUrl, '--image-url');
  // Read and checked before any key is made; the folder keeps copies, so the vehicle needs no other path later.
  const tls = clientTlsFromFiles({ ca: args.ca, cert: args.clientCert, key: args.clientKey });
  checkTlsUrl(directorUrl, '--director-url', tls);
  checkTlsUrl(imageRepoUrl, '--image-url', tls);
  // Opt-in: the primary then requires the Image log's inclusion proof of every targets version it installs from.
  const imageLog = imageLogPolicyFromArgs(args);
  const now = systemClock.now();
  const directorRoot = trustedRoot('director', args.directorRoot, '--director-root', now, `${directorUrl}/metadata`);
  const imageRoot = trustedRoot('image', args.imageRoot, '--image-root', now, `${imageRepoUrl}/metadata`);
  // Swapped or mixed-up anchors are refused here, not found later as an "attack" (vehicle/trust-anchors.ts).
  checkAnchorsOffline(directorRoot, imageRoot);
  const anchorChecks = args.offline ? [] : await checkAnchorsOnline(new HttpFetcher({ connectTimeoutMs: 5000, ...(tls === undefined ? {} : { tls }) }), directorRoot, imageRoot);
  const token = args.register ? operatorToken(io, args.operatorTokenEnv) : undefined;
  const dir = resolve(args.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`${dir} already exists and is not empty: a vehicle is provisioned into a new folder (its ECU keys live there); pick another --dir`);
  }

  const keys = new Map([primary, ...secondaries].map((ecu) => [ecu.serial, { signing: PrivateKey.generate(ecu.keyType), encryption: EncryptionKeyPair.generate() }]));
  const { config, registration } = provisionVehicleFolder(
    dir,
    { vin: args.vin, primary, secondaries, directorUrl, imageRepoUrl, directorRoot: directorRoot.bytes, imageRoot: imageRoot.bytes, ...(imageLog === undefined ? {} : { imageLog }) },
    (serial) => keys.get(serial)!,
    formatExpires(now),
    tls,
    args.transport,
  );
  for (const { serial, spec } of health) persistEcuHealth(join(dir, serial), spec);

  let registered = false;
  let registerError: Error | undefined;
  if (token !== undefined) {
    try {
      await registerVehicle(directorUrl, token, args.operatorTokenEnv, registration, '--director-url', tls?.ca === undefined ? undefined : { ca: tls.ca });
      registered = true;
    } catch (err) {
      if (!(err instanceof UptaneError)) throw err;
      registerError = err;
    }
  }

  if (args.json) {
    printJson(io, { dir, vin: args.vin, registered, config, registration, trustAnchors: args.offline ? 'offline' : anchorChecks });
  } else {
    io.print(`provisioned vehicle ${args.vin} in ${dir}`);
    for (const line of table(
      ['ECU', 'role', 'hardware id', 'verification', 'key type', 'keyid', 'profile', 'factory image'],
      [primary, ...secondaries].map((ecu, i) => [
        ecu.serial,
        i === 0 ? 'primary' : 'secondary',
        ecu.hardwareId,
        i === 0 ? 'full' : ecu.verification,
        ecuKeyType(keys.get(ecu.serial)!.signing.publicKey),
        keys.get(ecu.serial)!.signing.keyid.slice(0, 12),
        securityProfileOf(ecu, i === 0),
        factoryImage(ecu).filename,
      ]),
    )) {
      io.print(`  ${line}`);
    }
    io.print(`trusted roots: Director root v${directorRoot.set.root.signed.version}, Image repository root v${imageRoot.set.root.signed.version}`);
    for (const check of anchorChecks) {
      const name = check.repository === 'director' ? 'Director' : 'Image repository';
      io.print(check.checked ? `  the ${name} serves this root: checked` : `  could not check the ${name} root against its server (${check.reason}); checked offline only`);
    }
    io.print(`ECU keys: <dir>/<serial>/ecu-key.pem (signing) and encryption-key.pem (X25519, for encrypted images), mode 0600; vehicle state: parked`);
    if (imageLog !== undefined) {
      io.print(
        `Image log: the primary installs only from targets the log "${imageLog.log}" holds (key ${imageLog.logKey.keyval.public.slice(0, 16)}...), at a head no older than ${imageLog.maxAgeSeconds} s${imageLog.witnessThreshold > 0 ? `, cosigned by ${imageLog.witnessThreshold} of ${imageLog.witnessKeys.length} witnesses` : ''}`,
      );
    }
    if (tls !== undefined) {
      const parts = [tls.ca === undefined ? '' : `CA ${VEHICLE_FILES.tlsCa}`, tls.cert === undefined ? '' : `client certificate ${VEHICLE_FILES.tlsClientCert} (key mode 0600)`].filter((p) => p !== '');
      io.print(`TLS: ${parts.join(', ')}; the vehicle reaches its servers over https:// only`);
    }
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

export const provisionCommand = (io: CliEnvironment): CommandModule<object, ProvisionArgs> => ({
  command: 'provision',
  describe: 'provision a vehicle at the "factory": ECU keys, trusted roots, factory images and config in a new folder; optionally register it with the Director',
  builder: (yargs) =>
    yargs
      .option('dir', { type: 'string', demandOption: true, requiresArg: true, describe: 'new folder for the vehicle (must not exist or be empty)' })
      .option('vin', { type: 'string', demandOption: true, requiresArg: true, describe: 'vehicle identification number' })
      .option('primary', { type: 'string', demandOption: true, requiresArg: true, describe: 'the primary ECU as serial:hardwareId[:keyType]; serials are unique across the fleet (the ECU\'s own hardware serial)' })
      .option('secondary', {
        type: 'string',
        array: true,
        default: [] as string[],
        requiresArg: true,
        describe: 'a secondary ECU as serial:hardwareId[:full][:keyType] (partial verification unless :full); repeat for each',
      })
      .option('health', {
        type: 'string',
        array: true,
        default: [] as string[],
        requiresArg: true,
        describe:
          'SERIAL=JSON: the post-install health check of that ECU: after a new image passes its boot check it soaks soakMs under the probe (exit: a command, exit 0 = healthy; heartbeat-file: a file the image must keep touching; self-test-file: {"passed":true}) before the commit, else it rolls back (health_check_failed); repeat per ECU',
      })
      .option('ecu-profile', {
        type: 'string',
        array: true,
        default: [] as string[],
        requiresArg: true,
        describe: `SERIAL=PROFILE: the ECU's security profile (${SECURITY_PROFILES.join(' < ')}), registered with the Director and enforced by the ECU: it refuses an image whose Image repository minimum is higher (docs/security-profiles.md). Default: standard for an ECU that verifies fully (the primary, :full secondaries), basic for a partial one; standard needs full verification, and high (a hardware key, secure time) cannot be provisioned here; repeat per ECU`,
      })
      .option('key-type', {
        choices: ECU_KEY_TYPES,
        default: 'ed25519' as EcuKeyType,
        describe: "the type of every ECU's signing key (ecdsa-p256 or ecdsa-p384 for hardware that signs only with ECDSA); :keyType on --primary or --secondary overrides it for that ECU",
      })
      .option('director-url', { type: 'string', demandOption: true, requiresArg: true, describe: 'URL of the Director (env UPTANE_DIRECTOR_URL)', default: io.env.UPTANE_DIRECTOR_URL })
      .option('image-url', { type: 'string', demandOption: true, requiresArg: true, describe: 'URL of the Image repository (env UPTANE_IMAGE_REPO_URL)', default: io.env.UPTANE_IMAGE_REPO_URL })
      .option('director-root', { type: 'string', demandOption: true, requiresArg: true, describe: "the Director's signed root metadata (e.g. 1.root.json) the ECUs start trusting" })
      .option('image-root', { type: 'string', demandOption: true, requiresArg: true, describe: "the Image repository's signed root metadata the ECUs start trusting" })
      .option('offline', { type: 'boolean', default: false, describe: 'do not compare the trust anchors with the roots the two servers serve (a factory without network); the offline checks still run' })
      .option('register', { type: 'boolean', default: false, describe: 'register the vehicle with the Director through the operator API (needs an operator token)' })
      .option('operator-token-env', {
        type: 'string',
        default: DEFAULT_TOKEN_ENV,
        requiresArg: true,
        describe: 'environment variable holding the operator token for --register (never pass a token as an argument)',
      })
      .option('ca', caOption(io, 'the Director and the Image repository'))
      .option('client-cert', {
        type: 'string',
        requiresArg: true,
        implies: 'client-key',
        describe: "the primary's client certificate (PEM; CN = the VIN, issued with `uptane pki vehicle`), presented to the Director's mutual TLS",
      })
      .option('client-key', { type: 'string', requiresArg: true, implies: 'client-cert', describe: 'the private key of --client-cert (PEM); copied into the folder with mode 0600' })
      .option('transport', {
        type: 'string',
        requiresArg: true,
        describe: "reach the Director over MQTT 5 through this broker instead of --director-url's HTTP: mqtt://host:1883 or mqtts://host:8883 (the login defaults to the VIN; a password in the URL is kept in <dir>/mqtt-password, mode 0600). docs/transport.md \"MQTT\"",
      })
      .options(imageLogOptions)
      .option('json', { type: 'boolean', default: false, describe: 'print {dir, vin, registered, config, registration, trustAnchors} as JSON' })
      .example(
        '$0 vehicle provision --dir car1 --vin VIN0001 --primary VIN0001-tcu:tcu-a --secondary VIN0001-ecm:ecm-x1 --secondary VIN0001-abs:abs-z:full --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root director-1.root.json --image-root image-1.root.json --register',
        'a vehicle with two secondaries, registered with the token in $UPTANE_OPERATOR_TOKEN',
      )
      .example(
        '$0 vehicle provision --dir car3 --vin VIN0003 --primary VIN0003-tcu:tcu-a --secondary VIN0003-ecm:ecm-x1:ed25519 --key-type ecdsa-p256 --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root director-1.root.json --image-root image-1.root.json',
        'ECDSA P-256 signing keys for every ECU but VIN0003-ecm, which keeps Ed25519',
      )
      .example(
        `$0 vehicle provision --dir car4 --vin VIN0004 --primary VIN0004-tcu:tcu-a --secondary VIN0004-ecm:ecm-x1 --health 'VIN0004-ecm={"soakMs":30000,"pollMs":1000,"probe":{"kind":"exit","command":"/opt/ecu/selftest"}}' --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root director-1.root.json --image-root image-1.root.json`,
        'VIN0004-ecm commits a new image only after 30 s of /opt/ecu/selftest exiting 0 every second',
      )
      .example(
        '$0 vehicle provision --dir car6 --vin VIN0006 --primary VIN0006-tcu:tcu-a --secondary VIN0006-ecm:ecm-x1 --secondary VIN0006-abs:abs-z:full --ecu-profile VIN0006-ecm=basic --ecu-profile VIN0006-abs=standard --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root director-1.root.json --image-root image-1.root.json',
        'security profiles: the partial-verification VIN0006-ecm is basic (it and the Director refuse images whose minimum is standard or high), the fully verifying VIN0006-abs standard',
      )
      .example(
        '$0 vehicle provision --dir car5 --vin VIN0005 --primary VIN0005-tcu:tcu-a --transport mqtts://VIN0005@broker.example:8883 --ca pki/ca.pem --director-url https://director.example:8082 --image-url https://images.example:8081 --director-root director-1.root.json --image-root image-1.root.json',
        'the Director over MQTT through the broker (its certificate from pki/ca.pem); the Image repository over HTTPS',
      )
      .example(
        '$0 vehicle provision --dir car6 --vin VIN0006 --primary VIN0006-tcu:tcu-a --image-log-key image-log.pub --log-witness-key witness-a.pub --log-witness-threshold 1 --log-max-age 86400 --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root director-1.root.json --image-root image-1.root.json',
        'the primary installs only releases the Image log holds, at a head cosigned by witness-a and less than a day old (docs/transparency-log.md)',
      )
      .example(
        '$0 vehicle provision --dir car2 --vin VIN0002 --primary VIN0002-tcu:tcu-a --director-url http://127.0.0.1:8082 --image-url http://127.0.0.1:8081 --director-root director-1.root.json --image-root image-1.root.json',
        'without --register: prints the registration JSON to hand to a Director operator',
      )
      .epilogue(
        'The folder holds one sub-folder per ECU (its key as 0600 PKCS#8 PEM, trusted roots, A/B slots with a factory image), vehicle.json, registration.json (public keys only) and the vehicle state (parked); with --ca, --client-cert and --client-key also tls/ (CA, client certificate, 0600 key).',
      ) as unknown as Argv<ProvisionArgs>,
  handler: (argv) => provision(io, argv),
});
