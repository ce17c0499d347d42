/**
 * Generated PageSpeed, OpenAI and Stripe answers, shaped like the recorded payloads in shared/fixtures/real.
 * Content is a pure function of the seed and the request; only timestamps come from the clock.
 */
import { ALNUM, hash32, rng } from './prng.js';

const NBSP = '\u00a0';

// ---------------------------------------------------------------- PageSpeed

/** Lighthouse category ids as they appear in `lighthouseResult.categories`, with their titles. */
export const PSI_CATEGORIES: Record<string, string> = {
  performance: 'Performance',
  accessibility: 'Accessibility',
  'best-practices': 'Best Practices',
  seo: 'SEO',
};

/** Normalises a `category` query value (`BEST_PRACTICES`, `best-practices`, `Seo`) to a Lighthouse id, or undefined. */
export function psiCategoryId(value: string): string | undefined {
  const id = value.trim().toLowerCase().replace(/_/g, '-');
  return id in PSI_CATEGORIES ? id : undefined;
}

const OPPORTUNITIES: [string, string, boolean][] = [
  ['render-blocking-resources', 'Eliminate render-blocking resources', false],
  ['unused-javascript', 'Reduce unused JavaScript', true],
  ['unused-css-rules', 'Reduce unused CSS', true],
  ['modern-image-formats', 'Serve images in next-gen formats', true],
  ['uses-optimized-images', 'Efficiently encode images', true],
  ['offscreen-images', 'Defer offscreen images', true],
  ['server-response-time', 'Reduce initial server response time', false],
  ['uses-text-compression', 'Enable text compression', true],
];

function seconds(ms: number): string {
  return `${(Math.round(ms / 100) / 10).toFixed(1)}${NBSP}s`;
}

function metric(id: string, title: string, numericValue: number, score: number, unit: 'millisecond' | 'unitless') {
  const displayValue =
    unit === 'unitless' ? numericValue.toFixed(3) : id === 'total-blocking-time' ? `${Math.round(numericValue / 10) * 10}${NBSP}ms` : seconds(numericValue);
  return { id, title, description: `${title} metric.`, score, scoreDisplayMode: 'numeric', displayValue, numericValue, numericUnit: unit };
}

/**
 * A runPagespeed v5 body for `url`. Scores (0–1, two decimals) depend on seed, URL (host + path) and strategy
 * (mobile scores lower). Only the requested categories are present (PSI runs only Performance when none is given).
 */
