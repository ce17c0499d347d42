/**
 * Status vocabularies of the businesses and emails tables, in a module that imports nothing, so code that only
 * reads counts (the CLI's `lf status`) does not load the ORM. The entity modules re-export them.
 */
/** Pipeline status of a business, in the troubleshooting guide's terms (DESIGN.md "Data"). */
export const BUSINESS_STATUSES = [
  'new',
  'assessment_pending',
  'assessed',
  'assessment_failed',
  'scored',
  'email_pending',
  'emailed',
  'suppressed',
  'skipped',
] as const;
export type BusinessStatus = (typeof BUSINESS_STATUSES)[number];

/**
 * Email status, forward-only (DESIGN.md "Data"); `held` = over the spam threshold, not sent; `sending` = claimed by
 * a delivery worker before the SendGrid call (so a crash can never send it twice); `suppressed` = address on the
 * suppression list.
 */
export const EMAIL_STATUSES = [
  'pending',
  'held',
  'sending',
  'sent',
  'delivered',
  'bounced',
  'dropped',
  'deferred',
  'spam_reported',
  'unsubscribed',
  'failed',
  'suppressed',
] as const;
export type EmailStatus = (typeof EMAIL_STATUSES)[number];
