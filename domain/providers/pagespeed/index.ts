/** PageSpeed Insights v5: the port and its got adapter. */
export { createPageSpeedClient, mapPageSpeed, PAGESPEED_CATEGORIES, type PageSpeedClientOptions } from './http.js';
export type * from './port.js';
