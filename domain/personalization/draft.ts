/**
 * Personalization: one outreach email per scored business per campaign (`config.delivery.campaign`), written from
 * the assessment facts (PageSpeed scores and metrics) plus the AI summary and recommendations, checked by the
 * spam checker. Drafts scoring over `config.stages.spamThreshold` are stored `held` (never sent) with their
 * reasons; the rest wait as `pending` for delivery.
 */
import { AssessmentResult, Business, Email, type IAssessmentResult, type IBusiness } from '../../db/entities/index.js';
import { unmeasuredReason } from '../assessment/measurement.js';
import { siteDomain, validateWebsiteUrl } from '../assessment/url.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';
import { insertDraftEmail } from '../queries/emails.js';
import { spamCheck, type SpamResult } from './spam.js';
import { chooseSubject } from './subject.js';

/** Campaign used when none is configured (config.delivery.campaign defaults to the same). */
export const DEFAULT_CAMPAIGN = 'website-audit';

/** A draft: recipient, subject (≤ 60 chars ideally, 78 max, ≤ 1 "!") and plain-text body. */
export interface EmailDraft {
  toAddress: string;
  subject: string;
  body: string;
}

/** The AI part of an assessment: `summary` and up to 3 `{ title, impact, effort }` recommendations. */
export interface InsightParts {
  summary: string | null;
  recommendations: { title: string; impact: string; effort: string }[];
}

