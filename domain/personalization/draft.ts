/**
 * Personalization: an outreach email draft per scored business, from its assessment facts and AI insight,
 * with a spam score. Drafts over {@link SPAM_THRESHOLD} are `held`; the rest wait as `pending` for delivery.
 */
import { AssessmentResult, Business, Email, type IAssessmentResult, type IBusiness } from '../../db/entities/index.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';
import { SPAM_THRESHOLD, spamScore } from './spam.js';

/** Campaign every outreach email belongs to; one email per business per campaign. */
export const DEFAULT_CAMPAIGN = 'website-audit';

/** A draft: recipient, subject and plain-text body. */
export interface EmailDraft {
  toAddress: string;
  subject: string;
  body: string;
}

/**
 * Contact address for a business: Yelp gives none, so outreach goes to `info@<website domain>` (the usual
 * role address of small businesses) until an enrichment source supplies a named contact.
 */
export function contactAddress(website: string): string | null {
  try {
    const host = new URL(website).hostname.replace(/^www\./, '');
    return host.includes('.') ? `info@${host}` : null;
  } catch {
    return null;
  }
}

function insightSummary(insight: string | null | undefined): string | null {
  if (!insight) return null;
  try {
    const parsed = JSON.parse(insight) as { summary?: unknown };
    return typeof parsed.summary === 'string' ? parsed.summary : null;
  } catch {
    return insight.slice(0, 400);
  }
}

/** Builds the draft from the business and its assessment (scores 0–100). */
export function draftEmail(b: IBusiness, a: IAssessmentResult, toAddress: string): EmailDraft {
  const perf = a.performanceScore;
  const subject = `A few quick wins for ${b.name}'s website`.slice(0, 78);
  const lines = [
    `Hello ${b.name} team,`,
    '',
    `We ran a mobile audit of ${a.url}.`,
    perf !== null && perf !== undefined ? `Its mobile performance score is ${perf}/100.` : '',
    a.seoScore !== null && a.seoScore !== undefined ? `Search-engine readiness scores ${a.seoScore}/100.` : '',
    insightSummary(a.insight) ?? '',
    '',
    'Our full website audit report lists each fix with its expected impact. Reply if you would like a copy.',
    '',
    'LeadFactory audits',
  ];
  return { toAddress, subject, body: lines.filter((l, i, all) => l !== '' || all[i - 1] !== '').join('\n') };
}

/** Drafts emails for every `scored` business; returns counts of drafted (pending) and held. */
export async function personalizeScored(
  deps: PipelineDeps,
  progress: ProgressFn = () => {},
): Promise<{ personalized: number; held: number }> {
  const em = deps.em.fork();
  const businesses = await em.find(Business, { status: 'scored' }, { orderBy: { id: 'asc' }, limit: 1000 });
  let personalized = 0;
  let held = 0;
  for (const b of businesses) {
    const a = await em.findOne(AssessmentResult, { business: b.id }, { orderBy: { id: 'desc' } });
    const to = b.website ? contactAddress(b.website) : null;
    if (!a || !to) {
      b.status = 'skipped';
      continue;
    }
    const draft = draftEmail(b, a, to);
    const spam = spamScore(draft.subject, draft.body);
    const existing = await em.findOne(Email, { business: b.id, campaign: DEFAULT_CAMPAIGN });
    if (!existing) {
      em.create(Email, {
        business: b,
        campaign: DEFAULT_CAMPAIGN,
        ...draft,
        spamScore: spam.score,
        status: spam.score > SPAM_THRESHOLD ? 'held' : 'pending',
        createdAt: deps.clock.now(),
        updatedAt: deps.clock.now(),
      });
    }
    b.status = 'email_pending';
    if (spam.score > SPAM_THRESHOLD) held++;
    else personalized++;
  }
  await em.flush();
  if (personalized > 0) progress('personalized', personalized);
  if (held > 0) progress('held', held);
  return { personalized, held };
}
