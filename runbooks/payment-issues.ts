/**
 * Runbook "Payment issues" (troubleshooting guide playbook 4: webhook status, recent purchases, Stripe probe;
 * causes: webhook signing secret mismatch, amount/tax calculation).
 *
 * Diagnostics (read-only): the Stripe webhook intake (last event received, unprocessed / errored inbox rows,
 * signature failures in 24 h, secret SET/MISSING), recent purchases by status with failure reasons, pending purchases
 * past the checkout lifetime with no event, Stripe connectivity and key (live calls), the pricing configuration, the
 * total calculation (integer cents, half-up tax, stored totals against it), and paid purchases whose report did not
 * go out.
 *
 * Remediations: replay missed Stripe events from the events API (domain/storefront/replay.ts) and email a purchase's
 * report again (domain/storefront/report.ts).
 */
import { z } from 'zod';
import { maskEmail } from '../domain/log-mask.js';
import { eventsSince, signatureFailuresSince } from '../domain/queries/ops-events.js';
import { failedPurchasesSince, paidWithoutReport, purchaseStatusCounts, stalePendingPurchases } from '../domain/queries/purchases.js';
import { inboxSummary, lastInboxError } from '../domain/queries/webhook-inbox.js';
import { testAuthentication, testConnection } from '../domain/gateway/diagnostics.js';
import { CHECKOUT_EXPIRY_MARGIN_SECONDS, CHECKOUT_TTL_SECONDS } from '../domain/storefront/checkout.js';
import { DEV_STRIPE_WEBHOOK_SECRET } from '../domain/storefront/config.js';
import { replayEvents } from '../domain/storefront/replay.js';
import { resendReport } from '../domain/storefront/report.js';
import { PARKED_PREFIX, STRIPE_PROVIDER } from '../domain/storefront/webhook.js';
import type { RunbookContext } from './context.js';
import { pricingConfig, totalCalculation, TOTALS_WINDOW_MS } from './payment-pricing.js';
import { defineRunbook, evidenceOf, type Finding } from './define.js';

/** "Recent" in this runbook: 24 h in ms. */
export const RECENT_MS = 24 * 3600_000;

/** An inbox row unprocessed for longer than this (ms) is lagging (5 min). */
export const INBOX_LAG_MS = 5 * 60_000;

/**
 * A pending purchase with a Checkout Session and no event this long after creation missed its webhooks: the session
 * expires after {@link CHECKOUT_TTL_SECONDS} (+ margin) and Stripe then sends `checkout.session.expired`; 10 min of
 * slack for delivery.
 */
export const STALE_PENDING_MS = (CHECKOUT_TTL_SECONDS + CHECKOUT_EXPIRY_MARGIN_SECONDS) * 1000 + 10 * 60_000;

/** A paid purchase whose report is still unsent this long after it changed (ms) needs a resend (10 min). */
export const REPORT_GRACE_MS = 10 * 60_000;

/** Purchases compared against the total calculation (defined in runbooks/payment-pricing.ts). */
export { TOTALS_WINDOW_MS };

/** Live Stripe checks give up after this long (ms), below the diagnostic's own timeout. */
export const PROBE_TIMEOUT_MS = 4000;

const minutes = (ms: number) => Math.round(ms / 60_000);
const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);
const num = (v: unknown) => Number(v ?? 0);

