/**
 * Gateway read-outs for runbooks: `providerStatus` (limits, used, remaining, reset time, breaker state, last
 * error), `usage` (from the ledger), and `testConnection` / `testAuthentication`, which make one real, cheap call
 * with the raw adapter (no cache, no limiter: a runbook must see the provider as it is now); `gatewayProbe`
 * makes the same cheap call through the gateway (breaker, limiter, ledger) but never through its response cache,
 * to verify a remediation the way real calls see the provider.
 */
import type { ProviderId } from '../config.js';
import { CircuitOpenError, ProviderError } from '../errors.js';
import type { Services } from '../services.js';
import type { BreakerSnapshot } from './breaker.js';
import type { UsageSummary, UsageWindow } from './ledger.js';
import type { LimiterStatus } from './limiter.js';

/** Everything known about one provider. */
export interface ProviderStatus {
  provider: ProviderId;
  /** True when the local sandbox answers this provider (no API key configured). */
  sandbox: boolean;
  limits: LimiterStatus;
  breaker: BreakerSnapshot;
  cacheTtlSeconds: number;
  lastError: string | undefined;
  lastErrorAt: Date | undefined;
}

/** Status of one provider from the shared state. */
export async function providerStatus(s: Pick<Services, 'gateway' | 'sandboxed' | 'config'>, provider: ProviderId): Promise<ProviderStatus> {
  const [limits, breaker] = await Promise.all([s.gateway.limiter.status(provider), s.gateway.breaker.snapshot(provider)]);
  return {
    provider,
    sandbox: s.sandboxed[provider],
    limits,
    breaker,
    cacheTtlSeconds: s.config.gateway.cacheTtlSeconds[provider],
    lastError: breaker.lastError,
    lastErrorAt: breaker.lastErrorAt,
  };
}

/** Usage of one provider over a window (calls, errors, cache hits, cost USD, tokens, latency). */
export function usage(s: Pick<Services, 'gateway'>, provider: ProviderId, window: UsageWindow): Promise<UsageSummary> {
  return s.gateway.ledger.usage(provider, window);
}

/** Result of a live check. `status` is the HTTP status when the provider answered with an error. */
export interface ProbeResult {
  provider: ProviderId;
  ok: boolean;
  latencyMs: number;
  status?: number;
  providerCode?: string;
  detail: string;
}

/** Operation names of the probe calls, as the ledger records them. */
const PROBE_OPERATION: Record<ProviderId, string> = {
  yelp: 'search',
  pagespeed: 'runPagespeed',
  openai: 'chat.completions',
  sendgrid: 'scopes',
  stripe: 'balance.retrieve',
};

/** The cheapest real call per provider (also the drills' traffic, alerts/drills.ts, through the gateway). */
export function cheapestCall(s: Pick<Services, 'rawProviders'>, provider: ProviderId): Promise<unknown> {
  const p = s.rawProviders;
  switch (provider) {
    case 'yelp':
      return p.yelp.search({ location: 'San Francisco, CA', limit: 1, offset: 0 });
    case 'pagespeed':
      return p.pagespeed.run('https://www.google.com/', 'mobile');
    case 'openai':
      return p.openai.chat({ system: 'Reply with OK.', user: 'ping', maxTokens: 1 });
    case 'sendgrid':
      return p.sendgrid.scopes();
    case 'stripe':
      return p.stripe.retrieveBalance();
  }
}

async function probe(s: Pick<Services, 'rawProviders'>, provider: ProviderId): Promise<{ result?: unknown; err?: unknown; latencyMs: number }> {
  const t0 = performance.now();
  try {
    const result = await cheapestCall(s, provider);
    return { result, latencyMs: Math.round(performance.now() - t0) };
  } catch (err) {
    return { err, latencyMs: Math.round(performance.now() - t0) };
  }
}

/**
 * Can we reach the provider? Any HTTP answer counts (even 401: the network path works); network errors and
 * timeouts do not.
 */
