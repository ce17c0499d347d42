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

/** SendGrid. Errors: ProviderError (provider 'sendgrid', operation 'mail.send' or 'scopes'). */
export interface SendGridPort {
  send(msg: MailMessage): Promise<MailSendResult>;
  /**
   * The permissions of the configured key (`GET /v3/scopes` → `{"scopes": [...]}`), e.g. `mail.send`. A key that
   * can send lists `mail.send`; an invalid key is a ProviderError with status 401.
   */
  scopes(): Promise<string[]>;
}
