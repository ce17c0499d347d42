/**
 * Sandbox Stripe Checkout and events, in Stripe's wire format (form-encoded requests, JSON answers, `Request-Id`):
 * - `POST /v1/checkout/sessions`: validates `mode`, `line_items[][price_data]`, `success_url` and the
 *   `expires_at` window (30 min – 24 h after creation, as Stripe enforces); honours `Idempotency-Key` (same key +
 *   same body → the first answer again with `Idempotent-Replayed: true`; same key + other body → 400
 *   `idempotency_error`)
 * - `GET /v1/checkout/sessions/:id` (served from the not-found fallback, since the route table matches exact paths)
 * - `GET /v1/events` with `created[gte|gt|lte|lt]`, `starting_after`, `limit` (1–100, default 10), `type`,
 *   `types[]`; newest first, `{object: 'list', data, has_more, url}`
 * - `POST /sandbox/stripe/checkout` (JSON `{session, outcome: paid | failed | expired | refunded}`): the customer's
 *   side of the hosted page. Records the events Stripe would send (`payment_intent.succeeded` +
 *   `checkout.session.completed`; `payment_intent.payment_failed`; `checkout.session.expired`; `charge.refunded`)
 *   and answers `{session, events}` so a test can sign and deliver them.
 * State (sessions, events, idempotency keys) lives per sandbox instance.
 */
import { createHash } from 'node:crypto';
import { stripeAuth, stripeError, stripeNotFound } from './handlers-get.js';
import { ALNUM, rng } from './prng.js';
import { bump, type Route, type SandboxContext, type SandboxRequest, type SandboxResponse } from './server.js';

type Obj = Record<string, unknown>;

interface StripeState {
  sessions: Map<string, Obj>;
  /** Newest first. */
  events: Obj[];
  idempotency: Map<string, { bodyHash: string; answer: SandboxResponse }>;
}

const states = new WeakMap<SandboxContext, StripeState>();

function state(ctx: SandboxContext): StripeState {
  let s = states.get(ctx);
  if (!s) {
    s = { sessions: new Map(), events: [], idempotency: new Map() };
    states.set(ctx, s);
  }
  return s;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const now = (ctx: SandboxContext) => Math.floor(ctx.clock.now().getTime() / 1000);
const newId = (ctx: SandboxContext, prefix: string, len = 24) => `${prefix}_${rng(ctx.seed, prefix, bump(ctx, `stripe.${prefix}`)).chars(len, ALNUM)}`;

function ok(ctx: SandboxContext, json: unknown, headers: Record<string, string> = {}): SandboxResponse {
  return { status: 200, headers: { 'Request-Id': newId(ctx, 'req', 14), ...headers }, json };
}

function invalid(ctx: SandboxContext, message: string, param?: string, code?: string): SandboxResponse {
  return stripeError(ctx, 400, { ...(code ? { code } : {}), message, ...(param ? { param } : {}), type: 'invalid_request_error' });
}

/**
 * Decodes Stripe's form encoding (`a[b][0][c]=v`, as the SDK's qs encoder writes it) into nested objects;
 * objects whose keys are all indices become arrays.
 */
export function parseStripeForm(params: URLSearchParams): Obj {
  const root: Obj = {};
  for (const [key, value] of params) {
    const path = key.replace(/\]/g, '').split('[');
    let node: Obj = root;
    path.forEach((part, i) => {
      if (i === path.length - 1) node[part] = value;
      else {
        if (!isObj(node[part])) node[part] = {};
        node = node[part] as Obj;
      }
    });
  }
  const arrays = (v: unknown): unknown => {
    if (!isObj(v)) return v;
    const keys = Object.keys(v);
    const mapped = Object.fromEntries(keys.map((k) => [k, arrays(v[k])]));
    return keys.length > 0 && keys.every((k) => /^\d+$/.test(k)) ? keys.sort((a, b) => +a - +b).map((k) => mapped[k]) : mapped;
  };
  return arrays(root) as Obj;
}

function intOf(v: unknown): number | undefined {
  return typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : undefined;
}

/** `POST /v1/checkout/sessions`. */
export function stripeCreateSession(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const denied = stripeAuth(req, ctx);
  if (denied) return denied;
  const st = state(ctx);
  const keyHeader = req.headers['idempotency-key'];
  const key = typeof keyHeader === 'string' ? keyHeader : undefined;
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const prior = key ? st.idempotency.get(key) : undefined;
  if (prior) {
    if (prior.bodyHash !== bodyHash) {
      return stripeError(ctx, 400, {
        message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        type: 'idempotency_error',
      });
    }
    return { ...prior.answer, headers: { ...prior.answer.headers, 'Idempotent-Replayed': 'true' } };
  }
  const answer = createSession(parseStripeForm(new URLSearchParams(req.body.toString('utf8'))), ctx, st);
  if (key && answer.status < 500) st.idempotency.set(key, { bodyHash, answer });
  return answer;
}

