/**
 * `/unsubscribe?token=…` (the URL in List-Unsubscribe and in every email's footer).
 *
 * - GET shows a small confirmation page with a button and changes nothing (link scanners and previews fetch
 *   GET URLs; RFC 8058 §4: GET must not unsubscribe);
 * - POST unsubscribes: one-click from the mail client (RFC 8058 body `List-Unsubscribe=One-Click`, form-encoded)
 *   or the page's button (same body). It suppresses the address (reason `unsubscribe`) and marks the email
 *   `unsubscribed`; idempotent.
 * - A malformed, tampered or expired token → 400 with a clear message, nothing changes.
 */
import type http from 'node:http';
import { applyUnsubscribe, UnsubscribeTokenError, verifyUnsubscribeToken } from '../../domain/delivery/unsubscribe.js';
import { esc, page } from './html-page.js';
import type { WebhookDeps, WebhookRoute } from './index.js';
import { readRawBody } from './raw-body.js';

/** Path of the route. */
export const UNSUBSCRIBE_PATH = '/unsubscribe';

/** Handles one request (exported for tests that serve it from a plain node:http server). */
export async function handleUnsubscribe(deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const token = url.searchParams.get('token') ?? '';
  const now = deps.clock.now();
  if (req.method === 'POST') await readRawBody(req, 10_000).catch(() => Buffer.alloc(0));
  let claims: ReturnType<typeof verifyUnsubscribeToken>;
  try {
    claims = verifyUnsubscribeToken(deps.config.delivery.unsubscribeSecret, token, now);
  } catch (err) {
    const message = err instanceof UnsubscribeTokenError ? err.message : 'This unsubscribe link is not valid.';
    deps.logger.info({ code: err instanceof UnsubscribeTokenError ? err.code : 'error' }, 'unsubscribe: token refused');
    page(res, 400, 'Unsubscribe link not valid', `<p>${esc(message)}</p><p>Nothing was changed.</p>`);
    return;
  }
  if (req.method !== 'POST') {
    page(
      res,
      200,
      'Unsubscribe',
      `<p>Stop receiving emails from us at this address?</p>` +
        `<form method="post" action="${esc(`${UNSUBSCRIBE_PATH}?token=${encodeURIComponent(token)}`)}">` +
        `<input type="hidden" name="List-Unsubscribe" value="One-Click">` +
        `<button type="submit">Unsubscribe</button></form>`,
    );
    return;
  }
  const result = await applyUnsubscribe(deps.orm.em.fork(), claims, now);
  deps.logger.info({ emailId: claims.emailId, ...result }, 'unsubscribe applied');
  page(res, 200, 'You are unsubscribed', '<p>You will not receive further emails from us at this address.</p>');
}

/** The route for webhookRoutes() (GET and POST). */
export function unsubscribeRoute(deps: WebhookDeps): WebhookRoute {
  return {
    path: UNSUBSCRIBE_PATH,
    method: ['GET', 'POST'],
    handler: (req, res) => {
      handleUnsubscribe(deps, req, res).catch((err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, 'unsubscribe failed');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('Something went wrong; please try again.');
        }
      });
    },
  };
}
