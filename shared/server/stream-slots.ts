// A cap on answers that hold memory while a client reads them (image downloads: four 1 MiB slabs
// each), in total and per client address, so that memory stays bounded whatever the clients do
// (docs/threat-model.md HR-2). A request over the cap is refused before anything is held for it.

export interface StreamSlotLimits {
  /** Most such answers in flight at once. */
  readonly total: number;
  /** Most in flight to one client address. */
  readonly perAddress: number;
}

/**
 * The caps both servers' image downloads use unless configured: 64 in flight (at four 1 MiB slabs
 * each, 256 MiB at most: blob-sender.ts) and 32 to one address (vehicles behind one NAT share one).
 */
export const DEFAULT_DOWNLOAD_SLOTS: StreamSlotLimits = { total: 64, perAddress: 32 };

/** Retry-After, in seconds, on a download refused because a cap is reached (503 server_busy). */
export const DEFAULT_BUSY_RETRY_AFTER_SECONDS = 5;

export class StreamSlots {
  private inFlight = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: StreamSlotLimits) {}

  /** Answers in flight now. */
  get active(): number {
    return this.inFlight;
  }

  /** Takes a slot for `address`; returns its release (idempotent), or undefined when a cap is reached. */
  tryTake(address: string): (() => void) | undefined {
    const mine = this.byAddress.get(address) ?? 0;
    if (this.inFlight >= this.limits.total || mine >= this.limits.perAddress) return undefined;
    this.inFlight++;
    this.byAddress.set(address, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left === 0) this.byAddress.delete(address);
      else this.byAddress.set(address, left);
    };
  }
}
