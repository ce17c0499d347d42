/**
 * Guards in front of Bolt's HTTPReceiver and for `/metrics`:
 * - `/slack/events`: a declared body over {@link SLACK_BODY_LIMIT_BYTES} is answered 413 before it is read (a
 *   streamed one is cut at the same size by the receiver's own `bodyLimit`); a request whose
 *   `X-Slack-Request-Timestamp` is more than 5 minutes away from now, either way, is answered 401 (Bolt checks
 *   only the past side);
 * - `/metrics`: an optional bearer token (METRICS_TOKEN), compared in constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from '../domain/logger.js';
import { newLogId, withLogContext } from '../domain/log-context.js';
import { checkSignatureTimestamp, FIVE_MINUTE_WINDOW } from '../domain/signature-window.js';

/** Largest `/slack/events` body accepted (bytes): Slack's own payloads stay far below it. */
export const SLACK_BODY_LIMIT_BYTES = 1_000_000;

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Wraps the receiver's request listener with the `/slack/events` checks; other paths pass through untouched. */
export function guardSlackEvents(inner: Listener, opts: { logger: Logger; now: () => number; limitBytes?: number }): Listener {
  const limit = opts.limitBytes ?? SLACK_BODY_LIMIT_BYTES;
  return (req, res) => {
    // every request's work logs under one id (answered as X-Request-Id), whatever route serves it
    const requestId = newLogId();
    res.setHeader('x-request-id', requestId);
    withLogContext({ requestId }, () => guarded(req, res));
  };
  function guarded(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/slack/events') {
      inner(req, res);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      opts.logger.warn({ bytes: declared, limit }, 'slack request refused: body too large');
      res.writeHead(413, { connection: 'close' });
      res.end();
      req.resume();
      return;
    }
    const header = req.headers['x-slack-request-timestamp'];
    const verdict = checkSignatureTimestamp(Array.isArray(header) ? header[0] : header, opts.now(), FIVE_MINUTE_WINDOW);
    if (verdict === 'too_old' || verdict === 'in_future') {
      opts.logger.warn({ verdict }, 'slack request refused: signature timestamp outside ±5 minutes');
      res.writeHead(401);
      res.end();
      req.resume();
      return;
    }
    inner(req, res);
  }
}

/** True when `token` is unset, or the request carries `Authorization: Bearer <token>`. */
export function metricsAuthorized(req: http.IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7).trim() : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
