/**
 * The scheduler's cron timers: one timer per job, armed for its next fire time (cron-parser, UTC, 5 or 6 fields —
 * six with seconds first), calling `onFire(name)` and re-arming. Long waits are slept in steps of at most an hour
 * (setTimeout cannot wait more than ~24.8 days; the quarterly review does).
 */
import { nextCronRun } from '../domain/schedule.js';

/** Longest single setTimeout (ms); a longer wait re-arms after it. */
const MAX_STEP_MS = 60 * 60_000;

/** Armed timers: how many are armed, and stop. */
export interface CronTimers {
  /** Number of jobs with an armed timer. */
  size(): number;
  /** Clears every timer; nothing fires afterwards. */
  stop(): void;
}

/**
 * Arms a timer per job (`cron` invalid = none for that job). `onFire` is called at each fire time (its promise is
 * not awaited: a run still going when the next fire time comes is the caller's to skip).
 */
export function armCronTimers(jobs: readonly { name: string; cron: string }[], onFire: (name: string) => unknown): CronTimers {
  const timers = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  const arm = (name: string, cron: string, at: Date) => {
    if (stopped) return;
    const wait = Math.min(MAX_STEP_MS, Math.max(0, at.getTime() - Date.now()));
    const t = setTimeout(() => {
      if (Date.now() < at.getTime()) return arm(name, cron, at); // a long wait, slept in steps
      const next = nextCronRun(cron, new Date(Math.max(Date.now(), at.getTime())));
      if (next) arm(name, cron, next);
      else timers.delete(name);
      void onFire(name);
    }, wait);
    timers.set(name, t);
  };
  for (const j of jobs) {
    const next = nextCronRun(j.cron, new Date());
    if (next) arm(j.name, j.cron, next);
  }
  return {
    size: () => timers.size,
    stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
