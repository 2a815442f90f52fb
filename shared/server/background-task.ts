// Work a server does on a timer (re-signing metadata before it expires, moving campaigns on). A
// failure there, a full disk (SQLITE_FULL) say, must not end the process: the server goes on
// serving what it has, the failure is logged and exposed, and the next run retries
// (docs/threat-model.md HR-8).

/** How a background task fares, for the running server to expose. */
export interface BackgroundStatus {
  /** Runs failed in a row; 0 once one succeeds. */
  readonly consecutiveFailures: number;
  readonly lastFailure?: { readonly at: string; readonly message: string };
  readonly lastSuccessAt?: string;
}

export class BackgroundTask {
  private current: BackgroundStatus = { consecutiveFailures: 0 };

  /**
   * `name` says what failed in the log ("re-signing snapshot/timestamp"); `run` does one round;
   * `warn` receives the failure and recovery lines.
   */
  constructor(
    private readonly name: string,
    private readonly run: () => unknown,
    private readonly warn: (line: string) => void,
  ) {}

  get status(): BackgroundStatus {
    return this.current;
  }

  /** One round now; never throws nor rejects (the outcome is in `status`). Resolves when the round ends. */
  runOnce(): Promise<void> {
    const at = new Date().toISOString();
    let result: unknown;
    try {
      result = this.run();
    } catch (err) {
      this.failed(at, err);
      return Promise.resolve();
    }
    if (!(result instanceof Promise)) {
      this.succeeded(at);
      return Promise.resolve();
    }
    return result.then(
      () => this.succeeded(at),
      (err: unknown) => this.failed(at, err),
    );
  }

  private failed(at: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const consecutiveFailures = this.current.consecutiveFailures + 1;
    this.current = { ...this.current, consecutiveFailures, lastFailure: { at, message } };
    this.warn(`${this.name} failed (${consecutiveFailures} in a row; retried at the next round): ${message}`);
  }

  private succeeded(at: string): void {
    if (this.current.consecutiveFailures > 0) this.warn(`${this.name} works again after ${this.current.consecutiveFailures} failed round(s)`);
    this.current = { ...this.current, consecutiveFailures: 0, lastSuccessAt: at };
  }

  /** Runs every `intervalMs` until the returned stop is called; the timer never keeps the process alive. */
  every(intervalMs: number): () => void {
    const timer = setInterval(() => void this.runOnce(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
