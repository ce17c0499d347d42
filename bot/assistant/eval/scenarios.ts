/**
 * Eval scenarios for the ops assistant: each puts one fault into the provider sandbox (`sandboxAdmin(url).setFault`)
 * or the database (seeded rows), on top of a healthy baseline, and asks a question the way an operator would type
 * it. `expected` is the root-cause id the answer must name (null: nothing is wrong).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SandboxAdmin } from '../../../domain/sandbox/index.js';
import type { Services } from '../../../domain/services.js';
import type { ProcessProbes, RunbookContext } from '../../../runbooks/context.js';
import { calculateTotal } from '../../../domain/storefront/pricing.js';
import type { ActiveAlert } from '../planner.js';
import {
  deactivateAllTargets,
  deleteAllJobRuns,
  seedAssessmentResult,
  seedBusinessRow,
  seedEmailEvent,
  seedEmailWithBusiness,
  seedErrorRecord,
  seedJobRun,
  seedPurchaseRow,
  zeroAllTargetQuotas,
} from '../../../domain/queries/eval-seed.js';

/** What a scenario's setup gets. */
export interface EvalEnv {
  services: Services;
  ctx: RunbookContext;
  sandbox: SandboxAdmin;
  em(): EntityManager;
}

/** Scenario categories (accuracy is printed per category). */
export type EvalCategory = 'plain' | 'typo' | 'language' | 'indirect' | 'compound' | 'healthy' | 'vague';

/** One eval scenario. */
export interface EvalScenario {
  name: string;
  /** Default `plain`: an English question naming the symptom. */
  category?: EvalCategory;
  question: string;
  /** Expected root-cause id (null: healthy, no root cause). */
  expected: string | null;
  setup?(env: EvalEnv): Promise<void>;
  /** Undoes what truncation does not (e.g. a dropped index). */
  teardown?(env: EvalEnv): Promise<void>;
  /** Causes the answer should list as effects of the expected one (coverage of downstream causes). */
  effects?: string[];
  /** Process probes replacing the calm defaults (memory scenarios). */
  probes?: Partial<ProcessProbes>;
  /** Firing alerts inserted into the alerts table. */
  alerts?: (ActiveAlert & { fingerprint: string })[];
  /** Skip the healthy email/assessment baseline (scenarios that need an empty table). */
  bare?: boolean;
}

const HOUR = 3600_000;
const MIN = 60_000;
const ago = (ms: number) => new Date(Date.now() - ms);
let seq = 0;

/** Inserts an email (and its business); returns its id. */
export async function seedEmail(
  env: EvalEnv,
  s: { to?: string; status?: string; spamScore?: number; spamReasons?: string[]; createdAgo?: number; sentAgo?: number; claimedAgo?: number; bounceReason?: string; providerMessageId?: string; lastEventAgo?: number } = {},
): Promise<number> {
  const n = ++seq;
  const created = ago(s.createdAgo ?? 2 * HOUR);
  return seedEmailWithBusiness(env.em(), {
    business: { yelpId: `ev-${n}-${Date.now()}`, name: `Biz ${n}`, website: `https://biz${n}.com/`, at: created },
    to: s.to ?? `info@biz${n}.example.com`,
    subject: `Hi ${n}`,
    spamScore: s.spamScore ?? 5,
    spamReasons: s.spamReasons ?? [],
    status: s.status ?? 'pending',
    createdAt: created,
    sentAt: s.sentAgo === undefined ? null : ago(s.sentAgo),
    claimedAt: s.claimedAgo === undefined ? null : ago(s.claimedAgo),
    bounceReason: s.bounceReason ?? null,
    providerMessageId: s.providerMessageId ?? null,
    lastEventAt: s.lastEventAgo === undefined ? null : ago(s.lastEventAgo),
    bouncedAt: s.status === 'bounced' ? (s.lastEventAgo === undefined ? created : ago(s.lastEventAgo)) : null,
  });
}

/** Stores a SendGrid event for an email. */
export async function seedEvent(env: EvalEnv, emailId: number | null, name: string, receivedAgo: number, extra: { reason?: string; type?: string } = {}): Promise<void> {
  const n = ++seq;
  const at = ago(receivedAgo);
  await seedEmailEvent(env.em(), { dedupKey: `evt-${n}-${Date.now()}`, emailId, event: name, reason: extra.reason ?? null, at, payload: { event: name, ...(extra.type ? { type: extra.type } : {}) } });
}

