/**
 * How root causes relate across runbooks (data kept apart from the runbook files): which symptoms ("topics") each
 * cause produces, which other causes' symptoms it explains, and which provider it concerns. The ops assistant's
 * planner uses it to name the most upstream indicated cause of what was asked, list the effects it explains and
 * mention unrelated problems apart.
 *
 * - **Topics** are what operators ask about (no new leads, assessments failing, nothing sent, reports not
 *   delivered, …). A cause lists the topics it produces directly; {@link TOPIC_FLOW} carries a fault downstream
 *   along the pipeline (leads → assessments → outreach → sending), so PageSpeed's spent quota (assessments) also
 *   answers "no outreach drafted today", one step further away.
 * - **Explains**: a cause explains another when the other's symptoms follow from it (SendGrid refusing the key
 *   explains emails stuck in sending and paid reports not delivered). Static lists here, plus rules over the
 *   findings: a provider's live failure explains that provider's other causes and its downstream ones; an open
 *   breaker explains a provider looking unavailable only while the live test (which bypasses the breaker) finds
 *   the provider itself fine; a stalled run explains stuck items only when the run itself stalled.
 * - **The present outranks the past**: a cause whose only evidence is history (error logs, the last hour's
 *   ledger) never explains a cause seen now, and is ranked below it.
 */
import { PROVIDERS, type ProviderId } from '../domain/config.js';
import type { Finding } from './define.js';
import { liveFailure, parseFailureCause } from './provider-causes.js';

/** What operators ask about. */
export const TOPICS = [
  'leads',
  'pipeline',
  'assessments',
  'outreach',
  'sending',
  'deliverability',
  'reports',
  'payments',
  'providers',
  'database',
  'performance',
  'resources',
  'errors',
  'backup',
] as const;
export type Topic = (typeof TOPICS)[number];

/** A fault in a topic shows downstream in these (one step each). */
export const TOPIC_FLOW: Readonly<Partial<Record<Topic, Topic[]>>> = {
  pipeline: ['leads'],
  leads: ['assessments'],
  assessments: ['outreach'],
  outreach: ['sending'],
  database: ['pipeline', 'performance'],
  resources: ['performance'],
};

/** What a provider's failure touches directly. */
export const PROVIDER_TOPICS: Readonly<Record<ProviderId, Topic[]>> = {
  yelp: ['providers', 'leads'],
  pagespeed: ['providers', 'assessments'],
  openai: ['providers', 'assessments', 'outreach'],
  sendgrid: ['providers', 'sending', 'reports'],
  stripe: ['providers', 'payments'],
};

/** Causes downstream of a provider's failure (explained by it), besides that provider's other causes. */
export const PROVIDER_DOWNSTREAM: Readonly<Record<ProviderId, string[]>> = {
  yelp: [],
  pagespeed: ['failed-assessments', 'assessment-backlog'],
  openai: ['failed-assessments', 'assessment-backlog'],
  sendgrid: ['emails-stuck-pending', 'failed-sends', 'report-not-sent'],
  stripe: ['webhooks-not-arriving'],
};

/** Findings of a whole-system diagnosis: runbook id → diagnostic id → finding. */
export type SystemFindings = Record<string, Record<string, Finding>>;

/** A cause's links. `explains` may depend on the findings. */
export interface CauseLink {
  topics: Topic[];
  explains?: string[] | ((f: SystemFindings) => string[]);
}

const ev = (f: SystemFindings, rb: string, d: string): Record<string, unknown> => f[rb]?.[d]?.evidence ?? {};
const runStalled = (f: SystemFindings) => ev(f, 'pipeline-not-processing', 'last-run').stalledRun === true;

/** The links of every non-provider cause (provider failure causes are derived, see {@link linkOf}). */
export const CAUSE_LINKS: Readonly<Record<string, CauseLink>> = {
  // pipeline
  'database-connection': { topics: ['database', 'pipeline', 'sending', 'payments', 'errors'], explains: ['pipeline-not-running', 'pipeline-stalled', 'recurring-errors', 'slow-statements'] },
  'pipeline-paused': { topics: ['pipeline'], explains: ['pipeline-not-scheduled', 'pipeline-not-running'] },
  'pipeline-not-scheduled': { topics: ['pipeline'], explains: ['pipeline-not-running'] },
  'pipeline-not-running': { topics: ['pipeline'] },
  'pipeline-stalled': { topics: ['pipeline'], explains: (f) => (runStalled(f) ? ['assessment-backlog', 'emails-stuck-pending', 'pipeline-not-running'] : []) },
  'no-targeting-quota': { topics: ['leads'] },
  'no-active-targets': { topics: ['leads'] },
  // email
  'delivery-paused': { topics: ['sending'], explains: ['emails-stuck-pending'] },
  'emails-stuck-pending': { topics: ['sending'], explains: (f) => (runStalled(f) ? [] : ['pipeline-stalled']) },
  'high-bounce-rate': { topics: ['deliverability'] },
  'spam-content': { topics: ['deliverability', 'outreach'] },
  'webhook-not-receiving': { topics: ['deliverability'] },
  'invalid-addresses': { topics: ['sending', 'deliverability'], explains: ['high-bounce-rate'] },
  'failed-sends': { topics: ['sending'] },
  // assessments
  'invalid-websites': { topics: ['assessments'], explains: ['failed-assessments'] },
  'assessment-backlog': { topics: ['assessments'], explains: (f) => (runStalled(f) ? [] : ['pipeline-stalled']) },
  'failed-assessments': { topics: ['assessments'] },
  // payments
  'webhook-secret-mismatch': { topics: ['payments', 'reports'], explains: ['webhooks-not-arriving', 'report-not-sent'] },
  'webhooks-not-arriving': { topics: ['payments', 'reports'], explains: ['report-not-sent'] },
  'total-mismatch': { topics: ['payments'] },
  'report-not-sent': { topics: ['reports'] },
  // database
  'connection-saturation': { topics: ['database', 'performance'], explains: ['slow-statements'] },
  'table-bloat': { topics: ['database', 'performance'], explains: ['slow-statements'] },
  'missing-index': { topics: ['database', 'performance'], explains: ['slow-statements'] },
  'slow-statements': { topics: ['database', 'performance'] },
  // memory and resources
  'high-memory': { topics: ['resources', 'performance'], explains: ['large-batches'] },
  'event-loop-blocked': { topics: ['resources', 'performance'], explains: ['large-batches'] },
  'low-disk': { topics: ['resources', 'backup'], explains: ['no-recent-backup'] },
  'large-batches': { topics: ['resources'] },
  // quick diagnostics
  'recurring-errors': { topics: ['errors'] },
  // backups
  'no-recent-backup': { topics: ['backup'] },
  'backup-tool-unusable': { topics: ['backup'], explains: ['no-recent-backup'] },
  'integrity-problems': { topics: ['backup', 'database'] },
};

