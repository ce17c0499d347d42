/** Port for the Stripe API (stripe SDK). The skeleton needs only a connectivity check; the storefront adds more. */

/** `GET /v1/balance`: available amounts per currency, integer minor units (cents). */
export interface StripeBalance {
  livemode: boolean;
  available: { currency: string; amountCents: number }[];
}

/** Stripe. Errors: ProviderError (provider 'stripe', operation as named). */
export interface StripePort {
  retrieveBalance(): Promise<StripeBalance>;
}
