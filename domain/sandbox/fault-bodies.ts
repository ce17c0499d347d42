/**
 * Recorded provider error bodies, copied byte for byte (trailing newline included) from shared/fixtures/real so the
 * sandbox never reads ../shared at run time. Provenance of each body: shared/fixtures/real/SOURCES.md.
 * {@link RECORDED_FILES} names the file each constant was copied from (tests compare the two).
 */

/** Yelp QPS limit: `yelp/error.429.too-many-requests-per-second.yelp-docs.json`. */
export const YELP_429_PER_SECOND = "{\n  \"error\": {\n    \"code\": \"TOO_MANY_REQUESTS_PER_SECOND\",\n    \"description\": \"You have exceeded the queries-per-second limit for this endpoint. Try reducing the rate at which you make queries.\"\n  }\n}\n";

/** Yelp daily limit: `yelp/error.429.access-limit-reached.yelp-fusion-issue-444.json`. */
export const YELP_429_ACCESS_LIMIT = "{\n  \"error\": {\n    \"code\": \"ACCESS_LIMIT_REACHED\",\n    \"description\": \"You've reached the access limit for this client. See instructions for requesting a higher access limit at https://www.yelp.com/developers/documentation/v3/rate_limiting\"\n  }\n}\n";

/** Yelp 500 INTERNAL_ERROR: `yelp/error.500.internal-error.yelp-fusion-issue-106.json`. */
export const YELP_500_INTERNAL = "{\n  \"error\": {\n    \"description\": \"Something went wrong internally, please try again later\",\n    \"code\": \"INTERNAL_ERROR\"\n  }\n}\n";

/** OpenAI TPM rate limit: `openai/error.429.rate-limit-tokens-per-min.openai-codex-88.json`. */
export const OPENAI_429_RATE_LIMIT = "{\n  \"error\": {\n    \"message\": \"Rate limit reached for o4-mini in organization org-******* on tokens per min (TPM): Limit 200000, Used 162960, Requested 42288. Please try again in 1.574s. Visit https://platform.openai.com/account/rate-limits to learn more.\",\n    \"type\": \"tokens\",\n    \"param\": null,\n    \"code\": \"rate_limit_exceeded\"\n  }\n}\n";

/** OpenAI billing quota: `openai/error.429.insufficient-quota.nextchat-3664.json`. */
export const OPENAI_429_INSUFFICIENT_QUOTA = "{\n  \"error\": {\n    \"message\": \"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.\",\n    \"type\": \"insufficient_quota\",\n    \"param\": null,\n    \"code\": \"insufficient_quota\"\n  }\n}\n";

/** PageSpeed per-100-s quota: `pagespeed/error.429.quota-exceeded-per-100s.web-dev-4349.json`. */
export const PAGESPEED_429_PER_100S = "{\n  \"error\": {\n    \"code\": 429,\n    \"message\": \"Quota exceeded for quota group 'default' and limit 'Queries per 100 seconds' of service 'pagespeedonline.googleapis.com' for consumer 'project_number:583797351490'.\",\n    \"errors\": [\n      {\n        \"message\": \"Quota exceeded for quota group 'default' and limit 'Queries per 100 seconds' of service 'pagespeedonline.googleapis.com' for consumer 'project_number:583797351490'.\",\n        \"domain\": \"global\",\n        \"reason\": \"rateLimitExceeded\"\n      }\n    ],\n    \"status\": \"RESOURCE_EXHAUSTED\"\n  }\n}\n";

/** SendGrid rate limit: `sendgrid/api.error.429.too-many-requests.json`. */
export const SENDGRID_429 = "{\"errors\":[{\"field\":null,\"message\":\"too many requests\"}]}\n";

/** SendGrid invalid key: `sendgrid/mail-send.error.401.invalid-api-key.json`. */
export const SENDGRID_401_INVALID_KEY = "{\"errors\":[{\"message\":\"The provided authorization grant is invalid, expired, or revoked\",\"field\":null,\"help\":null}]}\n";

/** SendGrid 400 on a recipient: `sendgrid/mail-send.error.400.to-email-required.json`. */
export const SENDGRID_400_TO_EMAIL_REQUIRED = "{\"errors\":[{\"message\":\"The to email parameter is required.\",\"field\":\"personalizations.0.to.0.email\",\"help\":\"http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to\"}]}\n";

/** Stripe rate limit: `stripe/error.429.rate_limit.legacy.codecombat-2588.json`. */
export const STRIPE_429_RATE_LIMIT = "{\n  \"error\": {\n    \"type\": \"invalid_request_error\",\n    \"message\": \"Request rate limit exceeded\",\n    \"code\": \"rate_limit\"\n  }\n}\n";

