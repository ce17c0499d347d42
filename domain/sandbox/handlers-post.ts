/**
 * Sandbox handlers for the POST APIs: OpenAI chat completions and SendGrid mail send.
 * Error bodies copy the recorded ones in shared/fixtures/real (see SOURCES.md).
 */
import { scriptedToolChat } from './assistant-llm.js';
import { generateChatCompletion } from './generate.js';
import { rng } from './prng.js';
import { recordAcceptedMail } from './sendgrid-activity.js';
import { bump, type SandboxContext, type SandboxRequest, type SandboxResponse } from './server.js';

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------- OpenAI

/** An OpenAI error answer: `{"error": {message, type, param, code}}`. */
export function openaiError(status: number, message: string, type: string, param: string | null, code: string | null): SandboxResponse {
  return { status, json: { error: { message, type, param, code } } };
}

function textOf(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : ''))
      .join('');
  }
  return undefined;
}

/**
 * `POST /openai/v1/chat/completions`. Needs a Bearer key (401 invalid_api_key), a JSON body (400), `model` and a
 * non-empty `messages` array (400), and — as OpenAI requires — the word "json" in the messages when
 * `response_format.type` is `json_object` (400, param `messages`). Fixture mode serves the first recorded
 * `chat.completion.text.*.json` verbatim.
 */
export function openaiChat(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  if (!req.bearer) {
    return openaiError(
      401,
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.",
      'invalid_request_error',
      null,
      'invalid_api_key',
    );
  }
  const n = bump(ctx, 'openai.requests');
  const headers = {
    'x-request-id': `req_${rng(ctx.seed, 'openai-req', n).chars(32, '0123456789abcdef')}`,
    'openai-processing-ms': String(200 + rng(ctx.seed, 'openai-ms', n).int(0, 800)),
    'x-ratelimit-limit-requests': '5000',
    'x-ratelimit-remaining-requests': String(Math.max(0, 5000 - n)),
    'x-ratelimit-reset-requests': '12ms',
  };
  const parsed = parseJson(req.body);
  if (!parsed.ok || !isObject(parsed.value)) {
    return {
      ...openaiError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        'invalid_request_error',
        null,
        null,
      ),
      headers,
    };
  }
  const body = parsed.value;
  if (typeof body.model !== 'string' || body.model === '') {
    return { ...openaiError(400, 'you must provide a model parameter', 'invalid_request_error', null, null), headers };
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return {
      ...openaiError(400, "Missing required parameter: 'messages'.", 'invalid_request_error', 'messages', 'missing_required_parameter'),
      headers,
    };
  }
  // tool calling (the ops assistant): the scripted model (assistant-llm.ts); without tools nothing changes
  if (Array.isArray(body.tools) && body.tools.length > 0) return scriptedToolChat(body, ctx, headers, ctx.clock.now());
  const messages: { role: string; content: string }[] = [];
  for (const [i, m] of body.messages.entries()) {
    const content = isObject(m) ? textOf(m.content) : undefined;
    if (!isObject(m) || typeof m.role !== 'string' || content === undefined) {
      return { ...openaiError(400, `Invalid value for 'messages[${i}]'.`, 'invalid_request_error', `messages[${i}]`, 'invalid_value'), headers };
    }
    messages.push({ role: m.role, content });
  }
  const json = isObject(body.response_format) && body.response_format.type === 'json_object';
  if (json && !messages.some((m) => /json/i.test(m.content))) {
    return {
      ...openaiError(
        400,
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        'invalid_request_error',
        'messages',
        null,
      ),
      headers,
    };
  }
  const rawMax = body.max_completion_tokens ?? body.max_tokens;
  const maxTokens = typeof rawMax === 'number' && Number.isInteger(rawMax) && rawMax > 0 ? rawMax : undefined;
  if (ctx.fixtures?.openaiText) {
    return { status: 200, headers: { ...headers, 'Content-Type': 'application/json' }, body: ctx.fixtures.openaiText.body };
  }
  return { status: 200, headers, json: generateChatCompletion(ctx.seed, { model: body.model, messages, maxTokens, json }, ctx.clock.now()) };
}

// ---------------------------------------------------------------- SendGrid

const SG_HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';
type SgError = { message: string; field: string | null; help: string | null };

