/**
 * Assessment: PageSpeed Insights (mobile) plus an AI insight for each business waiting in `assessment_pending`.
 * PageSpeed failing fails the assessment (`assessment_failed`, error kept); the AI insight failing leaves a
 * `partial` result that still counts as assessed.
 */
import { AssessmentResult, Business, type IBusiness } from '../../db/entities/index.js';
import { mapConcurrent, type PipelineDeps, type ProgressFn } from '../pipeline/deps.js';
import type { PageSpeedResult } from '../providers/pagespeed/port.js';

/** Businesses assessed per run, and how many at once. */
export const ASSESSMENT_LIMIT = 200;
export const ASSESSMENT_CONCURRENCY = 4;

/** Outcome counts of one assessment pass. */
export interface AssessResult {
  assessed: number;
  failed: number;
}

/**
 * Checks a website URL before any provider call: http(s) only, a host name with a dot, never localhost or a
 * literal IP address. Returns the normalised URL or an error sentence.
 */
export function validateWebsiteUrl(raw: string): { ok: true; url: string } | { ok: false; error: string } {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw.trim()) ? raw.trim() : `https://${raw.trim()}`);
  } catch {
    return { ok: false, error: `not a URL: ${raw}` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, error: `unsupported scheme ${u.protocol}` };
  const host = u.hostname.toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || !host.includes('.'))
    return { ok: false, error: `not a public host: ${host}` };
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith('[')) return { ok: false, error: `IP address host: ${host}` };
  u.hash = '';
  return { ok: true, url: u.toString() };
}

/** The prompt for the AI insight, built only from measured facts (never from free text a business controls). */
export function insightPrompt(name: string, ps: PageSpeedResult): { system: string; user: string } {
  return {
    system:
      'You are a web performance consultant. Answer with a JSON object {"summary": string, "recommendations": ' +
      '[{"title": string, "impact": "high"|"medium"|"low", "effort": "high"|"medium"|"low"}]} with exactly 3 recommendations.',
    user: JSON.stringify({
      business: name.slice(0, 120),
      url: ps.finalUrl,
      scores: ps.scores,
      metrics: ps.metrics,
      opportunities: ps.opportunities.map((o) => ({ id: o.id, savingsMs: o.savingsMs })),
    }),
  };
}

async function assessOne(deps: PipelineDeps, business: IBusiness): Promise<'assessed' | 'failed'> {
  const em = deps.em.fork();
  const b = await em.findOneOrFail(Business, business.id);
  const checked = validateWebsiteUrl(b.website ?? '');
  const result = em.create(AssessmentResult, {
    business: b,
    status: 'failed',
    url: (checked.ok ? checked.url : (b.website ?? '')).slice(0, 2048),
    createdAt: deps.clock.now(),
  });
  if (!checked.ok) {
    result.errorMessage = checked.error;
    b.status = 'assessment_failed';
    await em.flush();
    return 'failed';
  }
  let ps: PageSpeedResult;
  try {
    ps = await deps.providers.pagespeed.run(checked.url, 'mobile');
  } catch (err) {
    result.errorMessage = `pagespeed: ${(err as Error).message}`;
    b.status = 'assessment_failed';
    await em.flush();
    return 'failed';
  }
  result.performanceScore = ps.scores.performance;
  result.accessibilityScore = ps.scores.accessibility;
  result.bestPracticesScore = ps.scores.bestPractices;
  result.seoScore = ps.scores.seo;
  result.metrics = ps.metrics;
  try {
    const ai = await deps.providers.openai.chat({ ...insightPrompt(b.name, ps), maxTokens: 600, json: true });
    result.insight = ai.text;
    result.status = 'completed';
  } catch (err) {
    result.status = 'partial';
    result.errorMessage = `openai: ${(err as Error).message}`;
  }
  b.status = 'assessed';
  await em.flush();
  return 'assessed';
}

/** Assesses up to {@link ASSESSMENT_LIMIT} pending businesses, oldest first. */
export async function assessPending(deps: PipelineDeps, progress: ProgressFn = () => {}): Promise<AssessResult> {
  const pending = await deps.em
    .fork()
    .find(Business, { status: 'assessment_pending' }, { orderBy: { id: 'asc' }, limit: ASSESSMENT_LIMIT });
  const out: AssessResult = { assessed: 0, failed: 0 };
  await mapConcurrent(pending, ASSESSMENT_CONCURRENCY, async (b) => {
    const r = await assessOne(deps, b);
    if (r === 'assessed') {
      out.assessed++;
      progress('assessed', 1);
    } else {
      out.failed++;
      progress('assessment_failed', 1);
    }
  });
  return out;
}
