/**
 * The storefront's public pages (domain/storefront/door.ts does the work):
 * - `GET /get-report?token=…`: the signed "Get the full report" link of every outreach email. A valid link opens the
 *   business's Stripe Checkout Session (or the open one again: repeated clicks never make a second purchase) and
 *   answers **303 See Other** to its `url`; a report already bought gets a page saying where it went; an altered
 *   link answers 400, an expired one 410, one naming nothing we know 404 — each a page saying so, nothing created;
 *   Stripe unreachable answers 503 with `Retry-After`. `HEAD` checks the token only and creates nothing (mail
 *   scanners probe links with it).
 * - `GET /checkout/success?session_id=cs_…` (Stripe's `success_url`): the order's state from our database — paid and
 *   sent, or payment being confirmed (the webhook applies it). Changes nothing.
 * - `GET /checkout/cancel` (Stripe's `cancel_url`): no payment was taken; the email's link still works.
 * Every click is counted (`leadfactory_report_link_clicks_total{outcome}`).
 */
import type http from 'node:http';
import { countReportLinkClick } from '../../alerts/metrics.js';
import { purchaseBySession } from '../../domain/queries/purchases.js';
import { followReportLink, type ReportLinkResult } from '../../domain/storefront/door.js';
import { REPORT_LINK_PATH, ReportLinkError, verifyReportLinkToken } from '../../domain/storefront/link.js';
import { maskEmail } from '../../domain/log-mask.js';
import { esc, page } from './html-page.js';
import type { WebhookDeps, WebhookRoute } from './index.js';

/** Paths of the checkout pages (the defaults of `CHECKOUT_SUCCESS_URL` / `CHECKOUT_CANCEL_URL` point here). */
export const CHECKOUT_SUCCESS_PATH = '/checkout/success';
export const CHECKOUT_CANCEL_PATH = '/checkout/cancel';

const utc = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Answers one report-link result. */
function answer(res: http.ServerResponse, r: ReportLinkResult): void {
  switch (r.kind) {
    case 'redirect':
      res.writeHead(303, { location: r.url, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-robots-tag': 'noindex' });
      res.end();
      return;
    case 'already_paid': {
      const where = r.customerEmail ? ` to ${esc(maskEmail(r.customerEmail))}` : '';
      const sent = r.reportSentAt ? `<p>It was emailed${where} on ${esc(utc(r.reportSentAt))}.</p>` : `<p>It will be emailed${where} in a few minutes.</p>`;
      page(res, 200, 'You already have this report', `${sent}<p>No new payment is needed.</p>`);
      return;
    }
    case 'refused':
      page(res, r.status, r.status === 410 ? 'This link has expired' : 'This link is not valid', `<p>${esc(r.message)}</p><p>Nothing was charged or created.</p>`);
      return;
    case 'unavailable':
      res.setHeader('retry-after', '120');
      page(res, 503, 'Please try again shortly', `<p>${esc(r.message)}</p>`);
  }
}

/** Handles `GET|HEAD /get-report` (exported for tests that serve it from a plain node:http server). */
export async function handleReportLink(deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
  if (req.method === 'HEAD') {
    let status = 200;
    try {
      verifyReportLinkToken(deps.config.storefront.reportLinkSecret, token, deps.clock.now());
    } catch (err) {
      status = err instanceof ReportLinkError ? err.status : 400;
    }
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end();
    return;
  }
  const ua = req.headers['user-agent'];
  const r = await followReportLink(deps, { token, userAgent: typeof ua === 'string' ? ua : null });
  countReportLinkClick(deps.metrics, r.kind === 'redirect' ? (r.reused ? 'checkout_reused' : 'checkout_created') : r.kind === 'unavailable' ? 'failed' : r.kind);
  deps.logger.info({ outcome: r.kind, ...(r.kind === 'redirect' ? { purchaseId: r.purchaseId, reused: r.reused } : {}), ...(r.kind === 'refused' ? { code: r.code } : {}) }, 'report link followed');
  answer(res, r);
}

/** Handles `GET /checkout/success?session_id=…`: read-only. */
export async function handleCheckoutSuccess(deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const sessionId = new URL(req.url ?? '/', 'http://localhost').searchParams.get('session_id') ?? '';
  const p = /^cs_[A-Za-z0-9_]{1,255}$/.test(sessionId) ? await purchaseBySession(deps.orm.em.fork(), sessionId) : undefined;
  if (!p) {
    page(res, 404, 'Order not found', '<p>We could not find this order. If you were charged, reply to our email and we will sort it out.</p>');
    return;
  }
  const what = `your website audit report${p.businessName ? ` for ${esc(p.businessName)}` : ''}`;
  const to = p.customerEmail ? ` to ${esc(maskEmail(p.customerEmail))}` : '';
  if (p.status === 'paid' && p.reportSentAt) {
    page(res, 200, 'Thank you for your order', `<p>Payment received: ${what} was emailed${to} on ${esc(utc(p.reportSentAt))}.</p><p>Order #${p.purchaseId}</p>`);
    return;
  }
  if (p.status === 'paid' || p.status === 'pending') {
    page(res, 200, 'Thank you for your order', `<p>We are confirming your payment; ${what} will be emailed${to} within a few minutes.</p><p>Order #${p.purchaseId}</p>`);
    return;
  }
  page(res, 200, 'Order not completed', `<p>This order is ${esc(p.status)}. The link in our email still works if you want to try again.</p><p>Order #${p.purchaseId}</p>`);
}

/** Handles `GET /checkout/cancel`. */
function handleCheckoutCancel(_deps: WebhookDeps, _req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  page(res, 200, 'No payment was taken', '<p>You left the payment page, so nothing was charged.</p><p>The link in our email still works whenever you want the full report.</p>');
  return Promise.resolve();
}

function route(deps: WebhookDeps, path: string, method: string[], handle: (deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): WebhookRoute {
  return {
    path,
    method,
    handler: (req, res) => {
      handle(deps, req, res).catch((err: unknown) => {
        deps.logger.error({ path, err: (err as Error).message }, 'storefront page failed');
        if (!res.headersSent) page(res, 500, 'Something went wrong', '<p>Please try again in a few minutes.</p>');
        else res.end();
      });
    },
  };
}

/** The storefront's public routes for webhookRoutes(). */
export function storefrontRoutes(deps: WebhookDeps): WebhookRoute[] {
  return [
    route(deps, REPORT_LINK_PATH, ['GET', 'HEAD'], handleReportLink),
    route(deps, CHECKOUT_SUCCESS_PATH, ['GET'], handleCheckoutSuccess),
    route(deps, CHECKOUT_CANCEL_PATH, ['GET'], handleCheckoutCancel),
  ];
}
