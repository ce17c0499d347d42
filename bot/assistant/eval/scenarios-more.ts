/**
 * More eval scenarios, by category, with the questions written before any of them was run: typos, other languages
 * (French, German, Spanish), indirect symptoms (the question names an effect several steps from the cause),
 * compound faults (two problems, one of them unrelated to the question; history against the present), healthy
 * systems asked alarming questions, and vague questions (the whole-system picture). Faults are put into the
 * sandbox, the database and the process probes, as in scenarios.ts.
 */
import type { EvalEnv, EvalScenario } from './scenarios.js';
import { seedBusiness, seedEmail, seedEvent, seedPurchase, seedRun } from './scenarios.js';
import {
  deactivateAllTargets,
  deleteAllJobRuns,
  dropIndexIfExists,
  messageIdIndexes,
  recreateIndex,
  seedJobRun,
  seedOpsEvent,
  seedSetting,
  seedUnauthorizedApiCall,
  zeroAllTargetQuotas,
} from '../../../domain/queries/eval-seed.js';

const HOUR = 3600_000;
const MIN = 60_000;
const GIB = 1024 ** 3;
const ago = (ms: number) => new Date(Date.now() - ms);

const fault = (provider: 'yelp' | 'pagespeed' | 'openai' | 'sendgrid' | 'stripe', kind: string, extra: { status?: number } = {}) => async (env: EvalEnv) =>
  void (await env.sandbox.setFault(provider, { fault: kind as never, ...extra }));
const zeroQuotas = (env: EvalEnv) => zeroAllTargetQuotas(env.em());
const both = (...fs: ((env: EvalEnv) => Promise<void>)[]) => async (env: EvalEnv) => {
  for (const f of fs) await f(env);
};

/** 20 sent emails of which 4 bounced (24 h bounce rate 20 %). */
async function bounces(env: EvalEnv): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const bounced = i < 4;
    const reason = `550 5.1.1 <info@b${i}.example.com>: Recipient address rejected`;
    const id = await seedEmail(env, { status: bounced ? 'bounced' : 'delivered', sentAgo: 3 * HOUR, createdAgo: 3 * HOUR, lastEventAgo: 2 * HOUR, bounceReason: bounced ? reason : undefined });
    await seedEvent(env, id, 'processed', 3 * HOUR - MIN);
    if (bounced) await seedEvent(env, id, 'bounce', 2 * HOUR, { type: 'bounce', reason });
    else await seedEvent(env, id, 'delivered', 2 * HOUR);
  }
}
const stuckEmail = async (env: EvalEnv) => void (await seedEmail(env, { status: 'sending', claimedAgo: 3 * HOUR, createdAgo: 3 * HOUR }));
const paidNoReport = async (env: EvalEnv) => void (await seedPurchase(env, { status: 'paid', reportSent: false }));
const wrongTotal = async (env: EvalEnv) => void (await seedPurchase(env, { status: 'paid', taxCents: 693, totalCents: 10593, reportSent: true }));
const stalledRun = async (env: EvalEnv) => {
  await deleteAllJobRuns(env.em());
  await seedRun(env, 'running', 5 * HOUR, 3 * HOUR);
};
const deliveryPaused = async (env: EvalEnv) => {
  const { setDeliveryPaused } = await import('../../../domain/delivery/pause.js');
  await setDeliveryPaused(env.em(), true, 'slack:U0EVAL', new Date());
  await seedEmail(env, { createdAgo: 3 * HOUR });
};
/** Key refusals logged by the ledger in the last hour (history), for `provider`. */
const pastAuthErrors = (provider: string) => async (env: EvalEnv) => {
  for (let i = 0; i < 4; i++)
    await seedUnauthorizedApiCall(env.em(), provider, ago((10 + i * 5) * MIN));
};

/** The index missing-index scenarios drop; restored by their teardown. */
let droppedIndex: string | undefined;
async function dropMessageIdIndex(env: EvalEnv): Promise<void> {
  for (const index of await messageIdIndexes(env.em())) {
    droppedIndex = index.definition;
    await dropIndexIfExists(env.em(), index.name);
  }
}
async function restoreIndex(env: EvalEnv): Promise<void> {
  if (droppedIndex) await recreateIndex(env.em(), droppedIndex);
  droppedIndex = undefined;
}

