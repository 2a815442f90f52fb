// A development PKI: one CA (ECDSA P-256) that issues server certificates for the Director and the
// Image repository and client certificates that name one vehicle and its primary ECU, so the demo
// and the tests run over TLS and mutual TLS end to end. Production fleets use their own PKI; the
// certificate profile here (subject CN = VIN, SAN URI urn:uptane:vehicle:<vin>:primary:<serial>) is
// what the Director reads back with vehicleIdentityOf (docs/decisions.md "TLS").
import type * as X509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { CertificateKeyMismatchError, CertificateRequestError, MalformedCertificateError } from '../core/errors.js';

/** A certificate and its private key, both PEM; `keyPem` is PKCS#8. */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CaOptions {
  readonly commonName: string;
  /** Validity from now; default 3650 days, since a development CA outlives its leaves. */
  readonly validDays?: number;
}

/** Validity of a leaf: `notBefore`/`notAfter` win over `validDays` (tests make expired certificates this way). */
export interface ValidityOptions {
  /** Default 365 days from `notBefore`. */
  readonly validDays?: number;
  /** Default now. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface ServerCertificateOptions extends ValidityOptions {
  /** DNS names or IP addresses, each becomes a subjectAltName entry; the first is also the subject CN. */
  readonly hostnames: readonly string[];
}

export interface VehicleCertificateOptions extends ValidityOptions {
  readonly vin: string;
  readonly primarySerial: string;
}

export interface VehicleIdentity {
  readonly vin: string;
  readonly primarySerial: string;
}

const DEFAULT_CA_DAYS = 3650;
const DEFAULT_LEAF_DAYS = 365;
const DAY_MS = 24 * 60 * 60 * 1000;
// Same alphabets as the Director's inventory, so every registered vehicle can get a certificate and
// a certificate never names what the inventory could not hold.
const VIN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const SERIAL_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const DNS_NAME = /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const VEHICLE_URI_PREFIX = 'urn:uptane:vehicle:';
const PRIMARY_INFIX = ':primary:';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** ECDSA P-256 with SHA-256: small keys and signatures, fast handshakes, accepted by every TLS stack. */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;

let library: Promise<typeof X509> | undefined;
/**
 * Loads @peculiar/x509 after `reflect-metadata`, which its provider registry (tsyringe) needs
 * loaded first. A dynamic import, because a static one may evaluate the CommonJS library before the
 * polyfill (Jest's ESM loader does); it also keeps the library out of processes that never issue a
 * certificate (the Director checks vehicle certificates with node:crypto alone).
 */
function x509Library(): Promise<typeof X509> {
  library ??= import('reflect-metadata').then(async () => {
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  });
  return library;
}

/** Creates a self-signed CA that may issue end-entity certificates only (pathLen 0). */
export async function createDevCa(opts: CaOptions): Promise<IssuedCertificate> {
  const commonName = checkCommonName(opts.commonName);
  const x509 = await x509Library();
  const keys = await generateKeys();
  const notBefore = new Date();
  const notAfter = new Date(notBefore.getTime() + validDays(opts.validDays, DEFAULT_CA_DAYS) * DAY_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

/** Issues a TLS server certificate (serverAuth) for `hostnames`. */
export async function issueServerCertificate(ca: IssuedCertificate, opts: ServerCertificateOptions): Promise<IssuedCertificate> {
  if (opts.hostnames.length === 0) throw new CertificateRequestError('a server certificate needs at least one host name or IP address (--host)');
  const x509 = await x509Library();
  const names = opts.hostnames.map((host): X509.JsonGeneralName => {
    if (isIP(host) !== 0) return { type: 'ip', value: host };
    if (DNS_NAME.test(host)) return { type: 'dns', value: host.toLowerCase() };
    throw new CertificateRequestError(`${JSON.stringify(host)} is neither a DNS name nor an IP address`);
  });
  return issueLeaf(ca, opts, names[0]!.value, [
    new x509.SubjectAlternativeNameExtension(names, false),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
  ]);
}

/** Issues a client certificate (clientAuth) that names one vehicle and its primary ECU. */
export async function issueVehicleCertificate(ca: IssuedCertificate, opts: VehicleCertificateOptions): Promise<IssuedCertificate> {
  if (!VIN_PATTERN.test(opts.vin)) throw new CertificateRequestError(`VIN ${JSON.stringify(opts.vin)} must be 1-64 letters, digits, _ or -`);
  if (!SERIAL_PATTERN.test(opts.primarySerial)) {
    throw new CertificateRequestError(`primary ECU serial ${JSON.stringify(opts.primarySerial)} must be 1-128 letters, digits, '.', '_', ':' or '-'`);
  }
  const x509 = await x509Library();
  return issueLeaf(ca, opts, opts.vin, [
    new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `${VEHICLE_URI_PREFIX}${opts.vin}${PRIMARY_INFIX}${opts.primarySerial}` }], false),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
  ]);
}

