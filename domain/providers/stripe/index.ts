/** Stripe: the port and its SDK adapter. */
export { createStripeClient, stripeConnection, type StripeClientOptions } from './http.js';
export type * from './port.js';
