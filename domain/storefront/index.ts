/** The storefront: pricing, Stripe Checkout, the Stripe webhook intake, event replay and the audit report. */
export { calculateTotal, type PriceBreakdown } from './pricing.js';
export { createCheckout, AUDIT_REPORT_PRODUCT, CHECKOUT_EXPIRY_MARGIN_SECONDS, CHECKOUT_TTL_SECONDS, type CheckoutRequest, type CheckoutResult } from './checkout.js';
export { HANDLED_EVENT_TYPES, STATUS_RANK, applyToPurchase, decide, transitionFor, type PurchaseEffect, type Transition } from './apply.js';
export {
  PARKED_PREFIX,
  STRIPE_PROVIDER,
  STRIPE_SIGNATURE_TOLERANCE_SECONDS,
  SignatureError,
  flattenResults,
  ingestStripeEvent,
  processInboxEvent,
  recordSignatureFailure,
  reprocessInbox,
  sendReportsFor,
  storeEvent,
  verifyStripeEvent,
  type EventResult,
} from './webhook.js';
export { STRIPE_EVENT_RETENTION_DAYS, replayEvents, type ReplayOptions, type ReplaySummary } from './replay.js';
export { deliverReport, loadReportData, renderAuditReport, resendReport, type ReportData, type ReportDelivery, type ReportSendResult } from './report.js';
export type { StorefrontDeps } from './deps.js';