/** Stripe invalid key: `stripe/error.401.invalid_api_key.stripe-node-1437.json`. */
export const STRIPE_401_INVALID_KEY = "{\n  \"error\": {\n    \"message\": \"Invalid API Key provided: \\\"sk_test*************************************************************************************************JhB\\\"\",\n    \"type\": \"invalid_request_error\"\n  }\n}\n";

/** Constant name → the fixture file (relative to shared/fixtures/real) it is a copy of. */
export const RECORDED_FILES: Readonly<Record<string, string>> = {
  YELP_429_PER_SECOND: 'yelp/error.429.too-many-requests-per-second.yelp-docs.json',
  YELP_429_ACCESS_LIMIT: 'yelp/error.429.access-limit-reached.yelp-fusion-issue-444.json',
  YELP_500_INTERNAL: 'yelp/error.500.internal-error.yelp-fusion-issue-106.json',
  OPENAI_429_RATE_LIMIT: 'openai/error.429.rate-limit-tokens-per-min.openai-codex-88.json',
  OPENAI_429_INSUFFICIENT_QUOTA: 'openai/error.429.insufficient-quota.nextchat-3664.json',
  PAGESPEED_429_PER_100S: 'pagespeed/error.429.quota-exceeded-per-100s.web-dev-4349.json',
  SENDGRID_429: 'sendgrid/api.error.429.too-many-requests.json',
  SENDGRID_401_INVALID_KEY: 'sendgrid/mail-send.error.401.invalid-api-key.json',
  SENDGRID_400_TO_EMAIL_REQUIRED: 'sendgrid/mail-send.error.400.to-email-required.json',
  STRIPE_429_RATE_LIMIT: 'stripe/error.429.rate_limit.legacy.codecombat-2588.json',
  STRIPE_401_INVALID_KEY: 'stripe/error.401.invalid_api_key.stripe-node-1437.json',
};

// ---------------------------------------------------------------- not recorded: realistic bodies in each format

/** The provider-shaped error kinds the sandbox can answer (the others — timeout, slow, malformed — have no body). */
export type ErrorKind = 'rate_limit' | 'server_error' | 'invalid_key' | 'quota_exhausted' | 'bad_request';

/** Providers the sandbox imitates (every {@link SandboxProvider} except the sandbox's own routes). */
export type FaultProvider = 'yelp' | 'pagespeed' | 'openai' | 'sendgrid' | 'stripe';

/** One error answer: HTTP status, body bytes as text and its `Content-Type`. */
export interface ErrorBody {
  status: number;
  body: string;
  contentType: string;
}

const JSON_TYPE = 'application/json';
const GOOGLE_TYPE = 'application/json; charset=UTF-8';

/** Yelp's own serialization (`{"error": {"code": …, "description": …}}`, Python-style separators, as recorded). */
function yelpBody(code: string, description: string): string {
  return `{"error": {"code": ${JSON.stringify(code)}, "description": ${JSON.stringify(description)}}}`;
}

/** Google's API error envelope, 2-space indented like the recorded PageSpeed bodies. */
function googleBody(code: number, message: string, reason: string, status: string): string {
  return `${JSON.stringify({ error: { code, message, errors: [{ message, domain: 'global', reason }], status } }, null, 2)}\n`;
}

/** OpenAI's error envelope, 4-space indented as api.openai.com sends it. */
function openaiBody(message: string, type: string, code: string | number | null): string {
  return `${JSON.stringify({ error: { message, type, param: null, code } }, null, 4)}\n`;
}

/** Stripe's error envelope, 2-space indented as api.stripe.com sends it. */
function stripeBody(error: Record<string, unknown>): string {
  return `${JSON.stringify({ error }, null, 2)}\n`;
}

/** SendGrid's `{"errors":[…]}`, compact, key order of the recorded 429 body. */
function sendgridBody(message: string): string {
  return `${JSON.stringify({ errors: [{ field: null, message }] })}\n`;
}

