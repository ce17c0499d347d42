/**
 * SendGrid v3 adapter over got: `POST {baseUrl}/v3/mail/send` (JSON, `Authorization: Bearer <apiKey>`), the key
 * check `GET {baseUrl}/v3/scopes` and the Email Activity search `GET {baseUrl}/v3/messages?limit=&query=`.
 * POSTs are never retried here (sindresorhus/got#1672): a resend after a timeout may send twice; the job layer dedupes.
 */
import type { ProviderError } from '../../errors.js';
import { answerError, answerRetryAfter, header, isRecord, parseJsonBody, sendHttp, shapeError, str, type CallSite, type HttpAnswer } from '../http-errors.js';
import type { ActivityMessage, MailMessage, MailSendResult, SendGridPort } from './port.js';

/** Options for {@link createSendGridClient}. `baseUrl` without `/v3` (e.g. `https://api.sendgrid.com`). */
export interface SendGridClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

const SITE: CallSite = { provider: 'sendgrid', operation: 'mail.send' };
const SCOPES_SITE: CallSite = { provider: 'sendgrid', operation: 'scopes' };
const SEARCH_SITE: CallSite = { provider: 'sendgrid', operation: 'messages.search' };

const STATUS_CODES: Record<number, string> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  413: 'payload_too_large',
  429: 'too_many_requests',
};

/**
 * A short code for SendGrid's `{"errors": [{message, field, help}]}`: `errors[0].field` when set
 * (e.g. `personalizations.0.to`, `from`); else the message as snake_case when it is at most four words
 * (`too_many_requests`, `bad_request`); else from the status (401 `unauthorized`, 403 `forbidden`, 413
 * `payload_too_large`, 429 `too_many_requests`, 5xx `server_error`); undefined otherwise.
 */
export function sendgridCode(body: unknown, status: number): string | undefined {
  const first = isRecord(body) && Array.isArray(body.errors) && isRecord(body.errors[0]) ? body.errors[0] : undefined;
  const field = str(first?.field);
  if (field) return field;
  const message = str(first?.message)?.trim();
  if (message && message.split(/\s+/).length <= 4) {
    return message.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  }
  return STATUS_CODES[status] ?? (status >= 500 ? 'server_error' : undefined);
}

/**
 * An error answer → ProviderError with {@link sendgridCode}, the errors' messages and `retryAfterMs` from the
 * `Retry-After` header. `site` defaults to mail send.
 */
export function sendgridAnswerError(ans: HttpAnswer, site: CallSite = SITE): ProviderError {
  const retryAfterMs = answerRetryAfter(ans);
  let body: unknown;
  try {
    body = JSON.parse(ans.text);
  } catch {
    return answerError(site, ans.status, STATUS_CODES[ans.status], ans.text || undefined, { retryAfterMs });
  }
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors.filter(isRecord) : [];
  const message = errors.map((e) => `${str(e.message) ?? ''}${str(e.field) ? ` (${String(e.field)})` : ''}`).join('; ');
  return answerError(site, ans.status, sendgridCode(body, ans.status), message || undefined, { retryAfterMs });
}

/**
 * The v3 body for one plain-text message: one personalization with `to` (and `custom_args` when given),
 * `from.email`, `subject`, `content: [{type: 'text/plain', value}]`, optional `headers` and `attachments`
 * (`{content (base64), type, filename, disposition}`, disposition defaulting to `attachment`).
 */
export function mailBody(msg: MailMessage): Record<string, unknown> {
  return {
    personalizations: [{ to: [{ email: msg.to }], ...(msg.customArgs ? { custom_args: msg.customArgs } : {}) }],
    from: { email: msg.from },
    subject: msg.subject,
    content: [{ type: 'text/plain', value: msg.text }],
    ...(msg.headers ? { headers: msg.headers } : {}),
    ...(msg.attachments?.length
      ? { attachments: msg.attachments.map((a) => ({ content: a.content, type: a.type, filename: a.filename, disposition: a.disposition ?? 'attachment' })) }
      : {}),
  };
}

/**
 * Creates the SendGrid adapter. `send` resolves on any 2xx (SendGrid answers 202, queued) with `messageId` from
 * the `X-Message-Id` header (null when missing). `scopes` resolves with the key's `scopes[]` (strings only).
 * Errors: ProviderError (provider 'sendgrid', operation 'mail.send' or 'scopes'); a 2xx scopes body that is not
 * JSON or has no `scopes` array is a ProviderError with that status.
 */
export function createSendGridClient(opts: SendGridClientOptions): SendGridPort {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const url = `${base}/v3/mail/send`;
  return {
    async scopes(): Promise<string[]> {
      const ans = await sendHttp(SCOPES_SITE, {
        url: `${base}/v3/scopes`,
        headers: { Authorization: `Bearer ${opts.apiKey}`, Accept: 'application/json' },
        timeoutMs: opts.timeoutMs,
      });
      if (ans.status < 200 || ans.status >= 300) throw sendgridAnswerError(ans, SCOPES_SITE);
      const body = parseJsonBody(SCOPES_SITE, ans.status, ans.text);
      if (!isRecord(body) || !Array.isArray(body.scopes)) throw shapeError(SCOPES_SITE, ans.status, 'no scopes[] array');
      return body.scopes.filter((x): x is string => typeof x === 'string');
    },
    async searchMessages(query: string, limit: number): Promise<ActivityMessage[]> {
      const qs = new URLSearchParams({ limit: String(limit), query });
      const ans = await sendHttp(SEARCH_SITE, {
        url: `${base}/v3/messages?${qs.toString().replace(/\+/g, '%20')}`,
        headers: { Authorization: `Bearer ${opts.apiKey}`, Accept: 'application/json' },
        timeoutMs: opts.timeoutMs,
      });
      if (ans.status < 200 || ans.status >= 300) throw sendgridAnswerError(ans, SEARCH_SITE);
      const body = parseJsonBody(SEARCH_SITE, ans.status, ans.text);
      if (!isRecord(body) || !Array.isArray(body.messages)) throw shapeError(SEARCH_SITE, ans.status, 'no messages[] array');
      return body.messages.filter(isRecord).map((m) => ({
        msgId: str(m.msg_id) ?? '',
        toEmail: str(m.to_email) ?? '',
        subject: str(m.subject) ?? '',
        status: str(m.status) ?? '',
        lastEventTime: str(m.last_event_time) ?? null,
      }));
    },
    async send(msg: MailMessage): Promise<MailSendResult> {
      const ans = await sendHttp(SITE, {
        url,
        method: 'POST',
        headers: { Authorization: `Bearer ${opts.apiKey}` },
        json: mailBody(msg),
        timeoutMs: opts.timeoutMs,
      });
      if (ans.status < 200 || ans.status >= 300) throw sendgridAnswerError(ans);
      return { messageId: header(ans, 'x-message-id') ?? null };
    },
  };
}
