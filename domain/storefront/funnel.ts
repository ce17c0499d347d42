/**
 * The storefront funnel of `/lf purchases [window]`: emailed → clicked → checkout started → paid → report sent over a
 * window ending now, in distinct businesses (domain/queries/purchases.ts `purchaseFunnel`, a cohort of the
 * businesses emailed in the window), with the conversion of each stage from the one before and from emailed.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../errors.js';
import { FUNNEL_STAGES, purchaseFunnel, type FunnelCounts, type FunnelStage } from '../queries/purchases.js';

/** The window `/lf purchases` uses without an argument. */
export const DEFAULT_FUNNEL_WINDOW = '7d';
/** The longest window accepted, days. */
export const MAX_FUNNEL_WINDOW_DAYS = 366;
/** A window as typed: a whole number of hours or days (`24h`, `7d`, `30d`). */
export const FUNNEL_WINDOW_PATTERN = /^(\d{1,4})([hd])$/;

/** Human names of the stages, in order. */
export const FUNNEL_STAGE_NAMES: Readonly<Record<FunnelStage, string>> = {
  emailed: 'emailed',
  clicked: 'clicked the report link',
  checkout: 'checkout started',
  paid: 'paid',
  reportSent: 'report sent',
};

/** One stage: its count, and its share (0..1, null when the base is 0) of the stage before and of `emailed`. */
export interface FunnelStep {
  stage: FunnelStage;
  name: string;
  count: number;
  fromPrevious: number | null;
  fromEmailed: number | null;
}

/** What `/lf purchases` shows. Times UTC. */
export interface FunnelReport {
  /** The window as typed (`7d`). */
  window: string;
  from: Date;
  to: Date;
  steps: FunnelStep[];
}

/**
 * Milliseconds of a window such as `24h` or `7d`.
 * @throws AppError `bad_request` naming the accepted forms when `text` is not one, is zero, or exceeds a year.
 */
export function parseFunnelWindow(text: string): number {
  const m = FUNNEL_WINDOW_PATTERN.exec(text.trim().toLowerCase());
  const ms = m ? Number(m[1]) * (m[2] === 'h' ? 3_600_000 : 86_400_000) : 0;
  if (!m || ms <= 0 || ms > MAX_FUNNEL_WINDOW_DAYS * 86_400_000) {
    throw new AppError('bad_request', `the window must be a number of hours or days up to ${MAX_FUNNEL_WINDOW_DAYS}d, e.g. 24h, 7d or 30d (got "${text}")`);
  }
  return ms;
}

const share = (n: number, base: number): number | null => (base > 0 ? n / base : null);

/** The steps of `counts`, with their conversion rates. */
export function funnelSteps(counts: FunnelCounts): FunnelStep[] {
  return FUNNEL_STAGES.map((stage, i) => ({
    stage,
    name: FUNNEL_STAGE_NAMES[stage],
    count: counts[stage],
    fromPrevious: i === 0 ? null : share(counts[stage], counts[FUNNEL_STAGES[i - 1]!]),
    fromEmailed: i === 0 ? null : share(counts[stage], counts.emailed),
  }));
}

/** The funnel over the `window` (e.g. `7d`) ending at `now`. @throws AppError `bad_request` for a bad window. */
export async function funnelReport(em: EntityManager, now: Date, window: string = DEFAULT_FUNNEL_WINDOW): Promise<FunnelReport> {
  const ms = parseFunnelWindow(window);
  const from = new Date(now.getTime() - ms);
  return { window: window.trim().toLowerCase(), from, to: now, steps: funnelSteps(await purchaseFunnel(em, from, now)) };
}