function createSession(p: Obj, ctx: SandboxContext, st: StripeState): SandboxResponse {
  const created = now(ctx);
  if (p.mode === undefined) return invalid(ctx, 'Missing required param: mode.', 'mode', 'parameter_missing');
  if (p.mode !== 'payment') return invalid(ctx, `Invalid mode: the sandbox supports mode=payment only, got ${String(p.mode)}.`, 'mode');
  if (typeof p.success_url !== 'string') return invalid(ctx, 'Missing required param: success_url.', 'success_url', 'parameter_missing');
  const items = Array.isArray(p.line_items) ? p.line_items : [];
  if (items.length === 0) return invalid(ctx, 'Missing required param: line_items.', 'line_items', 'parameter_missing');
  let subtotal = 0;
  let currency: string | undefined;
  for (const [i, li] of items.entries()) {
    const pd = isObj(li) && isObj(li.price_data) ? li.price_data : undefined;
    const amount = intOf(pd?.unit_amount);
    const qty = intOf(isObj(li) ? li.quantity : undefined);
    if (!pd || amount === undefined || amount < 0) return invalid(ctx, `Missing required param: line_items[${i}][price_data][unit_amount].`, `line_items[${i}][price_data][unit_amount]`, 'parameter_missing');
    if (qty === undefined || qty < 1) return invalid(ctx, `Missing required param: line_items[${i}][quantity].`, `line_items[${i}][quantity]`, 'parameter_missing');
    if (typeof pd.currency !== 'string') return invalid(ctx, `Missing required param: line_items[${i}][price_data][currency].`, `line_items[${i}][price_data][currency]`, 'parameter_missing');
    if (currency && pd.currency !== currency) return invalid(ctx, 'All line items must use the same currency.', `line_items[${i}][price_data][currency]`);
    currency = pd.currency;
    subtotal += amount * qty;
  }
  const expiresAt = p.expires_at === undefined ? created + 24 * 3600 : intOf(p.expires_at);
  if (expiresAt === undefined) return invalid(ctx, 'Invalid integer: expires_at', 'expires_at', 'parameter_invalid_integer');
  if (expiresAt - created < 30 * 60) return invalid(ctx, 'The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', 'expires_at');
  if (expiresAt - created > 24 * 3600) return invalid(ctx, 'The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', 'expires_at');
  const id = newId(ctx, 'cs_test', 58);
  const session: Obj = {
    id,
    object: 'checkout.session',
    amount_subtotal: subtotal,
    amount_total: subtotal,
    cancel_url: typeof p.cancel_url === 'string' ? p.cancel_url : null,
    client_reference_id: typeof p.client_reference_id === 'string' ? p.client_reference_id : null,
    created,
    currency,
    customer: null,
    customer_details: null,
    customer_email: typeof p.customer_email === 'string' ? p.customer_email : null,
    expires_at: expiresAt,
    livemode: false,
    metadata: isObj(p.metadata) ? p.metadata : {},
    mode: 'payment',
    payment_intent: null,
    payment_method_types: ['card'],
    payment_status: 'unpaid',
    status: 'open',
    success_url: (p.success_url as string).replace('{CHECKOUT_SESSION_ID}', id),
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted',
    url: `https://checkout.stripe.com/c/pay/${id}`,
    // Not part of Stripe's session object; kept so PaymentIntents can carry payment_intent_data.metadata.
    _pi_metadata: isObj(p.payment_intent_data) && isObj(p.payment_intent_data.metadata) ? p.payment_intent_data.metadata : {},
  };
  st.sessions.set(id, session);
  return ok(ctx, publicSession(session));
}

const publicSession = (s: Obj): Obj => Object.fromEntries(Object.entries(s).filter(([k]) => !k.startsWith('_')));

/** `GET /v1/checkout/sessions/:id` and Stripe's 404 for any other unknown `/v1/...` path. */
export function stripeFallback(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const m = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(req.path);
  if (!m || req.method !== 'GET') return stripeNotFound(req, ctx);
  const denied = stripeAuth(req, ctx);
  if (denied) return denied;
  const session = state(ctx).sessions.get(decodeURIComponent(m[1] as string));
  if (!session) {
    return stripeError(ctx, 404, {
      code: 'resource_missing',
      doc_url: 'https://stripe.com/docs/error-codes/resource-missing',
      message: `No such checkout.session: '${m[1]}'`,
      param: 'session',
      type: 'invalid_request_error',
    });
  }
  return ok(ctx, publicSession(session));
}

