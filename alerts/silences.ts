/**
 * Silences (table `silences`): mute notifications — alert posts and pages — of alerts whose labels match every
 * matcher (exact values; `alertname` matches the rule/alert name). Evaluation and the alert's state go on; a
 * silenced alert is still stored, and posts nothing while the silence lasts.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../domain/errors.js';
import { endSilence, insertSilence, type SilenceRow, silencesInForce } from '../domain/queries/silences.js';

export type { SilenceRow };

/** True when every matcher equals the alert's label (`alertname` = the alert's name). */
export function matches(matchers: Record<string, string>, alertName: string, labels: Record<string, string>): boolean {
  const all: Record<string, string> = { ...labels, alertname: alertName };
  return Object.entries(matchers).every(([k, v]) => all[k] === v);
}

/** Silences in force at `now`. */
export async function activeSilences(em: EntityManager, now: Date): Promise<SilenceRow[]> {
  return silencesInForce(em, now);
}

/** The first silence in force that matches the alert, or undefined. */
export async function silencedBy(em: EntityManager, alertName: string, labels: Record<string, string>, now: Date): Promise<SilenceRow | undefined> {
  return (await activeSilences(em, now)).find((s) => matches(s.matchers, alertName, labels));
}

/**
 * Creates a silence for `durationMs` from `now`.
 * @throws AppError bad_request for no matchers or a duration outside 1 min – 30 days.
 */
export async function createSilence(
  em: EntityManager,
  input: { matchers: Record<string, string>; durationMs: number; createdBy: string; comment?: string },
  now: Date,
): Promise<SilenceRow> {
  if (Object.keys(input.matchers).length === 0) throw new AppError('bad_request', 'a silence needs at least one matcher (an alert name or label=value)');
  if (!(input.durationMs >= 60_000 && input.durationMs <= 30 * 24 * 3600_000)) throw new AppError('bad_request', 'silence duration must be between 1 minute and 30 days');
  const endsAt = new Date(now.getTime() + input.durationMs);
  const row = { matchers: input.matchers, createdBy: input.createdBy, comment: input.comment ?? null, startsAt: now, endsAt };
  return { id: await insertSilence(em, row), ...row };
}

/** Ends a silence now; false when it was not in force. */
export async function expireSilence(em: EntityManager, id: number, now: Date): Promise<boolean> {
  return endSilence(em, id, now);
}

/** Parses a duration like `30m`, `2h`, `1d`, `90s` into ms. @throws AppError bad_request. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)$/i.exec(text.trim());
  if (!m) throw new AppError('bad_request', `expected a duration like 30m, 2h or 1d, got "${text}"`);
  const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };
  return Number(m[1]) * (unitMs[m[2]!.toLowerCase()] ?? Number.NaN);
}
