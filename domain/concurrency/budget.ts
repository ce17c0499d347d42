/**
 * Call budgets that count the provider's time, not ours: a per-call timeout (an assessor's, the gateway's
 * deadline) is a budget of *active* time, paused while the call waits in our own queues — the concurrency gate's
 * queue (gate.ts) and the shared rate limiter (gateway reservations) — so a call that queued behind our own
 * limits is never failed as if the provider had been slow. The queues have their own bounds (the limiter's
 * `GATEWAY_MAX_WAIT_MS`; the gate admits only what its provider's budget can take, and the pipeline claims only
 * what the gate has room for).
 *
 * Budgets travel with the call through AsyncLocalStorage: {@link withActiveBudget} opens one around a call, and
 * {@link waitingInOwnQueue} pauses every budget open around the current call while our queue holds it.
 * Times in ms from `performance.now()`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** A budget of active time: `limitMs` of time not spent paused. */
export class ActiveBudget {
  private pausedMs = 0;
  private pausedAt: number | undefined;
  private depth = 0;
  private readonly startedAt: number;
  private readonly resumeListeners: (() => void)[] = [];

  constructor(
    readonly limitMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedAt = now();
  }

  /** True while some queue holds the call. */
  get paused(): boolean {
    return this.depth > 0;
  }

  /** Active ms spent so far (wall time since start minus paused time). */
  activeMs(): number {
    const t = this.now();
    const pausing = this.pausedAt === undefined ? 0 : t - this.pausedAt;
    return t - this.startedAt - this.pausedMs - pausing;
  }

  /** Active ms left (may be ≤ 0). */
  remainingMs(): number {
    return this.limitMs - this.activeMs();
  }

  /** Total ms spent paused so far (queued behind our own limits). */
  queuedMs(): number {
    return this.pausedMs + (this.pausedAt === undefined ? 0 : this.now() - this.pausedAt);
  }

  /** Pauses the budget (nestable); returns the matching resume. */
  pause(): () => void {
    if (this.depth++ === 0) this.pausedAt = this.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.depth === 0 && this.pausedAt !== undefined) {
        this.pausedMs += this.now() - this.pausedAt;
        this.pausedAt = undefined;
        for (const l of this.resumeListeners.splice(0)) l();
      }
    };
  }

  /** Resolves when the budget is not paused (at once when it is not). */
  whenActive(): Promise<void> {
    return this.depth === 0 ? Promise.resolve() : new Promise((r) => this.resumeListeners.push(r));
  }
}

const open = new AsyncLocalStorage<readonly ActiveBudget[]>();

/**
 * Runs `fn` with an active-time budget of `ms` and rejects with `onTimeout()` when `fn` has spent `ms` of active
 * time (paused time in our own queues not counted). The losing call is not cancelled (the ports take no signal);
 * its late result or error is swallowed.
 */
export async function withActiveBudget<T>(ms: number, fn: () => Promise<T>, onTimeout: () => Error): Promise<T> {
  const budget = new ActiveBudget(ms);
  const p = open.run([...(open.getStore() ?? []), budget], fn);
  p.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const expiry = new Promise<never>((_, reject) => {
    const check = () => {
      if (settled) return;
      if (budget.paused) {
        void budget.whenActive().then(check);
        return;
      }
      const left = budget.remainingMs();
      if (left <= 0) reject(onTimeout());
      else timer = setTimeout(check, Math.ceil(left));
    };
    check();
  });
  try {
    return await Promise.race([p, expiry]);
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

/**
 * Starts `fn` with a clock of the time it spends in our own queues ({@link waitingInOwnQueue}: the shared rate
 * limiter) until it settles: `queuedMs()` is that time so far (ms). The concurrency gate tells its controller a
 * call's own wait from it, and the provider's latency as the rest of the call's time.
 */
export function trackQueueing<T>(fn: () => Promise<T>): { done: Promise<T>; queuedMs: () => number } {
  const clock = new ActiveBudget(Infinity);
  const done = open.run([...(open.getStore() ?? []), clock], fn);
  return { done, queuedMs: () => clock.queuedMs() };
}

/**
 * Runs `fn` — a wait in one of our own queues — with every budget open around the current call paused, so the
 * wait does not count against their timeouts. Returns what `fn` returns.
 */
export async function waitingInOwnQueue<T>(fn: () => Promise<T>): Promise<T> {
  const budgets = open.getStore() ?? [];
  if (budgets.length === 0) return fn();
  const resumes = budgets.map((b) => b.pause());
  try {
    return await fn();
  } finally {
    for (const r of resumes) r();
  }
}