/** `GET /v1/events`. */
export function stripeListEvents(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const denied = stripeAuth(req, ctx);
  if (denied) return denied;
  const q = parseStripeForm(req.query);
  const limit = q.limit === undefined ? 10 : intOf(q.limit);
  if (limit === undefined || limit < 1 || limit > 100) return invalid(ctx, `This value must be between 1 and 100 (it currently is ${String(q.limit)}).`, 'limit');
  const c = isObj(q.created) ? q.created : {};
  const bound = (op: string) => (c[op] === undefined ? undefined : intOf(c[op]));
  const [gte, gt, lte, lt, eq] = [bound('gte'), bound('gt'), bound('lte'), bound('lt'), intOf(q.created)];
  const types = Array.isArray(q.types) ? q.types : typeof q.type === 'string' ? [q.type] : undefined;
  let events = state(ctx).events.filter((e) => {
    const t = e.created as number;
    return (gte === undefined || t >= gte) && (gt === undefined || t > gt) && (lte === undefined || t <= lte) && (lt === undefined || t < lt) && (eq === undefined || t === eq) && (!types || types.includes(e.type));
  });
  if (typeof q.starting_after === 'string') {
    const i = events.findIndex((e) => e.id === q.starting_after);
    if (i < 0) return invalid(ctx, `No such event: '${q.starting_after}'`, 'starting_after', 'resource_missing');
    events = events.slice(i + 1);
  }
  return ok(ctx, { object: 'list', data: events.slice(0, limit), has_more: events.length > limit, url: '/v1/events' });
}

function record(ctx: SandboxContext, type: string, object: Obj, extra: Obj = {}): Obj {
  const ev: Obj = {
    id: newId(ctx, 'evt'),
    object: 'event',
    api_version: '2026-10-28.endive',
    created: now(ctx),
    data: { object: publicSession(object), ...extra },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
  state(ctx).events.unshift(ev);
  return ev;
}

function paymentIntent(ctx: SandboxContext, s: Obj, status: string, extra: Obj = {}): Obj {
  const id = (s.payment_intent as string | null) ?? newId(ctx, 'pi');
  s.payment_intent = id;
  return {
    id,
    object: 'payment_intent',
    amount: s.amount_total,
    amount_received: status === 'succeeded' ? s.amount_total : 0,
    created: now(ctx),
    currency: s.currency,
    latest_charge: status === 'succeeded' ? `ch_${id.slice(3)}` : null,
    livemode: false,
    metadata: s._pi_metadata ?? {},
    status,
    ...extra,
  };
}

/** `POST /sandbox/stripe/checkout`: the customer pays, fails to pay, lets the session expire, or is refunded. */
export function stripeSandboxCheckout(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  let body: Obj;
  try {
    body = JSON.parse(req.body.toString('utf8')) as Obj;
  } catch {
    return { status: 400, json: { error: 'bad_request', message: 'body must be JSON {session, outcome}' } };
  }
  const s = typeof body.session === 'string' ? state(ctx).sessions.get(body.session) : undefined;
  if (!s) return { status: 404, json: { error: 'not_found', message: `no checkout session ${String(body.session)}` } };
  const events: Obj[] = [];
  const conflict = (message: string): SandboxResponse => ({ status: 409, json: { error: 'conflict', message } });
  switch (body.outcome) {
    case 'paid': {
      if (s.status !== 'open') return conflict(`session is ${String(s.status)}`);
      const pi = paymentIntent(ctx, s, 'succeeded');
      Object.assign(s, { status: 'complete', payment_status: 'paid', url: null });
      s.customer_details = { email: s.customer_email ?? 'customer@example.com', name: 'Jenny Rosen', phone: null, tax_exempt: 'none', tax_ids: [] };
      events.push(record(ctx, 'payment_intent.succeeded', pi), record(ctx, 'checkout.session.completed', s));
      break;
    }
    case 'failed': {
      if (s.status !== 'open') return conflict(`session is ${String(s.status)}`);
      const lastPaymentError = { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.', type: 'card_error' };
      events.push(record(ctx, 'payment_intent.payment_failed', paymentIntent(ctx, s, 'requires_payment_method', { last_payment_error: lastPaymentError })));
      break;
    }
    case 'expired':
      if (s.status !== 'open') return conflict(`session is ${String(s.status)}`);
      Object.assign(s, { status: 'expired', url: null });
      events.push(record(ctx, 'checkout.session.expired', s));
      break;
    case 'refunded': {
      if (s.payment_status !== 'paid') return conflict('session is not paid');
      const pi = s.payment_intent as string;
      const charge = { id: `ch_${pi.slice(3)}`, object: 'charge', amount: s.amount_total, amount_refunded: s.amount_total, currency: s.currency, livemode: false, metadata: s._pi_metadata ?? {}, paid: true, payment_intent: pi, refunded: true, status: 'succeeded' };
      events.push(record(ctx, 'charge.refunded', charge, { previous_attributes: { amount_refunded: 0, refunded: false } }));
      break;
    }
    default:
      return { status: 400, json: { error: 'bad_request', message: 'outcome must be paid, failed, expired or refunded' } };
  }
  return { status: 200, json: { session: publicSession(s), events } };
}

/** The Stripe Checkout and events rows of the sandbox's route table. */
export const STRIPE_CHECKOUT_ROUTES: readonly Route[] = [
  { method: 'POST', path: '/v1/checkout/sessions', provider: 'stripe', handler: stripeCreateSession },
  { method: 'GET', path: '/v1/events', provider: 'stripe', handler: stripeListEvents },
  { method: 'POST', path: '/sandbox/stripe/checkout', provider: 'sandbox', handler: stripeSandboxCheckout },
];
