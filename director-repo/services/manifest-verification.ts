// Signature verification of vehicle version manifests on every core (docs/decisions.md "Signature
// verification on every core"): before a manifest's unit of work, a worker thread verifies its
// signatures under the keys the inventory held for the vehicle, and the judge then asks the
// verdicts, verifying inline only a key that changed meanwhile. With no threads (one core, or
// turned off) the judge verifies inline, as it always did; the verdicts are the same either way.
import { availableParallelism } from 'node:os';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import type { VehicleVersionManifest } from '../../shared/uptane/manifest.js';
import { defaultWorkerPoolOptions, WorkerPool, type WorkerPoolOptions } from '../../shared/server/worker-pool.js';
import type { ManifestSignatureJob } from '../manifest-signature-worker.js';
import { verifyInline, withVerdicts, type ManifestSignatures, type SignatureKeys, type SignatureVerdicts } from '../manifest-signatures.js';
import type { DirectorStore } from '../store/director-store.js';
import type { EcuRecord } from '../store/inventory.js';

export interface ManifestVerificationOptions extends Partial<WorkerPoolOptions> {
  /**
   * Worker threads verifying manifest signatures. 0 verifies on the event loop, inside the judge.
   * Default: os.availableParallelism() when that is above 1, else 0.
   */
  readonly threads?: number;
  /** Vehicles whose ECU keys are remembered between their manifests, so no extra read precedes each. */
  readonly keyHintVehicles?: number;
  /** The module the threads run: manifest-signature-worker.js, or (tests) a module wrapping its default export. */
  readonly workerModule?: URL;
  /**
   * Longest the first verified manifest waits for the others before they go on to their units of
   * work, in ms (ArrivalOrder: handed on together, they share a group commit).
   */
  readonly gatherMs?: number;
}

export const DEFAULT_KEY_HINT_VEHICLES = 10_000;
/** About one fsync of a commit on this project's machines: waiting longer than what it saves gains nothing. */
export const DEFAULT_GATHER_MS = 2;
/** Most verified manifests handed on together: GroupCommit's own batch (store/sqlite/group-commit.ts). */
const GATHER_LIMIT = 64;

export class ManifestVerification {
  private readonly pool: WorkerPool<ManifestSignatureJob, SignatureVerdicts> | undefined;
  /**
   * Each vehicle's ECU keys as the last judge (or read) saw them, newest last. Only a hint for what
   * to verify ahead: the judge re-checks every verdict against the key it reads in its own unit of work.
   */
  private readonly hints = new Map<string, SignatureKeys>();
  private readonly maxHints: number;
  private readonly arrivals: ArrivalOrder;
  /** Worker threads the pool may run (0: verification on the event loop, inside the judge). */
  readonly threads: number;

  constructor(
    private readonly store: DirectorStore,
    options: ManifestVerificationOptions = {},
  ) {
    const cores = availableParallelism();
    const threads = options.threads ?? (cores > 1 ? cores : 0);
    // The compiled worker module beside this folder; from the sources, its .ts (worker-pool.ts).
    const { keyHintVehicles = DEFAULT_KEY_HINT_VEHICLES, gatherMs = DEFAULT_GATHER_MS, workerModule = new URL('../manifest-signature-worker.js', import.meta.url), ...given } = options;
    this.threads = threads;
    this.maxHints = keyHintVehicles;
    this.arrivals = new ArrivalOrder(gatherMs);
    const poolOptions = { ...defaultWorkerPoolOptions(threads), ...withoutUndefined(given), threads };
    this.pool = threads === 0 ? undefined : new WorkerPool<ManifestSignatureJob, SignatureVerdicts>(workerModule, 'manifest signature verification', poolOptions);
  }

  /** The pool, for tests and statistics. */
  get workerPool(): WorkerPool<ManifestSignatureJob, SignatureVerdicts> | undefined {
    return this.pool;
  }