/** Inserts a business in an assessment state; returns its id. */
export async function seedBusiness(env: EvalEnv, b: { name?: string; website?: string | null; status?: string; attempts?: number; changedAgoMs?: number }): Promise<number> {
  const n = ++seq;
  const at = ago(b.changedAgoMs ?? MIN);
  return seedBusinessRow(env.em(), {
    yelpId: `yb-${n}-${Date.now()}`,
    name: b.name ?? `Business ${n}`,
    website: b.website === undefined ? `https://site${n}.com/` : b.website,
    status: b.status ?? 'assessment_pending',
    attempts: b.attempts ?? 0,
    at,
  });
}

/** Inserts an assessment result. */
export async function seedResult(env: EvalEnv, businessId: number, status: 'completed' | 'partial' | 'failed', error: string | null = null): Promise<void> {
  await seedAssessmentResult(env.em(), businessId, status, error, ago(10 * MIN));
}

/** A daily-pipeline run. */
export async function seedRun(env: EvalEnv, status: string, startedAgoMs: number, heartbeatAgoMs = startedAgoMs, error: string | null = null): Promise<void> {
  const finished = status === 'running' ? null : ago(Math.max(0, startedAgoMs - MIN));
  await seedJobRun(env.em(), { job: 'daily-pipeline', status, startedAt: ago(startedAgoMs), heartbeatAt: ago(heartbeatAgoMs), finishedAt: finished, counts: { sourced: 40, assessed: 30, emailed: 10 }, error });
}

/** Error records in the last hour. */
export async function seedErrors(env: EvalEnv, n: number, msg = 'assessment failed: HTTP 500 from PageSpeed', component = 'assessment'): Promise<void> {
  for (let i = 0; i < n; i++)
    await seedErrorRecord(env.em(), { at: ago((i + 1) * MIN), component, msg });
}

/**
 * A purchase row priced as the storefront prices it (configured price, tax at the configured rate, via
 * domain/storefront/pricing.ts `calculateTotal`), unless `taxCents`/`totalCents` are given on purpose.
 */
export async function seedPurchase(env: EvalEnv, p: { status: string; totalCents?: number; taxCents?: number; reportSent?: boolean; agoMs?: number }): Promise<number> {
  const n = ++seq;
  const at = ago(p.agoMs ?? HOUR);
  const cfg = env.services.config.storefront;
  const price = calculateTotal(cfg.auditReportPriceCents, cfg.taxRate);
  return seedPurchaseRow(env.em(), {
    customerEmail: `buyer${n}@example.com`,
    amountCents: price.baseCents,
    taxCents: p.taxCents ?? price.taxCents,
    totalCents: p.totalCents ?? price.totalCents,
    status: p.status,
    sessionId: `cs_test_ev${n}_${Date.now()}`,
    paymentIntentId: `pi_ev${n}_${Date.now()}`,
    reportSentAt: p.reportSent ? at : null,
    at,
  });
}

/** The healthy baseline every scenario starts from: demo targets, a run 2 h ago, a delivered day, assessed businesses. */
export async function seedBaseline(env: EvalEnv, bare = false): Promise<void> {
  const { seedDemoTargetsIfEmpty } = await import('../../../domain/targeting/seed.js');
  await seedDemoTargetsIfEmpty(env.em(), new Date());
  await seedRun(env, 'succeeded', 2 * HOUR);
  if (bare) return;
  for (let i = 0; i < 10; i++) {
    const id = await seedEmail(env, { status: 'delivered', sentAgo: 2 * HOUR, createdAgo: 2 * HOUR, lastEventAgo: 110 * MIN, providerMessageId: `m${i}` });
    await seedEvent(env, id, 'processed', 119 * MIN);
    await seedEvent(env, id, 'delivered', 110 * MIN);
  }
  for (let i = 0; i < 3; i++) await seedResult(env, await seedBusiness(env, { status: 'assessed' }), 'completed');
}

const GIB = 1024 ** 3;