export async function testConnection(s: Pick<Services, 'rawProviders'>, provider: ProviderId): Promise<ProbeResult> {
  const { err, latencyMs } = await probe(s, provider);
  if (!err) return { provider, ok: true, latencyMs, detail: 'answered' };
  if (err instanceof ProviderError && err.status !== undefined)
    return { provider, ok: true, latencyMs, status: err.status, providerCode: err.providerCode, detail: `answered HTTP ${err.status}` };
  return { provider, ok: false, latencyMs, detail: (err as Error).message };
}

/**
 * Does the configured key work? A successful call, and for SendGrid a key holding the `mail.send` scope;
 * 401/403 (or Google's 400 API_KEY_INVALID) mean no.
 */
export async function testAuthentication(s: Pick<Services, 'rawProviders'>, provider: ProviderId): Promise<ProbeResult> {
  const { result, err, latencyMs } = await probe(s, provider);
  if (!err) {
    if (provider === 'sendgrid' && !(result as string[]).includes('mail.send'))
      return { provider, ok: false, latencyMs, detail: 'key lacks the mail.send scope' };
    return { provider, ok: true, latencyMs, detail: 'key accepted' };
  }
  if (err instanceof ProviderError)
    return { provider, ok: false, latencyMs, status: err.status, providerCode: err.providerCode, detail: err.message };
  return { provider, ok: false, latencyMs, detail: (err as Error).message };
}

/**
 * What one {@link gatewayProbe} saw. `ok`: the provider answered successfully through the gateway. `refused`: the
 * gateway did not call the provider (breaker open or a probe in flight, rate limit, quota, budget) — `retryAt` when
 * the breaker named one. Otherwise the provider failed: `status` is its HTTP status when it answered with an error.
 */
export interface GatewayProbeResult {
  provider: ProviderId;
  ok: boolean;
  refused: boolean;
  retryAt?: Date;
  status?: number;
  latencyMs: number;
  /** One short phrase: `answered`, `answered HTTP 503: …`, `refused: circuit open …`, a network error. */
  detail: string;
}

/**
 * One live call of the provider's cheapest read through `s.gateway.call`, with no cache request (so a cached answer
 * can never pass for a live one): it takes a breaker permit (the half_open probe when there is one, so its result
 * closes or re-opens the breaker), rate budget and a ledger row like any call. Never throws. The provider's own
 * error is reported even when the gateway's retry was then refused by the re-opened breaker.
 */
export async function gatewayProbe(s: Pick<Services, 'gateway' | 'rawProviders'>, provider: ProviderId): Promise<GatewayProbeResult> {
  const t0 = performance.now();
  let providerErr: unknown;
  const ms = () => Math.round(performance.now() - t0);
  try {
    await s.gateway.call({
      provider,
      operation: PROBE_OPERATION[provider],
      kind: 'read',
      fn: async () => {
        try {
          return await cheapestCall(s, provider);
        } catch (err) {
          providerErr = err;
          throw err;
        }
      },
    });
    return { provider, ok: true, refused: false, latencyMs: ms(), detail: 'answered' };
  } catch (err) {
    const e = providerErr ?? err;
    if (e instanceof ProviderError)
      return { provider, ok: false, refused: false, status: e.status, latencyMs: ms(), detail: e.status !== undefined ? `answered HTTP ${e.status}: ${e.message}`.slice(0, 300) : e.message.slice(0, 300) };
    if (providerErr === undefined) {
      // the gateway refused before calling (breaker, limiter, quota, budget)
      const retryAt = err instanceof CircuitOpenError ? err.retryAt : undefined;
      return { provider, ok: false, refused: true, retryAt, latencyMs: ms(), detail: `refused: ${String((err as Error)?.message ?? err).slice(0, 300)}` };
    }
    return { provider, ok: false, refused: false, latencyMs: ms(), detail: String((e as Error)?.message ?? e).slice(0, 300) };
  }
}
