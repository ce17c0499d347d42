/**
 * The sandbox's SendGrid Email Activity API (`GET /v3/messages`, "Filter all messages",
 * https://www.twilio.com/docs/sendgrid/api-reference/email-activity/filter-all-messages): every message accepted by
 * the sandbox's mail/send is remembered (per sandbox instance, newest {@link MAX_MESSAGES}) and can be searched with
 * SendGrid's query language, in SendGrid's wire format:
 *
 * - request: `GET /v3/messages?limit=N&query=<url-encoded query>`, `Authorization: Bearer <key>`; `limit` 1–1000
 *   (default 10); query terms `unique_args['name']="value"` (our `custom_args`), `to_email="…"`, `msg_id="…"`,
 *   `subject="…"`, `status="…"`, each optionally in parentheses, joined by `AND`;
 * - answer 200 `{"messages": [{from_email, msg_id, subject, to_email, status, opens_count, clicks_count,
 *   last_event_time}]}`, newest first; 400 `{"errors": [{"field": "query", "message": …}]}` for a query it cannot
 *   parse; 401 without a key; 403 `{"errors": [{"field": null, "message": "access forbidden"}]}` for a key containing
 *   `noactivity` — what an account without the Email Activity add-on gets.
 */
import { rng } from './prng.js';
import type { SandboxContext, SandboxRequest, SandboxResponse } from './server.js';

/** Messages kept per sandbox (the oldest are forgotten first). */
export const MAX_MESSAGES = 20_000;

/** One accepted message as the activity feed knows it. */
interface ActivityRecord {
  msgId: string;
  fromEmail: string;
  toEmail: string;
  subject: string;
  uniqueArgs: Record<string, string>;
  at: Date;
}

const feeds = new WeakMap<SandboxContext, ActivityRecord[]>();

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Remembers an accepted v3 mail/send `body` (already validated) under SendGrid message ids derived from its
 * `X-Message-Id`: one message per recipient of each personalization, `msg_id` = `<X-Message-Id>.filter…`, with the
 * personalization's `custom_args` (falling back to the body's) as its unique args.
 */
export function recordAcceptedMail(ctx: SandboxContext, body: Record<string, unknown>, xMessageId: string, n: number): void {
  const feed = feeds.get(ctx) ?? [];
  feeds.set(ctx, feed);
  const from = isObj(body.from) && typeof body.from.email === 'string' ? body.from.email : '';
  const ps = Array.isArray(body.personalizations) ? body.personalizations.filter(isObj) : [];
  const strings = (v: unknown) => (isObj(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {});
  let i = 0;
  for (const p of ps) {
    const args = { ...strings(body.custom_args), ...strings(p.custom_args) };
    const subject = typeof p.subject === 'string' ? p.subject : typeof body.subject === 'string' ? body.subject : '';
    for (const to of Array.isArray(p.to) ? p.to.filter(isObj) : []) {
      const suffix = rng(ctx.seed, 'sendgrid-filter', n * 100 + i).chars(8).toUpperCase();
      feed.push({ msgId: `${xMessageId}.filterdrecv-sandbox-${suffix}-${i}-0.0`, fromEmail: from, toEmail: String(to.email), subject, uniqueArgs: args, at: ctx.clock.now() });
      i++;
    }
  }
  if (feed.length > MAX_MESSAGES) feed.splice(0, feed.length - MAX_MESSAGES);
}

type Term = { field: string; key?: string; value: string };

/** Parses `term AND term …`; undefined when the query is not in the supported grammar. */
export function parseActivityQuery(query: string): Term[] | undefined {
  const parts = query.trim().split(/\s+AND\s+/i);
  const terms: Term[] = [];
  for (const raw of parts) {
    const part = raw.trim().replace(/^\((.*)\)$/s, '$1').trim();
    const m = /^(unique_args\['([^']+)'\]|to_email|msg_id|subject|status|from_email)\s*=\s*"((?:[^"\\]|\\.)*)"$/s.exec(part);
    if (!m) return undefined;
    terms.push(m[2] !== undefined ? { field: 'unique_args', key: m[2], value: m[3]! } : { field: m[1]!, value: m[3]! });
  }
  return terms;
}

const matches = (r: ActivityRecord, t: Term): boolean => {
  switch (t.field) {
    case 'unique_args':
      return r.uniqueArgs[t.key!] === t.value;
    case 'to_email':
      return r.toEmail.toLowerCase() === t.value.toLowerCase();
    case 'from_email':
      return r.fromEmail.toLowerCase() === t.value.toLowerCase();
    case 'msg_id':
      return r.msgId === t.value;
    case 'subject':
      return r.subject === t.value;
    case 'status':
      return t.value === 'delivered';
    default:
      return false;
  }
};

/** `GET /sendgrid/v3/messages` (see the module comment for the format). */
export function sendgridMessages(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  if (!req.bearer) return { status: 401, json: { errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked', field: null, help: null }] } };
  if (/noactivity/i.test(req.bearer)) return { status: 403, json: { errors: [{ field: null, message: 'access forbidden' }] } };
  const limitRaw = req.query.get('limit');
  const limit = limitRaw === null ? 10 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return { status: 400, json: { errors: [{ field: 'limit', message: 'limit must be an integer between 1 and 1000' }] } };
  const q = req.query.get('query');
  const terms = q === null || q.trim() === '' ? [] : parseActivityQuery(q);
  if (!terms) return { status: 400, json: { errors: [{ field: 'query', message: 'invalid query' }] } };
  const feed = feeds.get(ctx) ?? [];
  const found = feed.filter((r) => terms.every((t) => matches(r, t))).reverse().slice(0, limit);
  return {
    status: 200,
    json: {
      messages: found.map((r) => ({
        from_email: r.fromEmail,
        msg_id: r.msgId,
        subject: r.subject,
        to_email: r.toEmail,
        status: 'delivered',
        opens_count: 0,
        clicks_count: 0,
        last_event_time: r.at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      })),
    },
  };
}