/** Replaces e-mail addresses in free text (failure reasons, provider messages) and trims it. */
function mask(text: string, max = 160): string {
  const m = text.replace(/[^\s<>()"',;:]+@[^\s<>()"',;:]+/g, '<address>');
  return m.length > max ? `${m.slice(0, max - 1)}…` : m;
}

/** Resolves with `p`'s value, or `undefined` after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]).finally(() => clearTimeout(timer));
}

/** webhook-status: the Stripe inbox (last received, unprocessed, errored, parked), signature failures, the secret. */
async function webhookStatus(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const since = new Date(now.getTime() - RECENT_MS);
  const [inbox, sig, lastErr] = await Promise.all([
    inboxSummary(em, STRIPE_PROVIDER, since, new Date(now.getTime() - INBOX_LAG_MS), PARKED_PREFIX),
    signatureFailuresSince(em, 'stripe', since),
    lastInboxError(em, STRIPE_PROVIDER, PARKED_PREFIX),
  ]);
  const lastAt = inbox.lastReceivedAt;
  const evidence = {
    secret: ctx.services.config.storefront.stripeWebhookSecret === DEV_STRIPE_WEBHOOK_SECRET ? 'MISSING' : 'SET',
    lastEventReceivedAt: lastAt?.toISOString() ?? null,
    lastEventAgeMinutes: lastAt ? minutes(now.getTime() - lastAt.getTime()) : null,
    events: inbox.total,
    received24h: inbox.received,
    unprocessed: inbox.unprocessed,
    lagging: inbox.lagging,
    errored: inbox.errored,
    parked: inbox.parked,
    lastError: lastErr ? { eventId: lastErr.eventId, type: lastErr.type, error: mask(lastErr.error) } : null,
    /** Minutes with at least one rejected signature (the ops event is recorded once per minute). */
    signatureFailures24h: sig.count,
    lastSignatureFailureAt: iso(sig.lastAt),
    lastSignatureFailure: sig.lastReason ? mask(sig.lastReason) : null,
  };
  const secretLine = evidence.secret === 'SET' ? 'secret SET' : 'secret MISSING (development default in use)';
  const lastLine = lastAt ? `last Stripe event received ${evidence.lastEventAgeMinutes} min ago` : 'no Stripe event ever received';
  if (evidence.signatureFailures24h > 0) {
    return {
      status: 'problem',
      summary: `Stripe webhook signatures were rejected in ${evidence.signatureFailures24h} minute(s) of the last 24 h (last: ${evidence.lastSignatureFailure ?? 'no reason'}); ${lastLine}; ${secretLine}.`,
      evidence,
    };
  }
  if (evidence.errored > 0)
    return { status: 'problem', summary: `${evidence.errored} Stripe event(s) failed to apply (last: ${evidence.lastError?.error}); ${lastLine}.`, evidence };
  if (!lastAt) return { status: 'no_data', summary: `No Stripe event ever received; ${secretLine}.`, evidence };
  const line = `${evidence.received24h} Stripe event(s) in 24 h, ${lastLine}; ${evidence.unprocessed} unprocessed, ${evidence.parked} parked; ${secretLine}`;
  return { status: evidence.lagging > 0 ? 'warn' : 'ok', summary: `${line}.`, evidence };
}

/** recent-purchases: purchases by status (24 h and all), failures of the last 24 h with their reasons. */
async function recentPurchases(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const since = new Date(ctx.services.clock.now().getTime() - RECENT_MS);
  const [rows, failures] = await Promise.all([purchaseStatusCounts(em, since), failedPurchasesSince(em, since, 200)]);
  const all: Record<string, number> = {};
  const last24h: Record<string, number> = {};
  for (const r of rows) {
    all[r.status] = r.all;
    if (r.recent > 0) last24h[r.status] = r.recent;
  }
  const total = Object.values(all).reduce((s, n) => s + n, 0);
  const reasons = new Map<string, number>();
  let checkoutFailures = 0;
  for (const f of failures) {
    const reason = mask(f.reason ?? 'no reason recorded', 120);
    if (reason.startsWith('checkout session not created')) checkoutFailures++;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  const topReasons = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([reason, n]) => ({ reason, n }));
  const evidence = { all, last24h, total, failed24h: failures.length, checkoutFailures24h: checkoutFailures, topReasons, failedIds: failures.slice(0, 10).map((f) => f.id) };
  if (total === 0) return { status: 'no_data', summary: 'No purchases yet.', evidence };
  const counts = Object.entries(last24h).map(([s, n]) => `${n} ${s}`).join(', ') || 'none';
  const summary = `${total} purchases in all; created in the last 24 h: ${counts}`;
  if (checkoutFailures > 0)
    return { status: 'problem', summary: `${summary}; ${checkoutFailures} checkout(s) could not be created at Stripe (${topReasons[0]?.reason}).`, evidence };
  if (failures.length > 0) return { status: 'warn', summary: `${summary}; ${failures.length} payment(s) failed (most common: ${topReasons[0]?.reason}).`, evidence };
  return { status: 'ok', summary: `${summary}.`, evidence };
}

/** stale-pending: pending purchases with a Checkout Session, past its lifetime, that never got an event. */
async function stalePending(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const cutoff = new Date(now.getTime() - STALE_PENDING_MS);
  const rows = await stalePendingPurchases(em, cutoff, 200);
  const evidence = {
    count: rows.length,
    ids: rows.slice(0, 10).map((r) => r.id),
    oldestMinutes: rows[0] ? minutes(now.getTime() - rows[0].createdAt.getTime()) : null,
    thresholdMinutes: minutes(STALE_PENDING_MS),
  };
  if (rows.length === 0)
    return { status: 'ok', summary: `No pending purchase is past its checkout lifetime (${evidence.thresholdMinutes} min) without a Stripe event.`, evidence };
  return {
    status: 'problem',
    summary: `${rows.length} pending purchase(s) are older than the checkout lifetime (${evidence.thresholdMinutes} min) and never received a Stripe event (oldest ${evidence.oldestMinutes} min).`,
    evidence,
  };
}

/** stripe-connectivity: one live balance call for the network path and one for the key (raw adapters, no cache). */
async function stripeConnectivity(ctx: RunbookContext): Promise<Finding> {
  const s = ctx.services;
  const p = s.config.providers.stripe;
  const [conn, auth] = await Promise.all([within(testConnection(s, 'stripe'), PROBE_TIMEOUT_MS), within(testAuthentication(s, 'stripe'), PROBE_TIMEOUT_MS)]);
  const keyMode = !p.apiKey ? 'none' : /^(sk|rk)_live_/.test(p.apiKey) ? 'live' : /^(sk|rk)_test_/.test(p.apiKey) ? 'test' : 'unrecognised';
  const reachable = conn?.ok === true;
  const evidence = {
    apiKey: p.apiKey ? 'SET' : 'MISSING',
    mode: p.sandbox ? 'sandbox' : 'real',
    keyMode,
    reachable,
    connection: conn ? { ok: conn.ok, status: conn.status ?? null, latencyMs: conn.latencyMs, detail: mask(conn.detail, 200) } : { ok: false, detail: `no answer within ${PROBE_TIMEOUT_MS / 1000} s` },
    authOk: auth?.ok === true,
    auth: auth ? { ok: auth.ok, status: auth.status ?? null, providerCode: auth.providerCode ?? null, detail: mask(auth.detail, 200) } : null,
  };
  const where = p.sandbox ? 'the Stripe sandbox' : 'Stripe';
  if (!reachable) return { status: 'problem', summary: `${where} is unreachable: ${evidence.connection.detail}.`, evidence };
  if (!evidence.authOk)
    return { status: 'problem', summary: `${where} answers but refuses the API key (${auth?.status ? `HTTP ${auth.status}` : (auth?.detail ?? 'no answer')}); key ${evidence.apiKey}.`, evidence };
  return { status: 'ok', summary: `${where} answers and accepts the key (${evidence.apiKey}, ${keyMode} mode) in ${conn?.latencyMs} ms.`, evidence };
}

/** report-delivery: paid purchases whose report has not been emailed, and report failures of the last 24 h. */
async function reportDelivery(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const [rows, failed] = await Promise.all([
    paidWithoutReport(em, new Date(now.getTime() - REPORT_GRACE_MS), 50),
    eventsSince(em, 'report.failed', new Date(now.getTime() - RECENT_MS)),
  ]);
  const evidence = { unsent: rows.length, ids: rows.slice(0, 10), reportFailures24h: failed };
  if (rows.length === 0) return { status: 'ok', summary: `Every paid purchase has had its report emailed (${evidence.reportFailures24h} failure(s) in 24 h).`, evidence };
  return {
    status: 'problem',
    summary: `${rows.length} paid purchase(s) have no report emailed after ${minutes(REPORT_GRACE_MS)} min (ids ${evidence.ids.join(', ')}); ${evidence.reportFailures24h} report failure(s) in 24 h.`,
    evidence,
  };
}

/** The runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'payment-issues',
  title: 'Payment issues',
  symptoms: [
    'payments failing',
    'purchase stuck pending',
    'customer paid but no report',
    'report not received',
    'stripe webhook failing',
    'stripe signature invalid',
    'webhook signature failed',
    'no stripe events',
    'stripe unreachable',
    'stripe api key invalid',
    'wrong total charged',
    'tax calculation wrong',
    'checkout not working',
  ],
  diagnostics: [
    { id: 'webhook-status', title: 'Stripe webhook', run: webhookStatus },
    { id: 'recent-purchases', title: 'Recent purchases', run: recentPurchases },
    { id: 'stale-pending', title: 'Pending purchases past checkout', run: stalePending },
    { id: 'stripe-connectivity', title: 'Stripe connectivity and key', timeoutMs: PROBE_TIMEOUT_MS + 2000, run: stripeConnectivity },
    { id: 'pricing-config', title: 'Pricing configuration', run: pricingConfig },
    { id: 'total-calculation', title: 'Total calculation', run: totalCalculation },
    { id: 'report-delivery', title: 'Report delivery', run: reportDelivery },
  ],
  rootCauses: [
    {
      id: 'webhook-secret-mismatch',
      title: 'Stripe webhook signing secret does not match: signatures are rejected (set STRIPE_WEBHOOK_SECRET to the endpoint secret, then replay)',
      indicatedBy: (f) => num(evidenceOf(f, 'webhook-status').signatureFailures24h) > 0,
      remediations: ['replay-missed-events'],
    },
    {
      id: 'webhooks-not-arriving',
      title: 'Stripe webhooks are not arriving: purchases stay pending past checkout',
      indicatedBy: (f) => f['stale-pending']?.status === 'problem',
      remediations: ['replay-missed-events'],
    },
    {
      id: 'stripe-unreachable',
      title: 'Stripe is unreachable',
      indicatedBy: (f) => f['stripe-connectivity']?.status === 'problem' && evidenceOf(f, 'stripe-connectivity').reachable === false,
      remediations: [],
    },
    {
      id: 'stripe-api-key',
      title: 'Stripe API key invalid or revoked',
      indicatedBy: (f) => evidenceOf(f, 'stripe-connectivity').reachable === true && evidenceOf(f, 'stripe-connectivity').authOk === false,
      remediations: [],
    },
    {
      id: 'total-mismatch',
      title: 'Purchase totals do not match the price and tax calculation',
      indicatedBy: (f) => f['total-calculation']?.status === 'problem' || f['pricing-config']?.status === 'problem',
      remediations: [],
    },
    {
      id: 'report-not-sent',
      title: 'Paid purchases did not get their report',
      indicatedBy: (f) => f['report-delivery']?.status === 'problem',
      remediations: ['resend-report'],
    },
  ],
  remediations: [
    {
      id: 'replay-missed-events',
      title: 'Replay missed Stripe events',
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        "Fetch Stripe's events of the last hours from its events API and apply the ones we never received (purchases may become paid and their reports be emailed)?",
      idempotencyKey: (input) => `replay-stripe-events:${String(input.hours ?? 24)}`,
      recheck: 'stale-pending',
      inputSchema: z.object({ hours: z.number().int().min(1).max(720).default(24) }),
      defaultInput: () => ({ hours: 24 }),
      async run(ctx, input, actor) {
        const hours = typeof input.hours === 'number' ? input.hours : 24;
        const since = new Date(ctx.services.clock.now().getTime() - hours * 3600_000);
        const r = await replayEvents(ctx.services, { since });
        const outcomes: Record<string, number> = {};
        for (const x of r.results) outcomes[x.outcome] = (outcomes[x.outcome] ?? 0) + 1;
        const paid = r.results.filter((x) => x.becamePaid).length;
        ctx.services.logger.info({ actor, hours, listed: r.listed, missing: r.missing, outcomes }, 'stripe events replayed by operator');
        const detail = Object.entries(outcomes).map(([k, n]) => `${n} ${k}`).join(', ');
        return {
          summary: `Stripe listed ${r.listed} event(s) of the last ${hours} h; ${r.missing} were missing and replayed${detail ? ` (${detail})` : ''}; ${paid} purchase(s) became paid.${r.truncated ? ' The listing stopped at its page limit: run it again.' : ''}`,
        };
      },
    },
    {
      id: 'resend-report',
      title: "Email a purchase's report again",
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Email the audit report of this paid purchase to its buyer again?',
      idempotencyKey: (input) => `resend-report:${String(input.purchaseId)}`,
      recheck: 'report-delivery',
      inputSchema: z.object({ purchaseId: z.number().int().positive() }),
      defaultInput: (f) => {
        const ids = evidenceOf(f, 'report-delivery').ids;
        return Array.isArray(ids) && typeof ids[0] === 'number' ? { purchaseId: ids[0] } : {};
      },
      async run(ctx, input, actor) {
        const purchaseId = Number(input.purchaseId);
        const r = await resendReport(ctx.services, purchaseId);
        ctx.services.logger.info({ actor, purchaseId, messageId: r.messageId }, 'audit report resent by operator');
        return { summary: `Report of purchase ${purchaseId} emailed again to ${maskEmail(r.to)} (${Math.round(r.bytes / 1024)} KB PDF).` };
      },
    },
  ],
});
