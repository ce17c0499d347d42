/**
 * Replaying a dead letter (domain/intake/dead-letters.ts): re-applies its stored, storable payload through the same
 * code its webhook uses, and records the outcome on the row (`replayed`, or `open` with why it failed again).
 * SendGrid and Stripe are replayed here; sources whose processing lives higher up (Alertmanager → alerts/dispatch)
 * are replayed by a {@link Replayer} the composition root passes in.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { processSendGridEvents } from '../delivery/events.js';
import { AppError } from '../errors.js';
import { getDeadLetter, markDeadLetter } from '../queries/dead-letters.js';
import type { StorefrontDeps } from '../storefront/deps.js';
import { ingestStripeEvent, sendReportsFor } from '../storefront/webhook.js';
import type { StripeEvent } from '../providers/stripe/port.js';

/** Re-applies one dead letter's payload; returns a one-sentence summary. @throws when it still cannot be applied. */
export type Replayer = (payload: unknown, deadLetter: { id: number; dedupKey: string; eventType: string | null }) => Promise<string>;

/** What a replay needs: the storefront deps (ORM, clock, providers …) and replayers for other sources. */
export interface ReplayDeps {
  storefront: StorefrontDeps;
  replayers?: Partial<Record<string, Replayer>>;
}

async function replaySendGrid(em: EntityManager, payload: unknown, now: Date): Promise<string> {
  if (payload === null || payload === undefined) throw new AppError('bad_request', 'this dead letter holds no event (the body was not JSON): nothing to replay');
  const r = await processSendGridEvents(em, [payload], now);
  if (r.deadLettered > 0) throw new AppError('bad_request', 'the event still cannot be applied (see the dead letter reason)');
  return r.duplicates ? 'already applied (a redelivery had stored it)' : `applied (${r.applied ? 'status or suppression changed' : 'stored'})`;
}

async function replayStripe(deps: StorefrontDeps, payload: unknown): Promise<string> {
  const ev = payload as Partial<StripeEvent> | null;
  if (!ev || typeof ev.id !== 'string' || typeof ev.type !== 'string') throw new AppError('bad_request', 'this dead letter holds no Stripe event');
  const result = await ingestStripeEvent(deps, ev as StripeEvent);
  if (result.outcome === 'failed') throw new AppError('bad_request', `still failing: ${result.error ?? 'unknown error'}`);
  await sendReportsFor(deps, [result]);
  return `Stripe ${result.type} ${result.eventId}: ${result.outcome}${result.status ? ` (purchase ${result.status})` : ''}`;
}

/**
 * Replays dead letter `id` for `by` (e.g. `slack:U123`). An already replayed one is not applied twice.
 * @throws AppError `not_found` (no such id), `bad_request` (still failing; the row keeps `open` and the reason in
 *   `replay_detail`) or the replayer's error.
 */
export async function replayDeadLetter(deps: ReplayDeps, id: number, by: string): Promise<{ summary: string }> {
  const em = deps.storefront.orm.em.fork();
  const dl = await getDeadLetter(em, id);
  if (!dl) throw new AppError('not_found', `dead letter #${id} does not exist`);
  if (dl.status === 'replayed') return { summary: `dead letter #${id} was already replayed by ${dl.replayedBy ?? 'someone'}: ${dl.replayDetail ?? ''}` };
  const now = deps.storefront.clock.now();
  try {
    let summary: string;
    if (dl.source === 'sendgrid') summary = await replaySendGrid(em, dl.payload, now);
    else if (dl.source === 'stripe') summary = await replayStripe(deps.storefront, dl.payload);
    else {
      const replayer = deps.replayers?.[dl.source];
      if (!replayer) throw new AppError('bad_request', `${dl.source} dead letters are replayed by the running service (npm start): use the Replay button in Slack`);
      summary = await replayer(dl.payload, dl);
    }
    await markDeadLetter(em, id, { status: 'replayed', by, detail: summary, at: now });
    return { summary: `dead letter #${id} (${dl.source}) replayed: ${summary}` };
  } catch (err) {
    await markDeadLetter(em, id, { status: 'open', by, detail: `replay failed: ${(err as Error).message}`, at: now }).catch(() => undefined);
    throw err;
  }
}
