/** Stripe: the port and its SDK adapter. */
export { checkoutCreateParams, createStripeClient, stripeConnection, toCheckoutSession, type StripeClientOptions } from './http.js';
export type * from './port.js';
