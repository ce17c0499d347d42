/** An injectable clock so quotas, stalls and escalation timers can be tested in accelerated time. */
export interface Clock {
  /** Current time. */
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  private t: number;
  constructor(start: Date | string = '2026-01-01T00:00:00Z') {
    this.t = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.t);
  }
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * Accelerated time for soak runs: time flows at wall-clock speed from the last {@link AcceleratedClock.jumpTo},
 * so waits, timeouts and durations inside a step are real, while the idle time between scheduled fire times is
 * skipped. Never goes backwards: jumping to an instant already passed keeps the current time.
 */
export class AcceleratedClock implements Clock {
  private base: number;
  private wallBase = Date.now();
  constructor(start: Date | string) {
    this.base = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.base + (Date.now() - this.wallBase));
  }
  /** Moves the clock to `t` (ms since epoch or a Date) unless it is already later; returns the time now. */
  jumpTo(t: Date | number): Date {
    const target = typeof t === 'number' ? t : t.getTime();
    const current = this.now().getTime();
    this.base = Math.max(target, current);
    this.wallBase = Date.now();
    return new Date(this.base);
  }
}

/** Start of the UTC day containing `d` (quotas reset at midnight UTC). */
export function startOfUtcDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}
