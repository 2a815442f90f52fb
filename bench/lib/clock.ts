// A clock for benchmarks: it runs at real speed from the fixtures' reference time, so signed request
// times, nonces and report times behave as in production (nonce caches evict, times advance) while
// every metadata expiry of the fixtures stays valid whatever the calendar says. Worker threads build
// their own copy from the same anchor, so all threads agree to the millisecond.
import { FixedClock } from '../../shared/core/clock.js';

export interface ClockAnchor {
  /** The time the clock showed at `realMs`. */
  readonly startMs: number;
  /** Date.now() at that moment. */
  readonly realMs: number;
}

export class RunningClock extends FixedClock {
  constructor(readonly anchor: ClockAnchor) {
    super(anchor.startMs);
  }

  static from(start: Date): RunningClock {
    return new RunningClock({ startMs: start.getTime(), realMs: Date.now() });
  }

  override now(): Date {
    return new Date(this.anchor.startMs + (Date.now() - this.anchor.realMs));
  }
}