export function generatePageSpeed(
  seed: number,
  req: { url: string; strategy: 'mobile' | 'desktop'; categories: string[] },
  now: Date,
): Record<string, unknown> {
  const u = new URL(req.url);
  const r = rng(seed, 'psi', u.host.toLowerCase() + u.pathname, req.strategy);
  const quality = rng(seed, 'psi-site', u.host.toLowerCase()).next();
  const mobile = req.strategy === 'mobile';
  const clamp = (v: number) => Math.max(0.05, Math.min(1, Math.round(v * 100) / 100));
  const perf = clamp(0.2 + quality * 0.75 - (mobile ? 0.15 : 0) + r.float(-0.05, 0.05));
  const scores: Record<string, number> = {
    performance: perf,
    accessibility: clamp(0.6 + quality * 0.3 + r.float(-0.08, 0.1)),
    'best-practices': clamp(0.65 + quality * 0.3 + r.float(-0.05, 0.05)),
    seo: clamp(0.65 + quality * 0.3 + r.float(-0.06, 0.06)),
  };
  const slow = (1 - perf) * (mobile ? 1.6 : 1);
  const fcp = Math.round(700 + slow * 3200 + r.int(0, 300));
  const lcp = Math.round(fcp + 300 + slow * 5000 + r.int(0, 400));
  const tbt = Math.round(slow * 900 + r.int(0, 80));
  const cls = Math.round(slow * 0.3 * r.next() * 1e4) / 1e4;
  const audits: Record<string, unknown> = {
    'first-contentful-paint': metric('first-contentful-paint', 'First Contentful Paint', fcp, clamp(1 - (fcp - 900) / 4000), 'millisecond'),
    'largest-contentful-paint': metric('largest-contentful-paint', 'Largest Contentful Paint', lcp, clamp(1 - (lcp - 1200) / 6000), 'millisecond'),
    'total-blocking-time': metric('total-blocking-time', 'Total Blocking Time', tbt, clamp(1 - tbt / 800), 'millisecond'),
    'cumulative-layout-shift': metric('cumulative-layout-shift', 'Cumulative Layout Shift', cls, clamp(1 - cls * 3), 'unitless'),
  };
  for (const [id, title, bytes] of OPPORTUNITIES) {
    const savingsMs = r.chance(0.25) ? 0 : Math.round(slow * r.int(50, 2400) / 10) * 10;
    const savingsBytes = bytes ? r.int(2, 900) * 1024 : 0;
    audits[id] = {
      id,
      title,
      description: `${title}.`,
      score: savingsMs === 0 ? 1 : clamp(1 - savingsMs / 3000),
      scoreDisplayMode: 'metricSavings',
      ...(savingsMs > 0 && bytes ? { displayValue: `Potential savings of ${Math.round(savingsBytes / 1024)}${NBSP}KiB` } : {}),
      details: { type: 'opportunity', headings: [], items: [], overallSavingsMs: savingsMs, overallSavingsBytes: savingsBytes, sortedBy: ['wastedBytes'] },
      numericValue: savingsMs,
      numericUnit: 'millisecond',
    };
  }
  const wanted = req.categories.length > 0 ? req.categories : ['performance'];
  const categories: Record<string, unknown> = {};
  for (const id of Object.keys(PSI_CATEGORIES)) {
    if (!wanted.includes(id)) continue;
    categories[id] = { id, title: PSI_CATEGORIES[id], score: scores[id], auditRefs: [] };
  }
  const finalUrl = u.protocol === 'http:' && r.chance(0.7) ? u.href.replace(/^http:/, 'https:') : u.href;
  const fetchTime = now.toISOString();
  return {
    captchaResult: 'CAPTCHA_NOT_NEEDED',
    kind: 'pagespeedonline#result',
    id: finalUrl,
    loadingExperience: { initial_url: req.url },
    lighthouseResult: {
      requestedUrl: req.url,
      finalUrl,
      mainDocumentUrl: finalUrl,
      finalDisplayedUrl: finalUrl,
      lighthouseVersion: '12.6.0',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/137.0.0.0 Safari/537.36',
      fetchTime,
      environment: { networkUserAgent: 'Mozilla/5.0 Chrome-Lighthouse', hostUserAgent: 'HeadlessChrome/137.0.0.0', benchmarkIndex: 2000 + r.int(0, 400) },
      runWarnings: [],
      configSettings: { emulatedFormFactor: req.strategy, formFactor: req.strategy, locale: 'en-US', onlyCategories: wanted, channel: 'lr' },
      audits,
      categories,
      timing: { total: 8000 + r.int(0, 9000) },
    },
    analysisUTCTimestamp: fetchTime,
  };
}

// ---------------------------------------------------------------- OpenAI