/** Masks a key the way OpenAI does in its 401 message (`sk-sand****************box`). */
function maskKey(key: string | undefined): string {
  if (!key) return '';
  return key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}` : `${key.slice(0, 2)}***`;
}

function serverError(provider: FaultProvider, status: number): string {
  switch (provider) {
    case 'yelp':
      return YELP_500_INTERNAL;
    case 'pagespeed':
      return status === 500
        ? googleBody(500, 'Internal error encountered.', 'backendError', 'INTERNAL')
        : googleBody(status, 'The service is currently unavailable.', 'backendError', 'UNAVAILABLE');
    case 'openai':
      if (status === 502) return `${JSON.stringify({ error: { code: 502, message: 'Bad gateway.', param: null, type: 'cf_bad_gateway' } }, null, 4)}\n`;
      return status === 500
        ? openaiBody('The server had an error while processing your request. Sorry about that!', 'server_error', null)
        : openaiBody('The server is overloaded or not ready yet.', 'server_error', null);
    case 'sendgrid':
      return sendgridBody(status === 500 ? 'internal server error' : status === 502 ? 'bad gateway' : 'service unavailable');
    case 'stripe':
      return stripeBody({ message: 'An unknown error occurred', type: 'api_error' });
  }
}

function rateLimit(provider: FaultProvider): string {
  switch (provider) {
    case 'yelp':
      return YELP_429_PER_SECOND;
    case 'pagespeed':
      return PAGESPEED_429_PER_100S;
    case 'openai':
      return OPENAI_429_RATE_LIMIT;
    case 'sendgrid':
      return SENDGRID_429;
    case 'stripe':
      return STRIPE_429_RATE_LIMIT;
  }
}

function quotaExhausted(provider: FaultProvider): string {
  switch (provider) {
    case 'yelp':
      return YELP_429_ACCESS_LIMIT;
    case 'pagespeed':
      return googleBody(
        429,
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service 'pagespeedonline.googleapis.com' for consumer 'project_number:583797351490'.",
        'rateLimitExceeded',
        'RESOURCE_EXHAUSTED',
      );
    case 'openai':
      return OPENAI_429_INSUFFICIENT_QUOTA;
    case 'sendgrid':
      return sendgridBody('Maximum credits exceeded');
    case 'stripe':
      return stripeBody({
        code: 'rate_limit',
        doc_url: 'https://stripe.com/docs/error-codes/rate-limit',
        message: 'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.',
        type: 'invalid_request_error',
      });
  }
}

function invalidKey(provider: FaultProvider, status: number, bearer: string | undefined): string {
  switch (provider) {
    case 'yelp':
      return yelpBody('TOKEN_INVALID', 'Invalid access token or authorization header.');
    case 'pagespeed':
      return status === 403
        ? googleBody(403, 'Requests to this API pagespeedonline method google.chrome.lighthouse.v5.PagespeedApi.Runpagespeed are blocked.', 'forbidden', 'PERMISSION_DENIED')
        : googleBody(status, 'API key not valid. Please pass a valid API key.', 'badRequest', 'INVALID_ARGUMENT');
    case 'openai':
      return openaiBody(
        `Incorrect API key provided: ${maskKey(bearer)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        'invalid_request_error',
        'invalid_api_key',
      );
    case 'sendgrid':
      return SENDGRID_401_INVALID_KEY;
    case 'stripe':
      return STRIPE_401_INVALID_KEY;
  }
}

/** A 400 for a request the provider refuses as malformed (SendGrid: the recorded recipient error). */
function badRequest(provider: FaultProvider): string {
  switch (provider) {
    case 'yelp':
      return yelpBody('VALIDATION_ERROR', "'location' is a required parameter");
    case 'pagespeed':
      return googleBody(400, 'Invalid value at \'url\' (TYPE_STRING), ""', 'badRequest', 'INVALID_ARGUMENT');
    case 'openai':
      return openaiBody("Invalid value for 'messages': expected an array.", 'invalid_request_error', null);
    case 'sendgrid':
      return SENDGRID_400_TO_EMAIL_REQUIRED;
    case 'stripe':
      return stripeBody({ message: 'Invalid request', type: 'invalid_request_error' });
  }
}

/** Default HTTP status per error kind (PageSpeed answers a bad key with 400, as Google does). */
export function defaultStatus(provider: FaultProvider, kind: ErrorKind): number {
  if (kind === 'server_error') return 503;
  if (kind === 'bad_request') return 400;
  if (kind === 'invalid_key') return provider === 'pagespeed' ? 400 : 401;
  return 429;
}

/**
 * The provider's error answer for `kind`: the recorded body where shared/fixtures/real has one (byte for byte),
 * else a realistic body in that provider's error format. `status` overrides the default ({@link defaultStatus});
 * the body does not change with it except where the provider's own body names the status (Google, OpenAI 502,
 * SendGrid 5xx text). `bearer` is only used to mask the key in OpenAI's 401 message.
 */
export function errorBody(provider: FaultProvider, kind: ErrorKind, status?: number, bearer?: string): ErrorBody {
  const s = status ?? defaultStatus(provider, kind);
  const body =
    kind === 'rate_limit'
      ? rateLimit(provider)
      : kind === 'quota_exhausted'
        ? quotaExhausted(provider)
        : kind === 'invalid_key'
          ? invalidKey(provider, s, bearer)
          : kind === 'bad_request'
            ? badRequest(provider)
            : serverError(provider, s);
  return { status: s, body, contentType: provider === 'pagespeed' ? GOOGLE_TYPE : JSON_TYPE };
}
