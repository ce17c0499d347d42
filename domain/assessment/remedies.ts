/**
 * Operator remedies for the assessment stage (the assessment-failures runbook and the CLI): find the website URLs
 * assessment would refuse, repair or retire them, and put failed assessments back in the queue.
 *
 * Only businesses that still wait for (or failed) assessment are touched: `new`, `assessment_pending`,
 * `assessment_failed`; rows a worker holds under a live claim (`claimed_until` in the future) are left alone.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { businessesWithWebsite, requeueAllFailedAssessments, retireBusinessWebsite, setBusinessWebsite, type WebsiteRow } from '../queries/businesses.js';
import { repairWebsiteUrl, siteDomain, validateWebsiteUrl } from './url.js';

/** Business statuses whose website assessment has yet to use (or failed on). */
export const WEBSITE_CHECK_STATUSES = ['new', 'assessment_pending', 'assessment_failed'] as const;

/** At most this many businesses are scanned per call (oldest id first). */
export const WEBSITE_SCAN_LIMIT = 50_000;

/**
 * One business whose stored website is not a normalised valid URL. `kind`: `unnormalised` (assessment accepts it,
 * only its form differs), `repairable` (assessment refuses it; a fix makes it valid), `invalid` (nothing does).
 */
export interface WebsiteProblem {
  id: number;
  status: string;
  website: string;
  kind: 'unnormalised' | 'repairable' | 'invalid';
  /** Why assessment refuses the stored value, or `not normalised`. */
  error: string;
  /** The normalised URL a fix would store, or undefined when none works. */
  repair: string | undefined;
}

/** Result of {@link scanWebsites}: how many were checked and the count of each {@link WebsiteProblem} kind. */
export interface WebsiteScan {
  checked: number;
  /** Refused by assessment and beyond repair. */
  invalid: number;
  /** Refused by assessment, valid after a fix. */
  repairable: number;
  /** Accepted by assessment, stored in another form than the normalised one. */
  unnormalised: number;
  problems: WebsiteProblem[];
}

/** Businesses with a website in {@link WEBSITE_CHECK_STATUSES}, not under a live claim at `now`. Read-only. */
async function candidates(em: EntityManager, now: Date): Promise<WebsiteRow[]> {
  return businessesWithWebsite(em, WEBSITE_CHECK_STATUSES, now, WEBSITE_SCAN_LIMIT);
}

/**
 * Validates every waiting business's website (domain/assessment/url.ts) and reports the ones assessment would
 * refuse or that are not in normalised form, with the repair that would apply. Read-only.
 */
export async function scanWebsites(em: EntityManager, now: Date): Promise<WebsiteScan> {
  const rows = await candidates(em, now);
  const problems: WebsiteProblem[] = [];
  const counts = { invalid: 0, repairable: 0, unnormalised: 0 };
  for (const r of rows) {
    const fix = repairWebsiteUrl(r.website);
    if (fix.ok && !fix.changed) continue;
    const asStored = validateWebsiteUrl(r.website);
    const kind = asStored.ok ? 'unnormalised' : fix.ok ? 'repairable' : 'invalid';
    counts[kind]++;
    problems.push({
      id: r.id,
      status: r.status,
      website: r.website,
      kind,
      error: asStored.ok ? 'not normalised' : asStored.error,
      repair: fix.ok ? fix.url : undefined,
    });
  }
  return { checked: rows.length, ...counts, problems };
}

/** What {@link validateWebsites} changed (business ids are logged by the caller, not returned in bulk). */
export interface ValidateWebsitesResult {
  checked: number;
  /** Websites rewritten to their repaired, normalised URL. */
  fixed: number;
  /** Of the fixed: `assessment_failed` businesses put back to `assessment_pending` with attempts reset. */
  requeued: number;
  /** Websites no fix makes valid: cleared, the business `skipped` (as sourcing does for no website). */
  retired: number;
  retiredIds: number[];
}

/**
 * Repairs what can be repaired and retires the rest, in one transaction:
 * - a website a fix makes valid is stored in its normalised form (and `website_domain` updated); a business that
 *   had failed assessment on its URL gets `assessment_pending`, `assessment_attempts = 0`;
 * - a website nothing makes valid is cleared (`website = null`) and the business set `skipped`: the pipeline
 *   already treats a business without a website that way (kept, never assessed or emailed).
 * `status_changed_at` is set to `now` on every status change.
 */
export async function validateWebsites(em: EntityManager, now: Date): Promise<ValidateWebsitesResult> {
  // `tx.execute` (not getConnection().execute) so the statements run inside the transaction
  return em.transactional(async (tx) => {
    const scan = await scanWebsites(tx, now);
    const out: ValidateWebsitesResult = { checked: scan.checked, fixed: 0, requeued: 0, retired: 0, retiredIds: [] };
    for (const p of scan.problems) {
      if (p.repair) {
        const host = new URL(p.repair).hostname;
        const requeue = p.status === 'assessment_failed' && p.kind === 'repairable'; // it failed on its URL
        await setBusinessWebsite(tx, p.id, p.repair, siteDomain(host), now, requeue);
        out.fixed++;
        if (requeue) out.requeued++;
      } else {
        await retireBusinessWebsite(tx, p.id, now);
        out.retired++;
        out.retiredIds.push(p.id);
      }
    }
    return out;
  });
}

/**
 * Moves every `assessment_failed` business back to `assessment_pending` with `assessment_attempts = 0` (lease
 * cleared, `status_changed_at = now`) in one statement, whatever its attempts; returns how many moved. Unlike the
 * pipeline's own retry (`retryFailed`, attempts below the limit only) this also re-queues businesses that used up
 * their attempts, e.g. after a provider outage.
 */
export async function requeueFailedAssessments(em: EntityManager, now: Date): Promise<number> {
  return requeueAllFailedAssessments(em, now);
}
