// The development PKI (shared/pki/): its certificates verify against its CA with openssl-compatible
// parsing (node:crypto), carry the profile the servers and the Director rely on (server SAN and
// serverAuth; vehicle CN, SAN URI and clientAuth), vehicleIdentityOf reads a vehicle back and
// refuses anything else, and bad input is a typed error.
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDevCa,
  issueServerCertificate,
  issueVehicleCertificate,
  type IssuedCertificate,
  vehicleIdentityOf,
} from '../../shared/pki/dev-ca.js';
import { loadCa, writeDevPki } from '../../shared/pki/pki-files.js';
import { CertificateKeyMismatchError, CertificateRequestError, MalformedCertificateError, TlsFileError } from '../../shared/core/errors.js';

let ca: IssuedCertificate;
let otherCa: IssuedCertificate;
beforeAll(async () => {
  ca = await createDevCa({ commonName: 'Test CA' });
  otherCa = await createDevCa({ commonName: 'Other CA' });
});

const caCert = (): X509Certificate => new X509Certificate(ca.certPem);

describe('development CA', () => {
  it('is a self-signed P-256 CA', () => {
    const cert = caCert();
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('issues server certificates for DNS names and IP addresses, signed by the CA', async () => {
    const issued = await issueServerCertificate(ca, { hostnames: ['localhost', '127.0.0.1', '::1'] });
    const cert = new X509Certificate(issued.certPem);
    expect(cert.verify(caCert().publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(otherCa.certPem).publicKey)).toBe(false);
    expect(cert.ca).toBe(false);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(issued.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(vehicleIdentityOf(cert)).toBeUndefined();
  });

  it('honours notBefore/notAfter so tests can make an expired certificate', async () => {
    const issued = await issueServerCertificate(ca, { hostnames: ['localhost'], notBefore: new Date(Date.UTC(2020, 0, 1)), notAfter: new Date(Date.UTC(2020, 0, 2)) });
    expect(new Date(new X509Certificate(issued.certPem).validTo).getTime()).toBe(Date.UTC(2020, 0, 2));
  });

  it('issues a vehicle certificate that vehicleIdentityOf reads back', async () => {
    const issued = await issueVehicleCertificate(ca, { vin: 'VIN-001', primarySerial: 'primary:7.a' });
    const cert = new X509Certificate(issued.certPem);
    expect(cert.verify(caCert().publicKey)).toBe(true);
    expect(cert.subject).toBe('CN=VIN-001');
    expect(cert.subjectAltName).toBe('URI:urn:uptane:vehicle:VIN-001:primary:primary:7.a');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(vehicleIdentityOf(cert)).toEqual({ vin: 'VIN-001', primarySerial: 'primary:7.a' });
  });

  it('refuses bad requests with a typed error', async () => {
    await expect(issueVehicleCertificate(ca, { vin: 'VIN,1', primarySerial: 'p' })).rejects.toThrow(CertificateRequestError);
    await expect(issueVehicleCertificate(ca, { vin: 'V', primarySerial: 'p q' })).rejects.toThrow(CertificateRequestError);
    await expect(issueServerCertificate(ca, { hostnames: [] })).rejects.toThrow(CertificateRequestError);
    await expect(issueServerCertificate(ca, { hostnames: ['bad host'] })).rejects.toThrow(CertificateRequestError);
    await expect(issueServerCertificate(ca, { hostnames: ['h'], notBefore: new Date(10), notAfter: new Date(5) })).rejects.toThrow(CertificateRequestError);
  });

  it('refuses a malformed CA, a leaf as CA and a CA key of another CA', async () => {
    await expect(issueServerCertificate({ certPem: 'not a pem', keyPem: ca.keyPem }, { hostnames: ['h'] })).rejects.toMatchObject({ code: 'malformed_certificate' });
    await expect(issueServerCertificate({ certPem: ca.certPem, keyPem: 'junk' }, { hostnames: ['h'] })).rejects.toThrow(MalformedCertificateError);
    const leaf = await issueServerCertificate(ca, { hostnames: ['h'] });
    await expect(issueServerCertificate(leaf, { hostnames: ['h'] })).rejects.toThrow(MalformedCertificateError);
    await expect(issueServerCertificate({ certPem: ca.certPem, keyPem: otherCa.keyPem }, { hostnames: ['h'] })).rejects.toThrow(CertificateKeyMismatchError);
  });
});

describe('vehicleIdentityOf', () => {
  /** A certificate signed by the test CA with any subject, SAN URIs and extended key usage. */
  async function custom(cn: string, uris: readonly string[], eku: readonly string[], dnsNames: readonly string[] = []): Promise<X509Certificate> {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const caKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.keyPem).export({ format: 'der', type: 'pkcs8' }), alg, false, ['sign']);
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      subject: [{ CN: [cn] }],
      issuer: new x509.X509Certificate(ca.certPem).subjectName,
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...uris.map((value) => ({ type: 'url' as const, value }))]), new x509.ExtendedKeyUsageExtension([...eku])],
    });
    return new X509Certificate(cert.toString('pem'));
  }
  const CLIENT = '1.3.6.1.5.5.7.3.2';
  const SERVER = '1.3.6.1.5.5.7.3.1';
  const URI = 'urn:uptane:vehicle:V1:primary:P1';

  it('reads a well-formed vehicle certificate', async () => {
    expect(vehicleIdentityOf(await custom('V1', [URI], [CLIENT]))).toEqual({ vin: 'V1', primarySerial: 'P1' });
  });

  it('refuses a certificate whose subject CN names another VIN than its URI', async () => {
    expect(vehicleIdentityOf(await custom('V2', [URI], [CLIENT]))).toBeUndefined();
  });

  it('refuses a certificate that names two vehicles', async () => {
    expect(vehicleIdentityOf(await custom('V1', [URI, 'urn:uptane:vehicle:V1:primary:P2'], [CLIENT]))).toBeUndefined();
  });

  it('refuses a DNS name written to look like a vehicle URI', async () => {
    const forged = await custom('V1', [], [CLIENT], [`x, URI:${URI}, DNS:y`]);
    // Node quotes the DNS name and escapes its commas, which vehicleIdentityOf's split relies on.
    expect(forged.subjectAltName).toBe(`DNS:"x\\u002c URI:${URI}\\u002c DNS:y"`);
    expect(vehicleIdentityOf(forged)).toBeUndefined();
    // Beside a real URI entry the quoted DNS name is skipped, not an error.
    expect(vehicleIdentityOf(await custom('V1', [URI], [CLIENT], ['a,b.example']))).toEqual({ vin: 'V1', primarySerial: 'P1' });
  });

  it('refuses a certificate not meant for client authentication', async () => {
    expect(vehicleIdentityOf(await custom('V1', [URI], [SERVER]))).toBeUndefined();
  });

  it('refuses a URI without a primary serial, a server certificate and the CA', async () => {
    expect(vehicleIdentityOf(await custom('V1', ['urn:uptane:vehicle:V1'], [CLIENT]))).toBeUndefined();
    expect(vehicleIdentityOf(new X509Certificate((await issueServerCertificate(ca, { hostnames: ['v1'] })).certPem))).toBeUndefined();
    expect(vehicleIdentityOf(caCert())).toBeUndefined();
  });
});

describe('pki files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dev-pki-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a whole PKI with 0600 keys and refuses to overwrite without force', async () => {
    const paths = await writeDevPki(dir, { hostnames: ['localhost'], vehicles: [{ vin: 'V1', primarySerial: 'P1' }] });
    expect(statSync(paths.caKeyFile).mode & 0o777).toBe(0o600);
    expect(statSync(paths.server.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(paths.vehicles.V1!.keyFile).mode & 0o777).toBe(0o600);
    const loaded = loadCa(dir);
    expect(new X509Certificate(loaded.certPem).ca).toBe(true);
    await expect(writeDevPki(dir, { hostnames: ['localhost'] })).rejects.toThrow(TlsFileError);
    expect(loadCa(dir).certPem).toBe(loaded.certPem);
    await writeDevPki(dir, { hostnames: ['localhost'], force: true });
    expect(loadCa(dir).certPem).not.toBe(loaded.certPem);
  });

  it('names the missing CA file and how to make it', () => {
    expect(() => loadCa(join(dir, 'none'))).toThrow(/uptane pki init/);
  });
});
