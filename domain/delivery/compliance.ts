/**
 * What every outreach email carries for compliance (CAN-SPAM: a working opt-out and a postal address; Gmail and
 * Yahoo bulk-sender rules: RFC 8058 one-click unsubscribe):
 * - `List-Unsubscribe: <https://…/unsubscribe?token=…>, <mailto:unsubscribe@<from domain>?subject=unsubscribe>`
 *   (RFC 2369 §3.2; the HTTPS URI first, as RFC 8058 §3.1 needs one);
 * - `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058 §3.1);
 * - a plain-text footer with the unsubscribe link and `config.delivery.postalAddress`.
 * And the way in to the storefront: the signed "Get the full report" link (domain/storefront/link.ts) of the email's
 * business, above the footer, valid `config.storefront.reportLinkTtlMs` from the send.
 */
import type { AppConfig } from '../config.js';
import type { MailMessage } from '../providers/sendgrid/port.js';
import { createReportLinkToken, reportLinkUrl } from '../storefront/link.js';
import { createUnsubscribeToken, unsubscribeUrl } from './unsubscribe.js';

/** The fields of an email row {@link composeMessage} needs. */
export interface OutgoingEmail {
  id: number;
  /** `emails.business_id`: whose report the link sells. */
  businessId: number;
  toAddress: string;
  subject: string;
  body: string;
}

/** `mailto:` opt-out address on the sender's domain (`unsubscribe@<domain of SENDGRID_FROM_EMAIL>`). */
export function unsubscribeMailto(from: string, emailId: number): string {
  const domain = from.split('@')[1] ?? 'localhost';
  return `mailto:unsubscribe@${domain}?subject=${encodeURIComponent(`unsubscribe ${emailId}`)}`;
}

/** The footer appended to every body: a separator, the unsubscribe link, the postal address. */
export function complianceFooter(url: string, postalAddress: string): string {
  return `\n\n--\nTo stop receiving these emails, unsubscribe here: ${url}\n${postalAddress}\n`;
}

/** The paragraph with the signed report link that closes the body (the draft's last line points to it). */
export function reportLinkParagraph(url: string): string {
  return `\n\nGet the full report: ${url}`;
}

/**
 * Builds the SendGrid message for `email`: `to` = trimmed address, `from` = config.sendgridFrom,
 * `customArgs.email_id` (SendGrid echoes custom_args at the top level of every event-webhook event), the two
 * List-Unsubscribe headers and the body with {@link reportLinkParagraph} (a link signed now for the email's business)
 * and {@link complianceFooter}.
 */
export function composeMessage(config: AppConfig, email: OutgoingEmail, now: Date = new Date()): MailMessage {
  const to = email.toAddress.trim();
  const token = createUnsubscribeToken(config.delivery.unsubscribeSecret, email.id, to, now);
  const url = unsubscribeUrl(config.delivery.publicBaseUrl, token);
  const reportToken = createReportLinkToken(config.storefront.reportLinkSecret, { businessId: email.businessId, emailId: email.id }, config.storefront.reportLinkTtlMs, now);
  const report = reportLinkParagraph(reportLinkUrl(config.delivery.publicBaseUrl, reportToken));
  return {
    to,
    from: config.sendgridFrom,
    subject: email.subject,
    text: `${email.body.replace(/\s+$/, '')}${report}${complianceFooter(url, config.delivery.postalAddress)}`,
    customArgs: { email_id: String(email.id) },
    headers: {
      'List-Unsubscribe': `<${url}>, <${unsubscribeMailto(config.sendgridFrom, email.id)}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}
