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

/** Start of the UTC day containing `d` (quotas reset at midnight UTC). */
export function startOfUtcDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}
