// A minimal vehicle for Director tests: ECU keys, signed version reports and manifests, and a real
// RepositoryUpdater whose requests the primary signs. The full primary and secondaries are
// primary-ecu/ and secondary-ecu/; this is only what the Director's tests need to speak for a car.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { ecuKeyText, type EcuKeyType } from '../../shared/core/crypto/ecu-keys.js';
import type { PrivateKey } from '../../shared/core/crypto/keys.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { digestBytes } from '../../shared/core/hashing.js';
import {
  signEnvelope,
  type EcuVersionReport,
  type EcuVersionReportSigned,
  type InstallOutcome,
  type ReportedAttack,
  type VehicleVersionManifest,
} from '../../shared/uptane/manifest.js';
import { FileMetadataStore } from '../../shared/client/metadata-store.js';
import { formatExpires } from '../../shared/core/metadata/parse.js';
import { RepositoryUpdater } from '../../shared/client/updater.js';
import { signVehicleRequest } from '../../shared/uptane/vehicle-auth.js';
import { fixtureEcuKey } from './fixture-keys.js';

export interface TestEcu {
  readonly serial: string;
  readonly hardwareId: string;
  readonly key: PrivateKey;
  readonly primary: boolean;
  installed: { filename: string; content: Buffer };
  counter: number;
}

export class TestVehicle {
  readonly ecus: TestEcu[];
  private readonly dir = mkdtempSync(join(tmpdir(), 'uptane-vehicle-'));

  constructor(
    readonly vin: string,
    layout: ReadonlyArray<{ serial: string; hardwareId: string; primary?: boolean; keyType?: EcuKeyType }>,
    private readonly clock: Clock,
  ) {
    this.ecus = layout.map(({ keyType, ...ecu }) => ({
      ...ecu,
      primary: ecu.primary === true,
      key: fixtureEcuKey(`${vin}/${ecu.serial}`, keyType),
      installed: { filename: `factory/${ecu.hardwareId}.bin`, content: Buffer.from(`factory image for ${ecu.serial}`) },
      counter: 0,
    }));
  }

  get primary(): TestEcu {
    return this.ecus.find((e) => e.primary)!;
  }

  ecu(serial: string): TestEcu {
    return this.ecus.find((e) => e.serial === serial)!;
  }

  /** The operator API registration body for this vehicle. */
  registration(): { vin: string; ecus: Array<{ serial: string; hardwareId: string; publicKey: string; primary: boolean }> } {
    return {
      vin: this.vin,
      ecus: this.ecus.map((e) => ({ serial: e.serial, hardwareId: e.hardwareId, publicKey: ecuKeyText(e.key.publicKey), primary: e.primary })),
    };
  }

  authHeader(method: string, path: string, body?: Uint8Array): string {
    return signVehicleRequest(this.primary.key, { method, path, body }, this.clock.now(), nodeBackend);
  }

  /** A Director updater for this vehicle, trusting `directorRoot`, its requests signed by the primary. */
  directorUpdater(directorUrl: string, directorRoot: Uint8Array): RepositoryUpdater {
    const store = new FileMetadataStore(join(this.dir, 'director'));
    if (store.load('root') === undefined) store.persist('root', directorRoot);
    return new RepositoryUpdater({
      repository: 'director',
      metadataUrl: `${directorUrl}/vehicle/metadata`,
      store,
      fetcher: new HttpFetcher(),
      clock: this.clock,
      backend: nodeBackend,
      requestHeaders: (url) => ({ authorization: this.authHeader('GET', new URL(url).pathname) }),
    });
  }

  /** A fresh, signed version report for one ECU (its counter advances). */
  report(ecu: TestEcu, extra: { attacks?: ReportedAttack[]; lastInstall?: InstallOutcome; signer?: PrivateKey; counter?: number } = {}): EcuVersionReport {
    ecu.counter = extra.counter ?? ecu.counter + 1;
    const signed: EcuVersionReportSigned = {
      _type: 'ecu_version_report',
      ecu_serial: ecu.serial,
      installed_image: { filename: ecu.installed.filename, length: ecu.installed.content.length, hashes: digestBytes(ecu.installed.content) },
      attacks_detected: extra.attacks ?? [],
      report_time: formatExpires(this.clock.now()),
      report_counter: ecu.counter,
      ...(extra.lastInstall === undefined ? {} : { last_install: extra.lastInstall }),
    };
    return signEnvelope(signed, extra.signer ?? ecu.key, nodeBackend);
  }

  manifest(reports?: Record<string, EcuVersionReport>, signer?: PrivateKey): VehicleVersionManifest {
    const all = reports ?? Object.fromEntries(this.ecus.map((e) => [e.serial, this.report(e)]));
    return signEnvelope(
      { _type: 'vehicle_version_manifest' as const, vin: this.vin, primary_ecu_serial: this.primary.serial, ecu_version_reports: all },
      signer ?? this.primary.key,
      nodeBackend,
    );
  }

  /** POSTs a manifest to the Director, signed by this vehicle's primary (or `as` another vehicle). */
  async sendManifest(directorUrl: string, manifest: unknown, as: TestVehicle = this): Promise<{ status: number; json: Record<string, unknown> }> {
    const body = Buffer.from(JSON.stringify(manifest));
    const response = await fetch(`${directorUrl}/vehicle/manifest`, {
      method: 'POST',
      body,
      headers: { authorization: as.authHeader('POST', '/vehicle/manifest', body), 'content-type': 'application/json' },
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
