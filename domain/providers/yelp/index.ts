/** Yelp Fusion: the port and its got adapter. */
export { createYelpClient, mapYelpBusiness, type YelpClientOptions } from './http.js';
export type * from './port.js';