/** SendGrid's 401 body (recorded, sendgrid-php#793). */
export const SENDGRID_401 = { errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked', field: null, help: null }] };
/** SendGrid's body-less 400 (recorded, sendgrid/docs#5060). */
export const SENDGRID_BAD_REQUEST = { errors: [{ message: 'Bad Request', field: null, help: null }] };

const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;

function emailErrors(list: unknown, field: string, required: boolean, seen: Set<string>, pIndex: number, errors: SgError[]): void {
  if (list === undefined && !required) return;
  if (!Array.isArray(list) || list.length === 0) {
    if (required) {
      errors.push({
        message: 'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
        field,
        help: `${SG_HELP}#message.personalizations.to`,
      });
    }
    return;
  }
  list.forEach((item, j) => {
    const email = isObject(item) ? item.email : undefined;
    if (typeof email !== 'string' || email.trim() === '') {
      errors.push({ message: `The ${field.split('.').pop()} email parameter is required.`, field: `${field}.${j}.email`, help: `${SG_HELP}#message.personalizations.to` });
    } else if (!EMAIL.test(email)) {
      errors.push({ message: 'Does not contain a valid address.', field: `${field}.${j}.email`, help: `${SG_HELP}#message.personalizations.to` });
    } else if (seen.has(email.toLowerCase())) {
      errors.push({
        message: `Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${email}] in the ${field} field.`,
        field: `personalizations.${pIndex}`,
        help: `${SG_HELP}#message.recipient-errors`,
      });
    } else {
      seen.add(email.toLowerCase());
    }
  });
}

/** Validates a v3 mail/send body the way SendGrid does; returns every problem found (empty when valid). */
export function validateMail(body: Record<string, unknown>): SgError[] {
  const errors: SgError[] = [];
  const hasTemplate = typeof body.template_id === 'string' && body.template_id !== '';
  const ps = body.personalizations;
  if (!Array.isArray(ps) || ps.length === 0) {
    errors.push({
      message: 'The personalizations field is required and must have at least one personalization.',
      field: 'personalizations',
      help: `${SG_HELP}#-Personalizations-Errors`,
    });
  } else {
    ps.forEach((p, i) => {
      const seen = new Set<string>();
      const obj = isObject(p) ? p : {};
      emailErrors(obj.to, `personalizations.${i}.to`, true, seen, i, errors);
      emailErrors(obj.cc, `personalizations.${i}.cc`, false, seen, i, errors);
      emailErrors(obj.bcc, `personalizations.${i}.bcc`, false, seen, i, errors);
    });
  }
  const from = isObject(body.from) ? body.from.email : undefined;
  if (typeof from !== 'string' || !EMAIL.test(from)) {
    errors.push({
      message:
        'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}',
      field: 'from.email',
      help: `${SG_HELP}#message.from`,
    });
  }
  const everySubject = Array.isArray(ps) && ps.length > 0 && ps.every((p) => isObject(p) && typeof p.subject === 'string' && p.subject !== '');
  if (!hasTemplate && !everySubject && (typeof body.subject !== 'string' || body.subject === '')) {
    errors.push({
      message:
        'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
      field: 'subject',
      help: `${SG_HELP}#message.subject`,
    });
  }
  const content = body.content;
  const contentOk =
    Array.isArray(content) &&
    content.length > 0 &&
    content.every((c) => isObject(c) && typeof c.type === 'string' && c.type !== '' && typeof c.value === 'string' && c.value !== '');
  if (!hasTemplate && !contentOk) {
    errors.push({
      message:
        'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
      field: 'content',
      help: `${SG_HELP}#message.content`,
    });
  }
  return errors;
}

/**
 * `POST /sendgrid/v3/mail/send`. 401 (recorded body) without a Bearer key; 400 `{"errors": [...]}` for a body
 * SendGrid would reject; else 202 with an empty body and an `X-Message-Id` (22 characters, unique per request), and
 * the message enters the sandbox's Email Activity feed (`GET /v3/messages`, sendgrid-activity.ts).
 */
export function sendgridSend(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  if (!req.bearer) return { status: 401, json: SENDGRID_401 };
  const parsed = parseJson(req.body);
  if (!parsed.ok || !isObject(parsed.value)) return { status: 400, json: SENDGRID_BAD_REQUEST };
  const errors = validateMail(parsed.value);
  if (errors.length > 0) return { status: 400, json: { errors } };
  const n = bump(ctx, 'sendgrid.sent');
  const xMessageId = rng(ctx.seed, 'sendgrid-msg', n).chars(22);
  recordAcceptedMail(ctx, parsed.value, xMessageId, n); // the Email Activity feed (sendgrid-activity.ts)
  return { status: 202, headers: { 'X-Message-Id': xMessageId } };
}