/** The scenarios (≥ 25). */
export const SCENARIOS: EvalScenario[] = [
  { name: 'healthy', category: 'healthy', question: 'is everything ok this morning?', expected: null },
  // ---- pipeline
  {
    name: 'yelp-429',
    question: "Why didn't we get any new leads from Yelp today? It keeps saying too many requests",
    expected: 'yelp-rate-limit',
    async setup(env) {
      await env.sandbox.setFault('yelp', { fault: 'rate_limit', retryAfterSeconds: 20, count: 2 });
      for (let i = 0; i < 2; i++) await env.services.providers.yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 5, offset: i * 5 }).catch(() => undefined);
    },
  },
  { name: 'quota-zero', question: 'no new businesses were sourced today, what is going on?', expected: 'no-targeting-quota', setup: (env) => zeroAllTargetQuotas(env.em()) },
  { name: 'no-targets', question: "the pipeline isn't finding any leads at all", expected: 'no-active-targets', setup: (env) => deactivateAllTargets(env.em()) },
  { name: 'pipeline-paused', question: "Did the pipeline run? I don't see new leads and the schedule looks off", expected: 'pipeline-paused', setup: async (env) => env.ctx.jobs.pause('daily-pipeline', 'eval') },
  {
    name: 'pipeline-not-scheduled',
    question: 'the daily pipeline did not run, nothing sourced since yesterday',
    expected: 'pipeline-not-scheduled',
    async setup(env) {
      await deleteAllJobRuns(env.em());
      await seedRun(env, 'succeeded', 30 * HOUR);
    },
  },
  {
    name: 'pipeline-stalled',
    question: 'pipeline seems stuck, businesses are not moving through',
    expected: 'pipeline-stalled',
    async setup(env) {
      await deleteAllJobRuns(env.em());
      await seedRun(env, 'running', 3 * HOUR, 2 * HOUR);
      await seedBusiness(env, { name: 'Stuck', status: 'assessment_pending', changedAgoMs: 2 * HOUR });
    },
  },
  // ---- email
  {
    name: 'sendgrid-401',
    question: 'emails are not going out, sendgrid says unauthorized',
    expected: 'sendgrid-api-key',
    setup: async (env) => void (await env.sandbox.setFault('sendgrid', { fault: 'invalid_key' })),
  },
  {
    name: 'high-bounce',
    question: 'our bounce rate is way up, why are emails bouncing?',
    expected: 'high-bounce-rate',
    bare: true,
    async setup(env) {
      for (let i = 0; i < 20; i++) {
        const bounced = i < 4;
        const reason = `550 5.1.1 <info@biz${i}.example.com>: Recipient address rejected`;
        const id = await seedEmail(env, { status: bounced ? 'bounced' : 'delivered', sentAgo: 3 * HOUR, createdAgo: 3 * HOUR, lastEventAgo: 2 * HOUR, bounceReason: bounced ? reason : undefined });
        await seedEvent(env, id, 'processed', 3 * HOUR - MIN);
        if (bounced) await seedEvent(env, id, 'bounce', 2 * HOUR, { type: 'bounce', reason });
        else await seedEvent(env, id, 'delivered', 2 * HOUR);
      }
    },
  },
  {
    name: 'emails-stuck',
    question: 'some emails have been stuck in sending for hours',
    expected: 'emails-stuck-pending',
    async setup(env) {
      await seedEmail(env, { status: 'sending', claimedAgo: 4 * HOUR, createdAgo: 4 * HOUR });
      await seedEmail(env, { status: 'pending', createdAgo: 5 * HOUR });
    },
  },
  {
    name: 'spam',
    question: 'are our emails being flagged as spam? recipients complain',
    expected: 'spam-content',
    async setup(env) {
      for (let i = 0; i < 4; i++) await seedEmail(env, { status: 'held', spamScore: 70, spamReasons: ['ALL CAPS subject', 'free offer'], createdAgo: HOUR });
      await seedEmail(env, { status: 'spam_reported', spamScore: 45, sentAgo: 3 * HOUR, lastEventAgo: HOUR, spamReasons: ['free offer'] });
    },
  },
  {
    name: 'webhook-silent',
    question: "we haven't received any delivery events from sendgrid for hours",
    expected: 'webhook-not-receiving',
    bare: true,
    async setup(env) {
      for (let i = 0; i < 6; i++) await seedEmail(env, { status: 'sent', sentAgo: 3 * HOUR, createdAgo: 3 * HOUR, providerMessageId: `w${i}` });
      await seedEvent(env, null, 'open', 30 * HOUR);
    },
  },
  {
    name: 'delivery-paused',
    question: 'why did no emails go out today?',
    expected: 'delivery-paused',
    async setup(env) {
      const { setDeliveryPaused } = await import('../../../domain/delivery/pause.js');
      await setDeliveryPaused(env.em(), true, 'slack:U0EVAL', new Date());
      await seedEmail(env, { createdAgo: 3 * HOUR });
    },
  },
  {
    name: 'invalid-addresses',
    question: 'are we queueing emails to bad or misspelled addresses?',
    expected: 'invalid-addresses',
    async setup(env) {
      for (const to of ['bob@gmial.com', 'nobody@shop.test', 'a@b']) await seedEmail(env, { to, createdAgo: 10 * MIN });
    },
  },
  // ---- assessments
  { name: 'pagespeed-503', question: 'assessments keep failing with pagespeed errors', expected: 'pagespeed-unavailable', setup: async (env) => void (await env.sandbox.setFault('pagespeed', { fault: 'server_error', status: 503 })) },
  { name: 'pagespeed-quota', question: 'PageSpeed says quota exceeded and assessments stopped', expected: 'pagespeed-quota-exhausted', setup: async (env) => void (await env.sandbox.setFault('pagespeed', { fault: 'quota_exhausted' })) },
  { name: 'openai-down', question: 'the latest assessments have no AI insights', expected: 'openai-unavailable', setup: async (env) => void (await env.sandbox.setFault('openai', { fault: 'server_error', status: 500 })) },
  {
    name: 'invalid-websites',
    question: 'lots of businesses seem to have broken website urls',
    expected: 'invalid-websites',
    async setup(env) {
      for (const website of ['http//fix-me.com', 'http://localhost/admin', 'WWW.Cosmetic.com/Path', 'not a url at all']) await seedBusiness(env, { website });
    },
  },
  {
    name: 'failed-assessments',
    question: 'why are so many assessments failing?',
    expected: 'failed-assessments',
    async setup(env) {
      for (let i = 0; i < 4; i++) {
        const id = await seedBusiness(env, { status: 'assessment_failed', attempts: i < 2 ? 1 : 3 });
        await seedResult(env, id, 'failed', i < 3 ? 'pagespeed: HTTP 500 backendError' : 'deadline exceeded');
      }
    },
  },
  {
    name: 'assessment-backlog',
    question: 'businesses are piling up waiting for assessment',
    expected: 'assessment-backlog',
    async setup(env) {
      for (let i = 0; i < 30; i++) await seedBusiness(env, { changedAgoMs: 120 * MIN });
    },
  },
  // ---- payments
  { name: 'stripe-401', question: 'checkout is broken, stripe rejects our api key', expected: 'stripe-api-key', setup: async (env) => void (await env.sandbox.setFault('stripe', { fault: 'invalid_key' })) },
  {
    name: 'total-mismatch',
    question: 'a customer says they were charged the wrong total for the audit report',
    expected: 'total-mismatch',
    setup: async (env) => void (await seedPurchase(env, { status: 'paid', taxCents: 693, totalCents: 10593, reportSent: true })),
  },
  { name: 'report-not-sent', question: 'customer paid but never received their report', expected: 'report-not-sent', setup: async (env) => void (await seedPurchase(env, { status: 'paid', reportSent: false })) },
  // ---- external APIs
  {
    name: 'breaker-open',
    question: 'calls to a provider are being refused, is a circuit breaker open?',
    expected: 'breaker-open',
    setup: async (env) => env.services.gateway.breaker.forceOpen('openai', 'by eval', { forMs: 10 * MIN }),
  },
  // ---- memory and resources
  {
    name: 'high-memory',
    question: 'the service is using a lot of memory, is it leaking?',
    expected: 'high-memory',
    probes: { memoryUsage: () => ({ rss: 2 * GIB, heapTotal: 1.6 * GIB, heapUsed: 1.4 * GIB, external: 1e7, arrayBuffers: 1e6 }) },
  },
  { name: 'event-loop', question: 'the bot answers slowly and slack commands time out', expected: 'event-loop-blocked', probes: { eventLoopLagMs: () => 1500 } },
  // ---- quick diagnostics
  { name: 'recurring-errors', question: 'lots of errors in the logs in the last hour, what is happening?', expected: 'recurring-errors', setup: (env) => seedErrors(env, 60) },
  {
    name: 'last-run-failed',
    question: 'is everything ok? the last pipeline run failed',
    expected: 'pipeline-not-running',
    async setup(env) {
      await deleteAllJobRuns(env.em());
      await seedRun(env, 'failed', HOUR, HOUR, 'sourcing failed: database timeout');
    },
  },
  // ---- alerts break a vague question's tie
  {
    name: 'vague-with-alert',
    category: 'vague',
    question: "something's wrong, can you check?",
    expected: 'sendgrid-api-key',
    alerts: [{ fingerprint: 'eval-sg', name: 'SendGridAuthFailing', severity: 'critical', runbook: 'email-delivery' }],
    setup: async (env) => void (await env.sandbox.setFault('sendgrid', { fault: 'invalid_key' })),
  },
];
