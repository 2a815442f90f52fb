// The development PKI on disk: a folder with the CA (ca.pem, ca-key.pem) and one folder per issued
// certificate (cert.pem, key.pem, and ca.pem so the folder alone configures a server or a vehicle).
// Keys are written 0600; nothing is overwritten unless asked, since a replaced CA key orphans every
// certificate issued before.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlsFileError } from '../core/errors.js';
import { writeFileAtomic } from '../files/fs-atomic.js';
import { createDevCa, issueServerCertificate, issueVehicleCertificate, type IssuedCertificate } from './dev-ca.js';

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';

/** Where one issued certificate was written. */
export interface IssuedFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** A copy of the CA certificate: the trust anchor for whoever uses this folder. */
  readonly caFile: string;
}

export interface WriteOptions {
  /** Replace existing files; default false. */
  readonly force?: boolean;
}

/** Reads the CA pair from `dir` (written by saveCa / `uptane pki init`). */
export function loadCa(dir: string): IssuedCertificate {
  return { certPem: readPem(join(dir, CA_CERT_FILE), 'uptane pki init'), keyPem: readPem(join(dir, CA_KEY_FILE), 'uptane pki init') };
}

/** Writes the CA pair into `dir` (created if needed); returns the paths. */
export function saveCa(dir: string, ca: IssuedCertificate, options: WriteOptions = {}): { readonly certFile: string; readonly keyFile: string } {
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  refuseOverwrite([certFile, keyFile], options);
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(keyFile, Buffer.from(ca.keyPem), 0o600);
  writeFileAtomic(certFile, Buffer.from(ca.certPem), 0o644);
  return { certFile, keyFile };
}

/** Writes an issued certificate, its key (0600) and the CA certificate into `outDir`. */
export function saveIssued(outDir: string, issued: IssuedCertificate, caCertPem: string, options: WriteOptions = {}): IssuedFiles {
  const certFile = join(outDir, CERT_FILE);
  const keyFile = join(outDir, KEY_FILE);
  const caFile = join(outDir, CA_CERT_FILE);
  refuseOverwrite([certFile, keyFile, caFile], options);
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(keyFile, Buffer.from(issued.keyPem), 0o600);
  writeFileAtomic(certFile, Buffer.from(issued.certPem), 0o644);
  writeFileAtomic(caFile, Buffer.from(caCertPem), 0o644);
  return { certFile, keyFile, caFile };
}

export interface DevPkiRequest extends WriteOptions {
  /** Host names and IP addresses of the server certificate (shared by the Director and the Image repository). */
  readonly hostnames: readonly string[];
  readonly vehicles?: ReadonlyArray<{ readonly vin: string; readonly primarySerial: string }>;
  readonly caCommonName?: string;
}

export interface DevPkiPaths {
  readonly caCertFile: string;
  readonly caKeyFile: string;
  readonly server: IssuedFiles;
  readonly vehicles: Readonly<Record<string, IssuedFiles>>;
}

/**
 * A whole development PKI in one call, for tests, the demo and the simulator: `dir/ca.pem`,
 * `dir/ca-key.pem`, `dir/server/`, and `dir/vehicles/<vin>/` per vehicle.
 */
export async function writeDevPki(dir: string, request: DevPkiRequest): Promise<DevPkiPaths> {
  const ca = await createDevCa({ commonName: request.caCommonName ?? 'Uptane development CA' });
  const { certFile: caCertFile, keyFile: caKeyFile } = saveCa(dir, ca, request);
  const server = saveIssued(join(dir, 'server'), await issueServerCertificate(ca, { hostnames: request.hostnames }), ca.certPem, request);
  const vehicles: Record<string, IssuedFiles> = {};
  for (const vehicle of request.vehicles ?? []) {
    vehicles[vehicle.vin] = saveIssued(join(dir, 'vehicles', vehicle.vin), await issueVehicleCertificate(ca, vehicle), ca.certPem, request);
  }
  return { caCertFile, caKeyFile, server, vehicles };
}

function readPem(path: string, hint: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsFileError(`cannot read ${path}: ${(err as Error).message} (create it with '${hint}')`, { cause: err });
  }
}

function refuseOverwrite(paths: readonly string[], options: WriteOptions): void {
  if (options.force === true) return;
  const existing = paths.filter((path) => existsSync(path));
  if (existing.length > 0) throw new TlsFileError(`${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; pass --force to replace (certificates issued by a replaced CA stop verifying)`);
}