/** Generic provider causes and the evidence list naming their providers: runbook, diagnostic, key. */
const GENERIC_PROVIDER_CAUSES: Readonly<Record<string, [string, string, string][]>> = {
  'breaker-open': [['external-apis', 'breaker-states', 'open']],
  'provider-auth': [
    ['external-apis', 'integrations', 'authRejected'],
    ['quick-diagnostics', 'integrations', 'authRejected'],
  ],
  'provider-unreachable': [
    ['external-apis', 'integrations', 'unreachable'],
    ['quick-diagnostics', 'integrations', 'unreachable'],
  ],
  'quota-exhausted': [
    ['external-apis', 'rate-limits', 'exhausted'],
    ['external-apis', 'integrations', 'quotaExhausted'],
  ],
};

/** The live verdict for a provider from either runbook's connection test. */
export function liveProviderFailure(f: SystemFindings, p: ProviderId): ReturnType<typeof liveFailure> {
  return liveFailure(f['external-apis']?.integrations, p) ?? liveFailure(f['quick-diagnostics']?.integrations, p);
}

/** Providers a cause concerns: from its id (`<provider>-<mode>`, e.g. `openai-unavailable`) or its evidence. */
export function causeProviders(id: string, f: SystemFindings): ProviderId[] {
  const own = parseFailureCause(id);
  if (own) return [own.provider];
  const sources = GENERIC_PROVIDER_CAUSES[id];
  if (!sources) return [];
  const named = new Set<string>();
  for (const [rb, d, key] of sources) {
    const v = ev(f, rb, d)[key];
    if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') named.add(x);
  }
  return PROVIDERS.filter((p) => named.has(p));
}

/** A cause's topics: its own, plus those of the providers it concerns. */
export function causeTopics(id: string, f: SystemFindings): Topic[] {
  const out = new Set<Topic>(CAUSE_LINKS[id]?.topics ?? []);
  for (const p of causeProviders(id, f)) for (const t of PROVIDER_TOPICS[p]) out.add(t);
  if (out.size === 0 && parseFailureCause(id) === undefined && GENERIC_PROVIDER_CAUSES[id]) out.add('providers');
  if (causeProviders(id, f).length) out.add('errors');
  return [...out];
}

/**
 * The indicated causes (ids in `indicated`) that `id` explains directly, given the findings. Provider rules: a
 * provider's live failure explains the provider's other causes, generic provider causes naming it, and its
 * downstream causes; an open breaker explains its provider's causes only while the live test finds the provider
 * fine. Causes never explain themselves.
 */
export function explainedBy(id: string, indicated: ReadonlySet<string>, f: SystemFindings): string[] {
  const out = new Set<string>();
  const link = CAUSE_LINKS[id];
  const listed = typeof link?.explains === 'function' ? link.explains(f) : (link?.explains ?? []);
  for (const x of listed) out.add(x);
  const providers = causeProviders(id, f);
  const own = parseFailureCause(id);
  for (const p of providers) {
    const live = liveProviderFailure(f, p);
    // the provider itself fails now (this cause is that failure), or its breaker refuses calls while it is fine
    const drives = own ? live === own.mode : id === 'breaker-open' ? live === undefined : false;
    if (!drives) continue;
    for (const other of indicated) {
      if (other === id) continue;
      if (causeProviders(other, f).includes(p)) out.add(other);
    }
    for (const d of PROVIDER_DOWNSTREAM[p]) out.add(d);
    out.add('recurring-errors');
  }
  // a provider's specific cause explains the generic one naming it (the generic one says "a provider …")
  if (own) for (const [generic] of Object.entries(GENERIC_PROVIDER_CAUSES)) if (generic !== 'breaker-open' && causeProviders(generic, f).includes(own.provider)) out.add(generic);
  out.delete(id);
  return [...out].filter((x) => indicated.has(x));
}

/**
 * Distance (in pipeline steps) from each topic a cause reaches to the cause: its own topics at 0, topics
 * downstream along {@link TOPIC_FLOW} one step further each.
 */
export function topicDistances(topics: readonly Topic[]): Map<Topic, number> {
  const dist = new Map<Topic, number>();
  let frontier = [...new Set(topics)];
  for (const t of frontier) dist.set(t, 0);
  for (let step = 1; frontier.length && step < 6; step++) {
    const next: Topic[] = [];
    for (const t of frontier)
      for (const d of TOPIC_FLOW[t] ?? [])
        if (!dist.has(d)) {
          dist.set(d, step);
          next.push(d);
        }
    frontier = next;
  }
  return dist;
}