  /**
   * Verifies `body`'s signatures on a worker thread under the vehicle's keys, and resolves in the
   * manifest's turn; undefined when there are no threads, or no body (a manifest that did not parse
   * has nothing to verify, but keeps its place in the arrival order). Throws ServerBusyError when the pool is full and WorkerFailedError when the
   * thread died: then nothing was judged, and nothing is written.
   */
  async verifyAhead(vin: string, body: Uint8Array | undefined): Promise<SignatureVerdicts | undefined> {
    if (this.pool === undefined) return undefined;
    // Its place is taken before anything is awaited (ArrivalOrder).
    const place = this.arrivals.arrive();
    if (body === undefined) {
      await this.arrivals.verified(place);
      return undefined;
    }
    let verdicts: SignatureVerdicts;
    try {
      const keys = this.hints.get(vin) ?? this.remember(vin, await this.store.inventory.ecusOf(vin));
      // A copy of exactly the body, moved to the thread: a Buffer may be a view into a larger
      // shared slab, which would be copied whole.
      const bytes = new Uint8Array(body);
      verdicts = await this.pool.run({ body: bytes, keys }, [bytes.buffer]);
    } catch (err) {
      this.arrivals.leave(place);
      throw err;
    }
    await this.arrivals.verified(place);
    return verdicts;
  }

  /**
   * What the judge asks about `manifest`'s signatures, given the vehicle's ECUs as read in its unit of
   * work: the verdicts where they were made under those very keys, inline verification otherwise.
   */
  signatures(vin: string, manifest: VehicleVersionManifest, ecus: readonly EcuRecord[], verdicts: SignatureVerdicts | undefined): ManifestSignatures {
    const inline = verifyInline(manifest, nodeBackend);
    if (this.pool === undefined) return inline;
    this.remember(vin, ecus);
    return verdicts === undefined ? inline : withVerdicts(verdicts, inline);
  }

  /** Ends the worker threads (the server's close). */
  async close(): Promise<void> {
    await this.pool?.close();
  }

  private remember(vin: string, ecus: readonly EcuRecord[]): SignatureKeys {
    const keys: SignatureKeys = { primary: ecus.find((e) => e.isPrimary)?.publicKey, ecus: Object.fromEntries(ecus.map((e) => [e.serial, e.publicKey])) };
    if (ecus.length === 0 || this.maxHints === 0) return keys;
    this.hints.delete(vin);
    if (this.hints.size >= this.maxHints) this.hints.delete(this.hints.keys().next().value!);
    this.hints.set(vin, keys);
    return keys;
  }
}

/**
 * Hands verified manifests on to their units of work in the order they arrived, as without threads
 * (a vehicle's second manifest is judged after its first), and together: once every manifest that
 * arrived is verified, or GATHER_LIMIT wait, or the first has waited gatherMs. Manifests that arrive
 * together are verified on several threads and finish one by one; handed on one by one, each would
 * get a commit, and an fsync, of its own; handed on in one turn of the event loop, they share one
 * (store/sqlite/group-commit.ts).
 */
interface Place {
  verified: boolean;
  resume: () => void;
}

export class ArrivalOrder {
  private readonly places: Place[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The timer fired: verified manifests go on as soon as those before them are verified. */
  private overdue = false;

  constructor(private readonly gatherMs: number) {}

  arrive(): Place {
    const place: Place = { verified: false, resume: () => undefined };
    this.places.push(place);
    return place;
  }

  /** Resolves when the manifest at `place`, now verified, may go on to its unit of work. */
  verified(place: Place): Promise<void> {
    return new Promise<void>((resume) => {
      place.resume = resume;
      place.verified = true;
      // Once the caller awaits this promise: resumed here and now, the caller's continuation would be
      // queued before the ones it resumes, and this manifest would go on after those that came later.
      queueMicrotask(() => this.handOnIfGathered());
    });
  }

  /** A manifest refused before its verdicts (pool busy, thread lost) leaves; it may be the one the others wait for. */
  leave(place: Place): void {
    this.places.splice(this.places.indexOf(place), 1);
    this.handOnIfGathered();
  }

  private handOnIfGathered(): void {
    const waiting = this.places.filter((p) => p.verified).length;
    if (waiting === 0) return;
    if (this.overdue || waiting === this.places.length || waiting >= GATHER_LIMIT) {
      this.handOn();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.overdue = true;
      this.handOn();
    }, this.gatherMs);
  }

  /** Resumes the verified manifests at the head; one still verifying holds those behind it. */
  private handOn(): void {
    while (this.places[0]?.verified === true) this.places.shift()!.resume();
    if (this.places.some((p) => p.verified)) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.overdue = false;
  }
}

function withoutUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
