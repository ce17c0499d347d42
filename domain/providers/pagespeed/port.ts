/**
 * Port for PageSpeed Insights v5 `runPagespeed` (`GET /pagespeedonline/v5/runPagespeed`,
 * https://developers.google.com/speed/docs/insights/v5/reference/pagespeedapi/runpagespeed).
 */

/** Lighthouse category scores × 100 (0–100), from `lighthouseResult.categories.<id>.score`; null when absent. */
export interface PageSpeedScores {
  performance: number | null;
  accessibility: number | null;
  bestPractices: number | null;
  seo: number | null;
}

/** Lab metrics from `lighthouseResult.audits.<id>.numericValue`. Milliseconds, CLS unitless. */
export interface PageSpeedMetrics {
  lcpMs?: number;
  cls?: number;
  tbtMs?: number;
  fcpMs?: number;
}

/** An audit with estimated savings (`details.overallSavingsMs`), highest first. */
export interface PageSpeedOpportunity {
  id: string;
  title: string;
  savingsMs: number;
}

/** Result of one run. `finalUrl` is `lighthouseResult.finalUrl` (after redirects). */
export interface PageSpeedResult {
  requestedUrl: string;
  finalUrl: string;
  strategy: 'mobile' | 'desktop';
  scores: PageSpeedScores;
  metrics: PageSpeedMetrics;
  /** Top 5 by savings. */
  opportunities: PageSpeedOpportunity[];
}

/** PageSpeed Insights. Errors: ProviderError (provider 'pagespeed', operation 'runPagespeed'). */
export interface PageSpeedPort {
  run(url: string, strategy?: 'mobile' | 'desktop'): Promise<PageSpeedResult>;
}
