// The simulated vehicles' clock: another clock (the system's, or a test's FixedClock) plus an offset
// a test sets, so it can move the fleet past a metadata expiry while the repositories keep their own
// time. Each vehicle judges expiry on this clock; its signed requests still carry the Director's time
// once the Director has told it (shared/uptane/director-channel-http.ts).
import type { Clock } from '../../shared/core/clock.js';

export class SimulationClock implements Clock {
  private offsetMs = 0;

  constructor(private readonly base: Clock) {}

  now(): Date {
    return new Date(this.base.now().getTime() + this.offsetMs);
  }

  /** From now on the clock reads `time`, and runs on at the base clock's pace. */
  set(time: Date): void {
    this.offsetMs = time.getTime() - this.base.now().getTime();
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** Back to the base clock's time. */
  reset(): void {
    this.offsetMs = 0;
  }

  /** How far ahead of the base clock (negative: behind), in ms. */
  get offset(): number {
    return this.offsetMs;
  }
}
