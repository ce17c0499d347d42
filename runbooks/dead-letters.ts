/**
 * Runbook "Dead letters" (poison-proof intake, domain/intake/): inbound webhook events (SendGrid, Stripe,
 * Alertmanager) that could not be applied and were parked in `dead_letters` with their reason, so the rest of
 * their batch went through and the provider got its 2xx.
 *
 * Diagnostic (read-only): open dead letters by source, and the newest ones with reason and attempts.
 * Remediation: replay one (operator): its stored payload is applied again through the webhook's own code; the row
 * becomes `replayed`, or stays `open` with why it failed again. `/lf deadletters` shows this runbook; the CLI replays
 * with `npm run lf -- fix dead-letters replay-dead-letter id=N`.
 */
import { z } from 'zod';
import { replayDeadLetter } from '../domain/intake/replay.js';
import { listDeadLetters, openDeadLetterCounts } from '../domain/queries/dead-letters.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, type Finding } from './define.js';

/** Dead letters listed by the diagnostic. */
export const DEAD_LETTERS_LISTED = 10;

/** open-dead-letters: counts by source and the newest rows (any status). */
async function openDeadLetters(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const [counts, recent] = await Promise.all([openDeadLetterCounts(em), listDeadLetters(em.fork(), { limit: DEAD_LETTERS_LISTED })]);
  const evidence = {
    open: counts.total,
    openBySource: counts.bySource,
    oldestOpenId: counts.oldestOpenId,
    recent: recent.map((d) => ({
      id: d.id,
      source: d.source,
      eventType: d.eventType,
      status: d.status,
      attempts: d.attempts,
      receivedAt: d.receivedAt.toISOString(),
      reason: d.reason.slice(0, 200),
      ...(d.replayDetail ? { replay: `${d.replayedBy ?? ''}: ${d.replayDetail}`.slice(0, 200) } : {}),
    })),
  };
  if (counts.total === 0) return { status: 'ok', summary: `No open dead letters (${recent.length} listed, all replayed or discarded).`, evidence };
  const by = Object.entries(counts.bySource).map(([s, n]) => `${s} ${n}`).join(', ');
  const first = recent.find((d) => d.status === 'open');
  return {
    status: 'warn',
    summary: `${counts.total} open dead letter(s) (${by}); newest #${first?.id}: ${first?.reason.slice(0, 120) ?? ''}`,
    evidence,
  };
}

export const runbook = defineRunbook<RunbookContext>({
  id: 'dead-letters',
  title: 'Dead letters (inbound events that could not be applied)',
  symptoms: ['dead letters', 'webhook event rejected', 'event not applied', 'poison event', 'null character in webhook'],
  diagnostics: [{ id: 'open-dead-letters', title: 'Open dead letters', run: openDeadLetters }],
  rootCauses: [
    {
      id: 'dead-letters-open',
      title: 'Inbound events were parked as dead letters',
      indicatedBy: (f) => Number(f['open-dead-letters']?.evidence?.open ?? 0) > 0,
      remediations: ['replay-dead-letter'],
    },
  ],
  remediations: [
    {
      id: 'replay-dead-letter',
      title: 'Replay a dead letter',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Apply this dead letter’s event again (the same code its webhook runs: statuses, suppressions, purchases, alerts)?',
      inputSchema: z.object({ id: z.number().int().min(1) }),
      defaultInput: (f) => {
        const id = f['open-dead-letters']?.evidence?.oldestOpenId;
        if (typeof id !== 'number') throw new Error('no open dead letter');
        return { id };
      },
      idempotencyKey: (input) => `replay-dead-letter:${String(input.id)}`,
      recheck: 'open-dead-letters',
      async run(ctx, input, actor) {
        return replayDeadLetter({ storefront: ctx.services, ...(ctx.replayers ? { replayers: ctx.replayers } : {}) }, Number(input.id), actor);
      },
    },
  ],
});
