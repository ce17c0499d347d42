/**
 * Sandbox handlers for the GET APIs: Yelp business search, PageSpeed runPagespeed and Stripe balance.
 * Error bodies copy the recorded ones in shared/fixtures/real (see SOURCES.md).
 */
import { pickPageSpeedFixture, pickYelpFixture } from './fixtures.js';
import { generateBalance, generatePageSpeed, psiCategoryId } from './generate.js';
import { yelpListing, yelpRegion, yelpTotal } from './generate-yelp.js';
import { ALNUM, rng } from './prng.js';
import { bump, type SandboxContext, type SandboxRequest, type SandboxResponse } from './server.js';

// ---------------------------------------------------------------- Yelp

/** Yelp's daily call cap the sandbox advertises (the recorded cassettes show 5000). */
export const YELP_DAILY_LIMIT = 5000;

/** A Yelp error answer: `{"error": {"code", "description"}}`. */
export function yelpError(status: number, code: string, description: string, headers?: Record<string, string>): SandboxResponse {
  return { status, headers, json: { error: { code, description } } };
}

function yelpRateHeaders(ctx: SandboxContext): Record<string, string> {
  const used = bump(ctx, 'yelp.calls');
  const now = ctx.clock.now();
  const reset = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  return {
    'RateLimit-DailyLimit': String(YELP_DAILY_LIMIT),
    'RateLimit-Remaining': String(Math.max(0, YELP_DAILY_LIMIT - used)),
    'RateLimit-ResetTime': reset.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
  };
}

function intParam(raw: string | null, dflt: number): number | undefined {
  if (raw === null || raw === '') return dflt;
  return /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
}

/**
 * `GET /yelp/v3/businesses/search`. Needs `Authorization: Bearer` (401 TOKEN_MISSING), `location` (400
 * VALIDATION_ERROR), `limit` ≤ 50 (400 VALIDATION_ERROR as recorded), `offset + limit` ≤ 1000 (500 INTERNAL_ERROR as
 * recorded in yelp-fusion#106). Sends `RateLimit-DailyLimit/-Remaining/-ResetTime` on every authenticated answer.
 */
export function yelpSearch(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  if (!req.bearer) {
    return yelpError(401, 'TOKEN_MISSING', 'An access token must be supplied in order to use this endpoint.');
  }
  const headers = yelpRateHeaders(ctx);
  const location = req.query.get('location')?.trim() ?? '';
  if (!location) {
    return yelpError(400, 'VALIDATION_ERROR', 'Please specify a location or a latitude and longitude', headers);
  }
  const rawLimit = req.query.get('limit');
  const limit = intParam(rawLimit, 20);
  if (limit === undefined || limit > 50) {
    return yelpError(400, 'VALIDATION_ERROR', `The supplied limit: ${rawLimit} is invalid.`, headers);
  }
  const rawOffset = req.query.get('offset');
  const offset = intParam(rawOffset, 0);
  if (offset === undefined) {
    return yelpError(400, 'VALIDATION_ERROR', `The supplied offset: ${rawOffset} is invalid.`, headers);
  }
  if (offset + limit > 1000) {
    return yelpError(500, 'INTERNAL_ERROR', 'Something went wrong internally, please try again later', headers);
  }
  if (!/[\p{L}\p{N}]/u.test(location)) {
    return yelpError(400, 'LOCATION_NOT_FOUND', 'Could not execute search, try specifying a more exact location.', headers);
  }

  const fixture = ctx.fixtures ? pickYelpFixture(ctx.fixtures, location) : undefined;
  if (fixture) {
    if (offset === 0) return { status: 200, headers: { ...headers, 'Content-Type': 'application/json' }, body: fixture.body };
    return { status: 200, headers, json: { businesses: [], total: fixture.total, region: fixture.region } };
  }
  const q = { location, categories: req.query.get('categories')?.trim() || undefined };
  const all = yelpListing(ctx.seed, q);
  return {
    status: 200,
    headers,
    json: { businesses: all.slice(offset, offset + limit), total: yelpTotal(ctx.seed, q), region: yelpRegion(ctx.seed, q) },
  };
}

// ---------------------------------------------------------------- PageSpeed

/** A Google API error answer (`{"error": {code, message, errors[{message, domain, reason}], status}}`). */
export function googleError(code: number, message: string, reason: string, status: string, domain = 'global'): SandboxResponse {
  return { status: code, json: { error: { code, message, errors: [{ message, domain, reason }], status } } };
}

/**
 * `GET /pagespeed/pagespeedonline/v5/runPagespeed?url=&strategy=&category=…&key=`. `url` is required (400
 * INVALID_ARGUMENT); `strategy` is mobile|desktop (any case; default mobile); `category` may repeat or be
 * comma-separated (performance, accessibility, best-practices or BEST_PRACTICES, seo; default performance only).
 * Hosts `localhost` and `*.invalid` fail like an unreachable page (400 lighthouseUserError, as recorded).
 * The API key is optional, as with Google.
 */
