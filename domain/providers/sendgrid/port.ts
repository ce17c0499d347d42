/** Port for SendGrid v3 Mail Send (`POST /v3/mail/send`, https://www.twilio.com/docs/sendgrid/api-reference/mail-send). */

/** One plain-text message to one recipient. `customArgs` come back on every event-webhook event. */
export interface MailMessage {
  to: string;
  from: string;
  subject: string;
  text: string;
  customArgs?: Record<string, string>;
  headers?: Record<string, string>;
}

/** SendGrid answers 202 with an empty body; `messageId` is the `X-Message-Id` response header. */
export interface MailSendResult {
  messageId: string | null;
}

/** SendGrid mail send. Errors: ProviderError (provider 'sendgrid', operation 'mail.send'). */
export interface SendGridPort {
  send(msg: MailMessage): Promise<MailSendResult>;
}
