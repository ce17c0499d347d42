/**
 * The storefront's door: what a click on a signed "Get the full report" link does (served by
 * bot/webhooks/report-link.ts). The token is verified first (domain/storefront/link.ts); an altered or expired link
 * creates nothing and leaves an audit row (`storefront:report_link`, outcome `refused`). A valid one leads to the
 * business's checkout ({@link checkoutForBusiness}: a new Stripe Checkout Session, or the open one again, never a
 * second purchase) or to "already bought"; every valid click is recorded in `report_link_clicks` (the `/lf purchases`
 * funnel) and in the audit log (actor `web:report-link`).
 */
import { Business, Email, type ReportLinkOutcome } from '../../db/entities/index.js';
import { contactAddress } from '../personalization/draft.js';
import { insertAudit } from '../queries/audit.js';
import { insertReportLinkClick } from '../queries/purchases.js';
import { checkoutForBusiness, type CheckoutOutcome } from './checkout.js';
import type { StorefrontDeps } from './deps.js';
import { ReportLinkError, verifyReportLinkToken, type ReportLinkClaims } from './link.js';

/** The audit actor of report-link clicks (anonymous visitors). */
export const REPORT_LINK_ACTOR = 'web:report-link';
/** The audit action of report-link clicks. */
export const REPORT_LINK_ACTION = 'storefront:report_link';

/** The request as the door sees it. */
export interface ReportLinkRequest {
  token: string | null;
  /** `User-Agent` header (mail scanners that fetch links show here). */
  userAgent?: string | null;
}

/**
 * What the click led to. `redirect`: send the visitor to Stripe (`url`); `already_paid`: the report was bought
 * (`customerEmail` where it goes); `refused`: the link is altered, expired or names nothing we know (`status` 400,
 * 404 or 410, `message` safe to show); `unavailable`: Stripe or the database failed (show "try again", 503).
 */
export type ReportLinkResult =
  | { kind: 'redirect'; url: string; purchaseId: number; reused: boolean; clickId: number }
  | { kind: 'already_paid'; purchaseId: number; customerEmail: string | null; reportSentAt: Date | null; clickId: number }
  | { kind: 'refused'; status: 400 | 404 | 410; code: string; message: string }
  | { kind: 'unavailable'; message: string };

/** Follows a report link (see the module comment). Never throws for the visitor's input or Stripe's failure. */
export async function followReportLink(deps: StorefrontDeps, req: ReportLinkRequest): Promise<ReportLinkResult> {
  const at = deps.clock.now();
  let claims: ReportLinkClaims;
  try {
    claims = verifyReportLinkToken(deps.config.storefront.reportLinkSecret, req.token, at);
  } catch (err) {
    const e = err instanceof ReportLinkError ? err : new ReportLinkError('malformed', 'This report link is not valid.');
    await auditClick(deps, at, 'refused', { code: e.code }, `report link refused (${e.code}): nothing created`);
    return { kind: 'refused', status: e.status, code: e.code, message: e.message };
  }
  const em = deps.orm.em.fork();
  const business = await em.findOne(Business, { id: claims.businessId });
  const email = claims.emailId !== null ? await em.findOne(Email, { id: claims.emailId }) : null;
  // an email id that is gone or belongs to another business: the link still names the business it was signed for
  const emailOk = email !== null && email.business.id === claims.businessId;
  const to = emailOk ? email.toAddress : business ? contactAddress(business) : null;
  if (!business || !to) {
    await auditClick(deps, at, 'refused', { ...ids(claims), code: 'not_found' }, `report link for business ${claims.businessId}: ${business ? 'no address to send the report to' : 'business no longer exists'}`);
    return { kind: 'refused', status: 404, code: 'not_found', message: 'We could not find the report this link is for. Reply to our email and we will help.' };
  }
  const emailId = emailOk ? email.id : null;
  let outcome: CheckoutOutcome;
  try {
    outcome = await checkoutForBusiness(deps, { businessId: business.id, customerEmail: to });
  } catch (err) {
    const message = (err as Error).message;
    deps.logger.warn({ businessId: business.id, err: message }, 'report link: checkout not opened');
    await record(deps, { claims, emailId, purchaseId: null, outcome: 'failed', userAgent: req.userAgent ?? null, at }, `checkout not opened: ${message}`).catch(() => 0);
    return { kind: 'unavailable', message: 'Our payment page is not available right now. Please try the link again in a few minutes.' };
  }
  if (outcome.kind === 'already_paid') {
    const clickId = await record(deps, { claims, emailId, purchaseId: outcome.purchaseId, outcome: 'already_paid', userAgent: req.userAgent ?? null, at }, `already bought (purchase ${outcome.purchaseId})`);
    return { ...outcome, clickId };
  }
  const kind: ReportLinkOutcome = outcome.reused ? 'checkout_reused' : 'checkout_created';
  const clickId = await record(deps, { claims, emailId, purchaseId: outcome.purchaseId, outcome: kind, userAgent: req.userAgent ?? null, at }, `${outcome.reused ? 'reused' : 'opened'} checkout session ${outcome.sessionId} (purchase ${outcome.purchaseId})`);
  return { kind: 'redirect', url: outcome.url, purchaseId: outcome.purchaseId, reused: outcome.reused, clickId };
}

const ids = (c: ReportLinkClaims) => ({ businessId: c.businessId, ...(c.emailId !== null ? { emailId: c.emailId } : {}) });

/** The click row plus its audit row; returns the click's id. */
async function record(
  deps: StorefrontDeps,
  c: { claims: ReportLinkClaims; emailId: number | null; purchaseId: number | null; outcome: ReportLinkOutcome; userAgent: string | null; at: Date },
  detail: string,
): Promise<number> {
  const em = deps.orm.em.fork();
  const clickId = await insertReportLinkClick(em, { businessId: c.claims.businessId, emailId: c.emailId, purchaseId: c.purchaseId, outcome: c.outcome, userAgent: c.userAgent, at: c.at });
  await auditClick(deps, c.at, c.outcome === 'failed' ? 'failed' : 'succeeded', { ...ids(c.claims), clickId, outcome: c.outcome, ...(c.purchaseId !== null ? { purchaseId: c.purchaseId } : {}) }, detail);
  return clickId;
}

/** One audit row for a click; an audit failure is logged, never turned into an error page. */
async function auditClick(deps: StorefrontDeps, at: Date, outcome: 'succeeded' | 'failed' | 'refused', input: Record<string, unknown>, detail: string): Promise<void> {
  try {
    await insertAudit(deps.orm.em.fork(), { at, actor: REPORT_LINK_ACTOR, actorRole: null, source: 'web', action: REPORT_LINK_ACTION, input, outcome, detail });
  } catch (err) {
    deps.logger.error({ err: (err as Error).message }, 'report link: audit row not written');
  }
}