export function pagespeedRun(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const url = req.query.get('url')?.trim();
  if (!url) return googleError(400, 'Required parameter: url', 'required', 'INVALID_ARGUMENT');
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    return googleError(400, `Invalid value at 'url' (TYPE_STRING), "${url}"`, 'invalid', 'INVALID_ARGUMENT');
  }
  const rawStrategy = (req.query.get('strategy') ?? 'mobile').toLowerCase();
  if (rawStrategy !== 'mobile' && rawStrategy !== 'desktop') {
    return googleError(400, `Invalid value at 'strategy' (type.googleapis.com/google.chrome.lighthouse.v5.Strategy), "${req.query.get('strategy')}"`, 'invalid', 'INVALID_ARGUMENT');
  }
  const categories: string[] = [];
  for (const raw of req.query.getAll('category').flatMap((c) => c.split(','))) {
    if (!raw.trim()) continue;
    const id = psiCategoryId(raw);
    if (!id) {
      return googleError(400, `Invalid value at 'category' (type.googleapis.com/google.chrome.lighthouse.v5.Category), "${raw}"`, 'invalid', 'INVALID_ARGUMENT');
    }
    if (!categories.includes(id)) categories.push(id);
  }
  if (parsed.hostname === 'localhost' || parsed.hostname.endsWith('.invalid')) {
    const message =
      'Lighthouse returned error: FAILED_DOCUMENT_REQUEST. Lighthouse was unable to reliably load the page you requested. Make sure you are testing the correct URL and that the server is properly responding to all requests. (Details: net::ERR_NAME_NOT_RESOLVED)';
    return { status: 400, json: { error: { code: 400, message, errors: [{ message, domain: 'lighthouse', reason: 'lighthouseUserError' }] } } };
  }
  const fixture = ctx.fixtures ? pickPageSpeedFixture(ctx.fixtures, url) : undefined;
  if (fixture) return { status: 200, headers: { 'Content-Type': 'application/json; charset=UTF-8' }, body: fixture.body };
  return { status: 200, json: generatePageSpeed(ctx.seed, { url, strategy: rawStrategy, categories }, ctx.clock.now()) };
}

// ---------------------------------------------------------------- Stripe

/** A Stripe error answer (`{"error": {message, type, code?}}`) with a `Request-Id` header. */
export function stripeError(ctx: SandboxContext, status: number, error: Record<string, unknown>): SandboxResponse {
  return { status, headers: stripeHeaders(ctx), json: { error } };
}

function stripeHeaders(ctx: SandboxContext): Record<string, string> {
  return { 'Request-Id': `req_${rng(ctx.seed, 'stripe-req', bump(ctx, 'stripe.requests')).chars(14, ALNUM)}` };
}

/** Checks Stripe's Bearer secret key; returns the 401 answer, or undefined when the key looks valid. */
export function stripeAuth(req: SandboxRequest, ctx: SandboxContext): SandboxResponse | undefined {
  const key = req.bearer;
  if (!key) {
    return stripeError(ctx, 401, {
      message:
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
      type: 'invalid_request_error',
    });
  }
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/.test(key)) {
    const masked = key.length > 10 ? `${key.slice(0, 7)}${'*'.repeat(key.length - 10)}${key.slice(-3)}` : '*'.repeat(key.length);
    return stripeError(ctx, 401, { message: `Invalid API Key provided: "${masked}"`, type: 'invalid_request_error' });
  }
  return undefined;
}

/** `GET /v1/balance`: a Stripe balance object; 401 as recorded (stripe-node#1437) without a valid secret key. */
export function stripeBalance(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const denied = stripeAuth(req, ctx);
  if (denied) return denied;
  return { status: 200, headers: stripeHeaders(ctx), json: generateBalance(ctx.seed, req.bearer?.includes('_live_') ?? false) };
}

/** Stripe's 404 for an unknown `/v1/...` path. */
export function stripeNotFound(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  return stripeError(ctx, 404, {
    message: `Unrecognized request URL (${req.method}: ${req.path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    type: 'invalid_request_error',
  });
}

// ---------------------------------------------------------------- SendGrid

/** SendGrid's 401 body for every v3 endpoint (recorded, sendgrid-php#793), byte for byte. */
const SENDGRID_401_TEXT = '{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}';

/** Scopes of a realistic Mail Send + read-only SendGrid key (what `GET /v3/scopes` lists), sorted. */
export const SENDGRID_SCOPES: readonly string[] = [
  '2fa_required',
  'alerts.read',
  'api_keys.read',
  'mail.batch.read',
  'mail.send',
  'mail_settings.read',
  'messages.read',
  'sender_verification_eligible',
  'stats.global.read',
  'suppression.read',
  'templates.read',
  'tracking_settings.read',
  'user.profile.read',
  'user.webhooks.event.settings.read',
];

/**
 * `GET /sendgrid/v3/scopes` → `{"scopes": [...]}` ({@link SENDGRID_SCOPES}). 401 (the recorded mail-send body)
 * without a Bearer key. A key containing `nosend` lacks `mail.send` (to exercise a key check that fails).
 */
export function sendgridScopes(req: SandboxRequest): SandboxResponse {
  if (!req.bearer) return { status: 401, headers: { 'Content-Type': 'application/json' }, body: SENDGRID_401_TEXT };
  const scopes = /nosend/i.test(req.bearer) ? SENDGRID_SCOPES.filter((s) => s !== 'mail.send') : [...SENDGRID_SCOPES];
  return { status: 200, json: { scopes } };
}