const RECOMMENDATIONS: { title: string; impact: 'high' | 'medium' | 'low'; effort: 'high' | 'medium' | 'low' }[] = [
  { title: 'Compress and resize the hero images', impact: 'high', effort: 'low' },
  { title: 'Defer non-critical JavaScript', impact: 'high', effort: 'medium' },
  { title: 'Add a clear call to action above the fold', impact: 'high', effort: 'low' },
  { title: 'Enable text compression (gzip or Brotli)', impact: 'medium', effort: 'low' },
  { title: 'Write unique meta descriptions for key pages', impact: 'medium', effort: 'low' },
  { title: 'Raise the colour contrast of body text', impact: 'medium', effort: 'low' },
  { title: 'Serve images as WebP or AVIF', impact: 'medium', effort: 'medium' },
  { title: 'Cut the server response time with page caching', impact: 'high', effort: 'medium' },
  { title: 'Add alt text to every image', impact: 'low', effort: 'low' },
  { title: 'Make the phone number tap-to-call on mobile', impact: 'medium', effort: 'low' },
  { title: 'Add LocalBusiness structured data', impact: 'medium', effort: 'medium' },
  { title: 'Rebuild the site on a faster theme', impact: 'high', effort: 'high' },
];
const OPENERS = [
  'The site loads slowly on mobile and buries its main call to action.',
  'The site works, but heavy images and scripts make the first screen slow.',
  'Visitors see a dated layout and wait several seconds before the page is usable.',
  'The pages are reasonably fast, but search and accessibility basics are missing.',
];
const SENTENCES = [
  'The biggest win is making the first screen load faster on phones.',
  'Most of the delay comes from large images and render-blocking scripts.',
  'Fixing a few search basics would help the business show up for local searches.',
  'These changes are small and can usually be done in a day.',
  'A clearer booking or contact button would turn more visits into calls.',
];

/** Rough token count (4 characters per token), at least 1. */
export function approxTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/**
 * A `chat.completion` body for a (validated) request. With `response_format.type === 'json_object'` the content is
 * `{"summary", "recommendations": [3 × {title, impact, effort}]}`; otherwise two or three sentences of text. When
 * `max_tokens` is below the answer's size the content is cut and `finish_reason` is `length`, as OpenAI does.
 */
export function generateChatCompletion(
  seed: number,
  req: { model: string; messages: { role: string; content: string }[]; maxTokens: number | undefined; json: boolean },
  now: Date,
): Record<string, unknown> {
  const key = JSON.stringify([req.model, req.messages, req.json]);
  const r = rng(seed, 'openai', key);
  const prompt = req.messages.map((m) => m.content).join('\n');
  const host = /https?:\/\/([^/\s"'<>]+)/i.exec(prompt)?.[1];
  let content: string;
  if (req.json) {
    const summary = `${host ? `${host}: ` : ''}${r.pick(OPENERS)} ${r.pick(SENTENCES)}`;
    content = JSON.stringify({ summary, recommendations: r.sample(RECOMMENDATIONS, 3) });
  } else {
    content = r.sample(SENTENCES, r.int(2, 3)).join(' ');
  }
  let completionTokens = approxTokens(content);
  let finish = 'stop';
  if (req.maxTokens !== undefined && completionTokens > req.maxTokens) {
    content = content.slice(0, req.maxTokens * 4);
    completionTokens = req.maxTokens;
    finish = 'length';
  }
  const promptTokens = req.messages.reduce((n, m) => n + 4 + approxTokens(m.content), 3);
  return {
    id: `chatcmpl-${r.chars(29, ALNUM)}`,
    object: 'chat.completion',
    created: Math.floor(now.getTime() / 1000),
    model: req.model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: finish }],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
    service_tier: 'default',
    system_fingerprint: `fp_${(hash32(`fp${seed}`) >>> 0).toString(16).padStart(8, '0')}${rng(seed, 'fp').chars(2, '0123456789abcdef')}`,
  };
}

// ---------------------------------------------------------------- Stripe

/** A Stripe `balance` object (`GET /v1/balance`): amounts in integer cents, USD. */
export function generateBalance(seed: number, livemode: boolean): Record<string, unknown> {
  const r = rng(seed, 'stripe-balance');
  const available = r.int(0, 2_500_000);
  const pending = r.int(0, 400_000);
  return {
    object: 'balance',
    available: [{ amount: available, currency: 'usd', source_types: { card: available } }],
    connect_reserved: [{ amount: 0, currency: 'usd' }],
    livemode,
    pending: [{ amount: pending, currency: 'usd', source_types: { card: pending } }],
  };
}