const pressure = { memoryUsage: () => ({ rss: 2 * GIB, heapTotal: 1.6 * GIB, heapUsed: 1.4 * GIB, external: 1e7, arrayBuffers: 1e6 }) };

/** The additional scenarios (61). */
export const MORE_SCENARIOS: EvalScenario[] = [
  // ---- typos
  { name: 'typo-sendgrid', category: 'typo', question: 'emials stuk in sendng since this morning', expected: 'sendgrid-api-key', setup: both(fault('sendgrid', 'invalid_key'), stuckEmail) },
  { name: 'typo-bounce', category: 'typo', question: 'why are so many emials bouncng??', expected: 'high-bounce-rate', bare: true, setup: bounces },
  { name: 'typo-quota', category: 'typo', question: 'no new leds sourced todya', expected: 'no-targeting-quota', setup: zeroQuotas },
  { name: 'typo-total', category: 'typo', question: 'custmer was chraged the wrong totla', expected: 'total-mismatch', setup: wrongTotal },
  { name: 'typo-memory', category: 'typo', question: 'servce is eating al the memroy', expected: 'high-memory', probes: pressure },
  { name: 'typo-pagespeed', category: 'typo', question: 'pagespeeed assesments failng', expected: 'pagespeed-unavailable', setup: fault('pagespeed', 'server_error', { status: 503 }) },
  { name: 'typo-paused', category: 'typo', question: 'pipline didnt run, is it pasued?', expected: 'pipeline-paused', setup: async (env) => env.ctx.jobs.pause('daily-pipeline', 'eval') },
  { name: 'typo-stripe', category: 'typo', question: 'strpe chekout brokn', expected: 'stripe-api-key', setup: fault('stripe', 'invalid_key') },
  // ---- other languages
  { name: 'fr-sendgrid', category: 'language', question: "Pourquoi aucun courriel n'est parti aujourd'hui ?", expected: 'sendgrid-api-key', setup: fault('sendgrid', 'invalid_key') },
  { name: 'de-total', category: 'language', question: 'Warum wurde dem Kunden ein falscher Betrag berechnet?', expected: 'total-mismatch', setup: wrongTotal },
  { name: 'es-leads', category: 'language', question: '¿Por qué no hay prospectos nuevos hoy?', expected: 'no-active-targets', setup: (env) => deactivateAllTargets(env.em()) },
  { name: 'fr-bounce', category: 'language', question: 'Le taux de rebond des e-mails explose, pourquoi ?', expected: 'high-bounce-rate', bare: true, setup: bounces },
  { name: 'de-memory', category: 'language', question: 'Der Server braucht extrem viel Arbeitsspeicher', expected: 'high-memory', probes: pressure },
  { name: 'es-stripe', category: 'language', question: 'Los pagos fallan, ¿Stripe rechaza la clave?', expected: 'stripe-api-key', setup: fault('stripe', 'invalid_key') },
  { name: 'fr-pagespeed', category: 'language', question: 'Les évaluations PageSpeed échouent depuis ce matin', expected: 'pagespeed-quota-exhausted', setup: fault('pagespeed', 'quota_exhausted') },
  { name: 'de-report', category: 'language', question: 'Käufer bekommen ihren Bericht nicht', expected: 'report-not-sent', setup: paidNoReport },
  { name: 'es-paused', category: 'language', question: '¿El envío de correos está pausado?', expected: 'delivery-paused', setup: deliveryPaused },
  { name: 'de-stripe-down', category: 'language', question: 'Zahlungsfehler seit gestern, Stripe antwortet nicht', expected: 'stripe-unreachable', setup: fault('stripe', 'server_error', { status: 503 }) },
  // ---- indirect symptoms
  { name: 'outreach-pagespeed-quota', category: 'indirect', question: 'no new outreach drafted today', expected: 'pagespeed-quota-exhausted', setup: fault('pagespeed', 'quota_exhausted') },
  { name: 'reports-sendgrid', category: 'indirect', question: "buyers aren't getting their reports", expected: 'sendgrid-api-key', effects: ['report-not-sent'], setup: both(fault('sendgrid', 'invalid_key'), paidNoReport) },
  { name: 'box-swapping', category: 'indirect', question: 'the box is swapping', expected: 'high-memory', probes: { freeMemBytes: () => 0.2 * GIB, totalMemBytes: () => 16 * GIB } },
  { name: '2am-job', category: 'indirect', question: 'why is the 2am job still going?', expected: 'pipeline-stalled', setup: stalledRun },
  { name: 'runs-slower', category: 'indirect', question: 'runs get slower every day', expected: 'missing-index', setup: dropMessageIdIndex, teardown: restoreIndex },
  { name: 'no-emails-openai-breaker', category: 'indirect', question: 'no emails went out today, personalization seems stuck', expected: 'breaker-open', effects: ['openai-unavailable'], setup: async (env) => env.services.gateway.breaker.forceOpen('openai', 'by eval', { forMs: 10 * MIN }) },
  { name: 'slack-slow', category: 'indirect', question: 'slash commands take forever to respond', expected: 'event-loop-blocked', probes: { eventLoopLagMs: () => 1800 } },
  { name: 'leads-yelp-key', category: 'indirect', question: 'lead count has been zero since the key rotation', expected: 'yelp-api-key', setup: fault('yelp', 'invalid_key') },
  { name: 'site-checkout', category: 'indirect', question: "people can't buy the audit on the site", expected: 'stripe-api-key', setup: fault('stripe', 'invalid_key') },
  { name: 'no-scores', category: 'indirect', question: 'new businesses have no scores', expected: 'pagespeed-unavailable', setup: fault('pagespeed', 'server_error', { status: 500 }) },
  { name: 'openai-429', category: 'indirect', question: 'AI insights stopped appearing, openai says too many requests', expected: 'openai-rate-limit', setup: fault('openai', 'rate_limit') },
  { name: 'openai-credits', category: 'indirect', question: 'personalised emails stopped, is it openai billing?', expected: 'openai-quota-exhausted', setup: fault('openai', 'quota_exhausted') },
  { name: 'openai-key', category: 'indirect', question: 'drafts are empty since we rotated the openai key', expected: 'openai-api-key', setup: fault('openai', 'invalid_key') },
  { name: 'sendgrid-credits', category: 'indirect', question: 'outbound mail stopped, did we run out of sendgrid credits?', expected: 'sendgrid-quota-exhausted', setup: fault('sendgrid', 'quota_exhausted') },
  { name: 'sendgrid-429', category: 'indirect', question: 'sendgrid is throttling us', expected: 'sendgrid-rate-limit', setup: fault('sendgrid', 'rate_limit') },
  { name: 'sendgrid-502', category: 'indirect', question: 'mail sending errors, sendgrid returns 502', expected: 'sendgrid-unavailable', setup: fault('sendgrid', 'server_error', { status: 502 }) },
  { name: 'stripe-429', category: 'indirect', question: 'stripe keeps answering 429', expected: 'stripe-rate-limit', setup: fault('stripe', 'rate_limit') },
  { name: 'pagespeed-key', category: 'indirect', question: 'pagespeed says API key not valid', expected: 'pagespeed-api-key', setup: fault('pagespeed', 'invalid_key') },
  { name: 'pagespeed-429', category: 'indirect', question: 'lighthouse audits are being throttled', expected: 'pagespeed-rate-limit', setup: fault('pagespeed', 'rate_limit') },
  { name: 'yelp-quota', category: 'indirect', question: 'Yelp says we hit the daily access limit', expected: 'yelp-quota-exhausted', setup: fault('yelp', 'quota_exhausted') },
  {
    name: 'stripe-signatures',
    category: 'indirect',
    question: 'stripe webhooks get rejected with signature errors',
    expected: 'webhook-secret-mismatch',
    setup: (env) =>
      seedOpsEvent(env.em(), { type: 'webhook.signature_failed', severity: 'warning', payload: { provider: 'stripe', reason: 'No signatures found matching the expected signature' }, dedupKey: 'eval-sig', at: ago(20 * MIN) }),
  },
  { name: 'purchases-pending', category: 'indirect', question: 'purchases stay pending after checkout', expected: 'webhooks-not-arriving', setup: async (env) => void (await seedPurchase(env, { status: 'pending', agoMs: 3 * HOUR })) },
  {
    name: 'huge-batches',
    category: 'indirect',
    question: 'the worker batches look huge, should we shrink them?',
    expected: 'large-batches',
    setup: (env) => seedSetting(env.em(), 'delivery.email_batch_size', 500),
  },
  { name: 'backup-failed', category: 'indirect', question: 'did last night’s backup fail?', expected: 'no-recent-backup', setup: (env) => seedJobRun(env.em(), { job: 'backup', status: 'failed', startedAt: ago(5 * HOUR), heartbeatAt: ago(5 * HOUR), finishedAt: ago(5 * HOUR), counts: {}, error: 'pg_dump: error: connection refused' }) },
  { name: 'sendgrid-timeout', category: 'indirect', question: 'sendgrid hangs and sends time out', expected: 'sendgrid-unavailable', setup: fault('sendgrid', 'timeout') },
  // ---- compound faults
  { name: 'c-outreach-vs-paused', category: 'compound', question: 'no new outreach drafted today', expected: 'pagespeed-quota-exhausted', setup: both(fault('pagespeed', 'quota_exhausted'), deliveryPaused) },
  { name: 'c-emails-vs-quota', category: 'compound', question: "why aren't emails going out?", expected: 'sendgrid-api-key', setup: both(fault('sendgrid', 'invalid_key'), zeroQuotas) },
  { name: 'c-leads-vs-sendgrid', category: 'compound', question: 'no new leads today', expected: 'no-targeting-quota', setup: both(fault('sendgrid', 'invalid_key'), zeroQuotas) },
  { name: 'c-checkout-vs-memory', category: 'compound', question: 'checkout fails for customers', expected: 'stripe-api-key', probes: pressure, setup: fault('stripe', 'invalid_key') },
  { name: 'c-report-vs-total', category: 'compound', question: 'customer paid but never got the report', expected: 'report-not-sent', setup: both(wrongTotal, paidNoReport) },
  { name: 'c-yelp-now-vs-past', category: 'compound', question: 'is yelp down?', expected: 'yelp-unavailable', setup: both(pastAuthErrors('yelp'), fault('yelp', 'server_error', { status: 503 })) },
  { name: 'c-paused-vs-pagespeed', category: 'compound', question: 'why did no emails go out today?', expected: 'delivery-paused', setup: both(fault('pagespeed', 'server_error', { status: 503 }), deliveryPaused) },
  { name: 'c-bounce-vs-lag', category: 'compound', question: 'bounces are up this week', expected: 'high-bounce-rate', bare: true, probes: { eventLoopLagMs: () => 1500 }, setup: bounces },
  {
    name: 'c-stuck-items',
    category: 'compound',
    question: 'emails sit in the queue for hours',
    expected: 'emails-stuck-pending',
    setup: async (env) => {
      await stuckEmail(env);
      await seedBusiness(env, { status: 'assessed' });
    },
  },
  // ---- healthy systems, alarming questions
  { name: 'h-pipeline-down', category: 'healthy', question: 'URGENT: is the pipeline down?? nothing works', expected: null },
  { name: 'h-double-charge', category: 'healthy', question: 'customers are complaining they were double charged!!', expected: null },
  { name: 'h-sendgrid-fire', category: 'healthy', question: 'sendgrid is on fire on twitter, are we affected?', expected: null },
  { name: 'h-fr', category: 'healthy', question: 'Est-ce que tout va bien ? Les e-mails partent ?', expected: null },
  { name: 'h-db-dying', category: 'healthy', question: 'the database is dying, queries time out everywhere', expected: null },
  { name: 'h-leak', category: 'healthy', question: 'are we leaking memory? the box looks bad', expected: null },
  // ---- vague questions: the whole-system picture
  { name: 'v-off', category: 'vague', question: "something's off, can you take a look?", expected: 'sendgrid-api-key', setup: fault('sendgrid', 'invalid_key') },
  { name: 'v-hmm', category: 'vague', question: 'hmm', expected: 'no-targeting-quota', setup: zeroQuotas },
  { name: 'v-standup', category: 'vague', question: 'anything I should know before standup?', expected: 'stripe-api-key', setup: fault('stripe', 'invalid_key') },
];
