/**
 * Port for SendGrid v3 Mail Send (`POST /v3/mail/send`, https://www.twilio.com/docs/sendgrid/api-reference/mail-send)
 * and the API-key check (`GET /v3/scopes`, https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions).
 */

/**
 * A file sent with a message (v3 `attachments[]`): `content` base64-encoded bytes, `type` the MIME type (e.g.
 * `application/pdf`), `filename` as the recipient sees it, `disposition` attachment (default) or inline.
 */
export interface MailAttachment {
  content: string;
  type: string;
  filename: string;
  disposition?: 'attachment' | 'inline';
}

/** One plain-text message to one recipient. `customArgs` come back on every event-webhook event. */
export interface MailMessage {
  to: string;
  from: string;
  subject: string;
  text: string;
  customArgs?: Record<string, string>;
  headers?: Record<string, string>;
  /** Files to attach (e.g. the audit report PDF). */
  attachments?: MailAttachment[];
}

/** SendGrid answers 202 with an empty body; `messageId` is the `X-Message-Id` response header. */
export interface MailSendResult {
  messageId: string | null;
}

/**
 * One message of SendGrid's Email Activity feed (`GET /v3/messages` → `messages[]`,
 * https://www.twilio.com/docs/sendgrid/api-reference/email-activity/filter-all-messages): `msgId` is SendGrid's
 * message id (`<X-Message-Id>.filter…`), `status` `processed` | `delivered` | `not_delivered`, `lastEventTime` ISO.
 */
export interface ActivityMessage {
  msgId: string;
  toEmail: string;
  subject: string;
  status: string;
  lastEventTime: string | null;
}

/** SendGrid. Errors: ProviderError (provider 'sendgrid', operation 'mail.send', 'scopes' or 'messages.search'). */
export interface SendGridPort {
  send(msg: MailMessage): Promise<MailSendResult>;
  /**
   * The permissions of the configured key (`GET /v3/scopes` → `{"scopes": [...]}`), e.g. `mail.send`. A key that
   * can send lists `mail.send`; an invalid key is a ProviderError with status 401.
   */
  scopes(): Promise<string[]>;
  /**
   * Searches the Email Activity feed: `GET /v3/messages?limit=&query=` with SendGrid's query language (e.g.
   * {@link activityQueryByCustomArg}). A paid add-on: accounts without it (or keys without `messages.read`) get a
   * ProviderError with status 403 (or 401/404).
   */
  searchMessages(query: string, limit: number): Promise<ActivityMessage[]>;
}

/**
 * The Email Activity query for messages carrying our custom arg `name` = `value` (SendGrid stores `custom_args` as
 * unique args): `unique_args['name']="value"`. Quotes and backslashes in `value` are escaped.
 */
export function activityQueryByCustomArg(name: string, value: string): string {
  return `unique_args['${name.replace(/'/g, '')}']="${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
