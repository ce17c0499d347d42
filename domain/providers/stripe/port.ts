/**
 * Port for the Stripe API (stripe SDK): a connectivity check, Checkout Sessions (create, retrieve) and the
 * events list (for replaying missed webhooks). Money in integer minor units (cents), times in Unix seconds.
 */

/** `GET /v1/balance`: available amounts per currency, integer minor units (cents). */
export interface StripeBalance {
  livemode: boolean;
  available: { currency: string; amountCents: number }[];
}

/** One Checkout line item sold through inline `price_data` (no Stripe Price object needed). */
export interface CheckoutLineItem {
  /** `price_data.product_data.name`, shown on the hosted page. */
  name: string;
  /** `price_data.product_data.description`. */
  description?: string;
  /** `price_data.unit_amount`, integer cents (≥ 0). */
  unitAmountCents: number;
  quantity: number;
}

/**
 * What `POST /v1/checkout/sessions` is sent (mode `payment`). `expiresAt` → `expires_at` (Unix seconds; Stripe
 * accepts 30 minutes to 24 hours after creation); `metadata` → `metadata` (on the session) and, when
 * `paymentIntentMetadata` is set, `payment_intent_data.metadata` (copied onto the PaymentIntent, so
 * `payment_intent.*` events carry it too).
 */
export interface CheckoutSessionCreate {
  /** `currency`, ISO 4217 lower case (e.g. `usd`). */
  currency: string;
  lineItems: CheckoutLineItem[];
  expiresAt: number;
  metadata: Record<string, string>;
  paymentIntentMetadata?: Record<string, string>;
  clientReferenceId?: string;
  customerEmail?: string;
  successUrl: string;
  cancelUrl: string;
}

/** The fields of a Checkout Session we use (`checkout.session` object). */
export interface CheckoutSession {
  /** `id`, e.g. `cs_test_…`. */
  id: string;
  /** `url` of the hosted payment page (null once the session is complete or expired). */
  url: string | null;
  /** `status`: open | complete | expired. */
  status: string | null;
  /** `payment_status`: paid | unpaid | no_payment_required. */
  paymentStatus: string;
  /** `expires_at`, Unix seconds. */
  expiresAt: number;
  /** `created`, Unix seconds. */
  created: number;
  /** `amount_total`, integer cents (null when not computed yet). */
  amountTotalCents: number | null;
  currency: string | null;
  metadata: Record<string, string>;
  clientReferenceId: string | null;
  customerEmail: string | null;
  /** `payment_intent` id (null until the customer pays, in current API versions). */
  paymentIntentId: string | null;
}

/**
 * A Stripe event in its wire format (the JSON Stripe signs and sends, and `GET /v1/events` lists): `created` in
 * Unix seconds, `data.object` the object as it was when the event happened.
 */
export interface StripeEvent {
  id: string;
  object: 'event';
  type: string;
  created: number;
  livemode: boolean;
  api_version?: string | null;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  request?: { id: string | null; idempotency_key: string | null } | null;
  pending_webhooks?: number;
}

/**
 * `GET /v1/events` parameters: `createdGte` → `created[gte]` (Unix seconds), `startingAfter` → `starting_after`
 * (an event id: the page continues with older events), `limit` 1–100 (Stripe's default 10), `types` → `types[]`.
 */
export interface StripeEventListParams {
  createdGte?: number;
  startingAfter?: string;
  limit?: number;
  types?: string[];
}

/** One page of `GET /v1/events`, newest first; `hasMore` = Stripe `has_more`. */
export interface StripeEventPage {
  events: StripeEvent[];
  hasMore: boolean;
}

/** Stripe. Errors: ProviderError (provider 'stripe', operation as named). */
export interface StripePort {
  /** `GET /v1/balance` (operation `balance.retrieve`). */
  retrieveBalance(): Promise<StripeBalance>;
  /**
   * `POST /v1/checkout/sessions` (operation `checkout.sessions.create`) with `Idempotency-Key: idempotencyKey`, so a
   * retried create returns the first session instead of opening a second one.
   */
  createCheckoutSession(params: CheckoutSessionCreate, opts: { idempotencyKey: string }): Promise<CheckoutSession>;
  /** `GET /v1/checkout/sessions/:id` (operation `checkout.sessions.retrieve`); 404 `resource_missing` when unknown. */
  retrieveCheckoutSession(id: string): Promise<CheckoutSession>;
  /** `GET /v1/events` (operation `events.list`): one page, newest first. */
  listEvents(params: StripeEventListParams): Promise<StripeEventPage>;
}