/**
 * The vehicle and primary ECU a client certificate names, or undefined when it names none, names
 * more than one, disagrees between its subject CN and its SAN URI, or is not for client
 * authentication. It does not check the chain: the TLS server did (`req.socket.authorized`).
 */
export function vehicleIdentityOf(cert: X509Certificate): VehicleIdentity | undefined {
  if (cert.keyUsage === undefined || !cert.keyUsage.includes(OID_CLIENT_AUTH)) return undefined;
  // Splitting on ', ' is safe: Node writes a value holding a comma, quote or control character as a
  // quoted JSON string with its commas escaped (\u002c), so no DNS name can pass for a URI entry.
  const uris = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length))
    .filter((uri) => uri.startsWith(VEHICLE_URI_PREFIX));
  if (uris.length !== 1) return undefined;
  const rest = uris[0]!.slice(VEHICLE_URI_PREFIX.length);
  const at = rest.indexOf(PRIMARY_INFIX);
  if (at < 0) return undefined;
  const vin = rest.slice(0, at);
  const primarySerial = rest.slice(at + PRIMARY_INFIX.length);
  if (!VIN_PATTERN.test(vin) || !SERIAL_PATTERN.test(primarySerial)) return undefined;
  const commonNames = cert.subject.split('\n').filter((line) => line.startsWith('CN='));
  if (commonNames.length !== 1 || commonNames[0] !== `CN=${vin}`) return undefined;
  return { vin, primarySerial };
}

async function issueLeaf(ca: IssuedCertificate, validity: ValidityOptions, commonName: string, extensions: X509.Extension[]): Promise<IssuedCertificate> {
  const x509 = await x509Library();
  const issuer = await loadCa(ca);
  const keys = await generateKeys();
  const notBefore = validity.notBefore ?? new Date();
  const notAfter = validity.notAfter ?? new Date(notBefore.getTime() + validDays(validity.validDays, DEFAULT_LEAF_DAYS) * DAY_MS);
  if (notAfter.getTime() <= notBefore.getTime()) throw new CertificateRequestError('notAfter must be later than notBefore');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [commonName] }],
    issuer: issuer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer.signingKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
      ...extensions,
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

/** Parses the CA's PEM pair, checking it is a CA, on P-256, and that the key is the certificate's. */
async function loadCa(ca: IssuedCertificate): Promise<{ cert: X509.X509Certificate; signingKey: webcrypto.CryptoKey }> {
  const x509 = await x509Library();
  let nodeCert: X509Certificate;
  let cert: X509.X509Certificate;
  try {
    nodeCert = new X509Certificate(ca.certPem);
    cert = new x509.X509Certificate(ca.certPem);
  } catch (err) {
    throw new MalformedCertificateError(`the CA certificate is not a PEM X.509 certificate (${(err as Error).message}); create one with 'uptane pki init'`, { cause: err });
  }
  if (!nodeCert.ca) throw new MalformedCertificateError(`the certificate ${nodeCert.subject.replace(/\n/g, ', ')} is not a CA (basicConstraints cA is not set)`);
  let key: KeyObject;
  try {
    key = createPrivateKey(ca.keyPem);
  } catch (err) {
    throw new MalformedCertificateError(`the CA key is not a PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new MalformedCertificateError('the CA key is not an ECDSA P-256 key; the development PKI signs with P-256 only');
  }
  if (!nodeCert.checkPrivateKey(key)) throw new CertificateKeyMismatchError('the CA key does not belong to the CA certificate; pass the ca-key.pem written with this ca.pem');
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const signingKey = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return { cert, signingKey };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  const x509 = await x509Library();
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** 128 random bits with the top bit clear: a positive INTEGER that never needs a padding byte. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function validDays(days: number | undefined, fallback: number): number {
  const value = days ?? fallback;
  if (!Number.isFinite(value) || value <= 0) throw new CertificateRequestError(`validity must be a positive number of days, not ${String(days)}`);
  return value;
}

function checkCommonName(name: string): string {
  if (name.length === 0 || name.length > 64 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new CertificateRequestError('the CA common name must be 1-64 printable characters');
  }
  return name;
}