const EMAIL_RE = /^[^\s@<>",;]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/i;

/**
 * The contact address of a business: `business.email` when it looks like an address; else `info@` the
 * `website_domain`; else `info@` the host of `website` (without `www.`, public hosts only); else null.
 */
export function contactAddress(b: Pick<IBusiness, 'email' | 'websiteDomain' | 'website'>): string | null {
  const email = b.email?.trim();
  if (email && EMAIL_RE.test(email)) return email;
  const domain = b.websiteDomain?.trim().toLowerCase();
  if (domain && EMAIL_RE.test(`info@${domain}`)) return `info@${siteDomain(domain)}`;
  const checked = validateWebsiteUrl(b.website);
  return checked.ok ? `info@${siteDomain(checked.host)}` : null;
}

/**
 * The AI summary and recommendations of an assessment: from `recommendations` and the JSON in `insight`
 * (`{ summary, recommendations }`); a legacy plain-text insight is used as the summary, clipped to 400 characters.
 */
export function insightParts(a: Pick<IAssessmentResult, 'insight' | 'recommendations'>): InsightParts {
  let summary: string | null = null;
  let recs = Array.isArray(a.recommendations) ? a.recommendations : [];
  if (a.insight) {
    try {
      const parsed = JSON.parse(a.insight) as { summary?: unknown; recommendations?: unknown };
      if (typeof parsed.summary === 'string') summary = parsed.summary;
      if (recs.length === 0 && Array.isArray(parsed.recommendations)) recs = parsed.recommendations as InsightParts['recommendations'];
    } catch {
      summary = a.insight.slice(0, 400);
    }
  }
  return { summary, recommendations: recs.filter((r) => r && typeof r.title === 'string').slice(0, 3) };
}

const seconds = (ms: number | undefined) => (ms === undefined ? null : (ms / 1000).toFixed(1));

/**
 * Builds the draft. Subject candidates mention the mobile performance score when it is weak (< 50), else quick
 * wins; the first that fits 60 characters wins (see subject.ts). Body: the measured scores (PageSpeed category
 * scores 0–100), LCP in seconds, the AI summary, the 3 recommendations (or the top PageSpeed opportunities when
 * the AI insight failed), and a close pointing to the signed "Get the full report" link that delivery adds below the
 * body (domain/delivery/compliance.ts). Plain text; the body itself holds one link (the audited URL).
 */
export function draftEmail(b: Pick<IBusiness, 'name'>, a: IAssessmentResult, toAddress: string): EmailDraft {
  const name = b.name.replace(/\s+/g, ' ').trim();
  const perf = a.performanceScore;
  const subject = chooseSubject([
    ...(perf !== null && perf !== undefined && perf < 50 ? [`${name}: your mobile site scores ${perf}/100`, `Your mobile site scores ${perf}/100`] : []),
    `A few quick wins for ${name}'s website`,
    `${name}: a few website quick wins`,
    'A few quick wins for your website',
  ]);
  const ai = insightParts(a);
  const facts = [
    perf !== null && perf !== undefined ? `- Mobile performance: ${perf}/100` : null,
    a.seoScore !== null && a.seoScore !== undefined ? `- Search-engine readiness (SEO): ${a.seoScore}/100` : null,
    a.accessibilityScore !== null && a.accessibilityScore !== undefined ? `- Accessibility: ${a.accessibilityScore}/100` : null,
    a.bestPracticesScore !== null && a.bestPracticesScore !== undefined ? `- Best practices: ${a.bestPracticesScore}/100` : null,
    a.metrics?.lcpMs !== undefined ? `- Largest Contentful Paint: ${seconds(a.metrics.lcpMs)} s (Google suggests 2.5 s or less)` : null,
  ].filter((l): l is string => l !== null);
  const fixes = ai.recommendations.length
    ? ai.recommendations.map((r, i) => `${i + 1}. ${r.title} (impact ${r.impact}, effort ${r.effort})`)
    : (a.opportunities ?? []).slice(0, 3).map((o, i) => `${i + 1}. ${o.title} (about ${seconds(o.savingsMs)} s faster)`);
  const lines = [
    `Hello ${name} team,`,
    '',
    `We ran Google PageSpeed Insights on the mobile version of ${a.url}. What it measured:`,
    ...facts,
    ...(ai.summary ? ['', ai.summary] : []),
    ...(fixes.length ? ['', 'Where we would start:', ...fixes] : []),
    '',
    'Our full report explains each fix and its expected effect. You can get it from the link below.',
    '',
    'LeadFactory audits',
  ];
  return { toAddress, subject, body: lines.join('\n') };
}

/** What personalizing one business did. */
export type PersonalizeOutcome = 'pending' | 'held' | 'exists' | 'skipped';

const PAGE = 200;
const MAX_PAGES = 50;

async function personalizeOne(deps: PipelineDeps, em: PipelineDeps['em'], b: IBusiness, a: IAssessmentResult | undefined, campaign: string): Promise<PersonalizeOutcome> {
  const now = deps.clock.now();
  const to = contactAddress(b);
  if (!a || !to) {
    b.status = 'skipped';
    b.statusChangedAt = now;
    return 'skipped';
  }
  const unmeasured = unmeasuredReason(a);
  if (unmeasured) {
    // an email about a report that never ran: not written; the business goes back to be assessed again
    b.status = 'assessment_failed';
    b.statusChangedAt = now;
    deps.logger.warn({ businessId: b.id, reason: unmeasured }, 'no email: the newest assessment measured nothing');
    return 'skipped';
  }
  const draft = draftEmail(b, a, to);
  const spam: SpamResult = spamCheck(draft.subject, draft.body);
  const status = spam.score > deps.config.stages.spamThreshold ? 'held' : 'pending';
  const inserted = await insertDraftEmail(em, {
    businessId: b.id,
    campaign,
    toAddress: draft.toAddress,
    subject: draft.subject,
    body: draft.body,
    spamScore: spam.score,
    spamReasons: spam.reasons,
    status,
    now,
  });
  b.statusChangedAt = now;
  if (inserted === undefined) {
    // Already drafted for this campaign (an earlier run): keep that email; the business follows it.
    const existing = await em.findOne(Email, { business: b.id, campaign }, { fields: ['status'] });
    b.status = existing && !['pending', 'held', 'sending'].includes(existing.status) ? 'emailed' : 'email_pending';
    return 'exists';
  }
  b.status = 'email_pending';
  if (status === 'held') deps.logger.info({ businessId: b.id, spamScore: spam.score, reasons: spam.reasons }, 'email held by the spam checker');
  return status;
}

/**
 * Drafts one email per `scored` business for `config.delivery.campaign` (insert … on conflict do nothing, so a
 * business never gets two in one campaign). Business → `email_pending` (or `skipped` without an assessment or
 * contact address; `assessment_failed` when the newest assessment measured nothing, assessment/measurement.ts),
 * `status_changed_at` set. Returns counts of new `pending` (personalized) and `held` drafts.
 */
export async function personalizeScored(deps: PipelineDeps, progress: ProgressFn = () => {}): Promise<{ personalized: number; held: number }> {
  const campaign = deps.config.delivery?.campaign || DEFAULT_CAMPAIGN;
  let personalized = 0;
  let held = 0;
  let lastId = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const em = deps.em.fork();
    const businesses = await em.find(Business, { status: 'scored', id: { $gt: lastId } }, { orderBy: { id: 'asc' }, limit: PAGE });
    if (businesses.length === 0) break;
    lastId = businesses[businesses.length - 1]!.id;
    const latest = new Map<number, IAssessmentResult>();
    for (const r of await em.find(AssessmentResult, { business: { $in: businesses.map((b) => b.id) } }, { orderBy: { id: 'asc' } })) latest.set(r.business.id, r);
    let p = 0;
    let h = 0;
    for (const b of businesses) {
      const r = await personalizeOne(deps, em, b, latest.get(b.id), campaign);
      if (r === 'pending') p++;
      if (r === 'held') h++;
    }
    await em.flush();
    personalized += p;
    held += h;
    if (p > 0) progress('personalized', p);
    if (h > 0) progress('held', h);
  }
  return { personalized, held };
}
