/**
 * `GET /oncall.ics`: the on-call schedule as an iCalendar feed (domain/oncall/ical.ts) for calendar apps, for the
 * next `days` (query, default 30, at most 180). Protected by `ONCALL_ICAL_TOKEN`, given as `?token=…` (calendar
 * apps subscribe to a URL and cannot send headers) or `Authorization: Bearer …`, compared in constant time; unset,
 * the feed is off (404). Answers 401 for a missing or wrong token, 405 for other methods.
 */
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { oncallCalendar } from '../../domain/oncall/ical.js';
import type { WebhookDeps, WebhookRoute } from './index.js';
import { sendJson } from './raw-body.js';

/** The feed's path. */
export const ONCALL_ICAL_PATH = '/oncall.ics';

function tokenOk(req: http.IncomingMessage, want: string): boolean {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(url.searchParams.get('token') ?? (header.startsWith('Bearer ') ? header.slice(7).trim() : ''));
  const expected = Buffer.from(want);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Builds the feed route over {@link WebhookDeps} (token from `config.oncall.icalToken`). */
export function oncallIcalRoute(deps: Pick<WebhookDeps, 'config' | 'logger' | 'orm' | 'clock'>): WebhookRoute {
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, { error: 'method not allowed' });
      return;
    }
    const token = deps.config.oncall.icalToken;
    if (!token) {
      sendJson(res, 404, { error: 'the on-call feed is off (set ONCALL_ICAL_TOKEN)' });
      return;
    }
    if (!tokenOk(req, token)) {
      res.setHeader('www-authenticate', 'Bearer realm="oncall"');
      sendJson(res, 401, { error: 'token required' });
      return;
    }
    const days = Number(new URL(req.url ?? '/', 'http://localhost').searchParams.get('days') ?? 30);
    const body = await oncallCalendar(deps.orm.em.fork(), { from: deps.clock.now(), days: Number.isFinite(days) ? days : 30 });
    res.writeHead(200, { 'content-type': 'text/calendar; charset=utf-8', 'cache-control': 'no-store', 'content-disposition': 'inline; filename="oncall.ics"' });
    res.end(body);
  }
  return {
    path: ONCALL_ICAL_PATH,
    method: ['GET'],
    handler: (req, res) => {
      void handle(req, res).catch((err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, 'on-call feed failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal' });
      });
    },
  };
}
