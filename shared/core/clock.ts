// Time, injected. Verification code never reads the system clock itself: it is handed a Clock (or a
// reference time taken from one), so tests can freeze, advance or rewind time deterministically.

export interface Clock {
  /** The current time as the ECU or server trusts it. */
  now(): Date;
}

export class SystemClock implements Clock {
  now(): Date {
    return new Date();
  }
}

/** A clock that stands still until told to move: for tests and the simulator. */
export class FixedClock implements Clock {
  private millis: number;

  constructor(start: Date | string | number) {
    this.millis = new Date(start).getTime();
    if (!Number.isFinite(this.millis)) throw new RangeError(`FixedClock: invalid start time ${String(start)}`);
  }

  now(): Date {
    return new Date(this.millis);
  }

  set(time: Date | string | number): void {
    this.millis = new Date(time).getTime();
  }

  advance(ms: number): void {
    this.millis += ms;
  }
}

export const systemClock: Clock = new SystemClock();
