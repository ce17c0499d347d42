/** Provider ids as alerting sees them (kept here to avoid a config import cycle). */
export const PROVIDERS_LIST = ['yelp', 'pagespeed', 'openai', 'sendgrid', 'stripe'] as const;
