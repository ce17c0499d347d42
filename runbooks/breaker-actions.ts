/**
 * The breaker checks remediations verify with, and the breaker cards' remediations (`/lf breakers`, issue 19
 * point 5), part of the external-apis runbook:
 *
 * - `probe-breaker` "Probe now" (operator, write): an open breaker is reset to half_open (`breaker.reset`, naming
 *   who) so the very next call is its probe; the verification then makes that live call through the gateway,
 *   never its response cache ({@link breakerAfterReset}, shared with reset-breaker): one call when the provider
 *   still fails ("Not fixed yet", breaker open again), `BREAKER_HALF_OPEN_SUCCESSES` successful calls to close it
 *   ("Fixed"). On a closed breaker it is one live call.
 * - `keep-breaker-open` "Keep open 1 h" (operator, write): the force-open of force-open-breaker, fixed at
 *   {@link KEEP_OPEN_MINUTES} minutes and only for a breaker that is already open or half_open — holding a failing
 *   provider off for an hour is an operator's call; opening a closed (healthy) breaker, or for up to a day, stays
 *   force-open-breaker's (admin). Recorded with who (`breaker.opened` forced, or `breaker.held_open`). Verified
 *   through the gateway: a call is refused by the breaker until the hour is up.
 * - `force-close-breaker` "Force close" (admin, destructive): closed now without a probe (`breaker.force_closed`,
 *   naming who); verified with one live call through the closed breaker.
 */
import { z } from 'zod';
import { PROVIDERS, type ProviderId } from '../domain/config.js';
import { AppError } from '../domain/errors.js';
import { PROVIDER_NAMES } from '../domain/gateway/checks.js';
import { gatewayProbe } from '../domain/gateway/diagnostics.js';
import type { RunbookContext } from './context.js';
import type { Finding, Remediation } from './define.js';
import { pause } from './verify.js';

/** How long "Keep open 1 h" holds a breaker open (minutes). */
export const KEEP_OPEN_MINUTES = 60;

/** A provider id input. */
export const providerSchema = z.enum(PROVIDERS);

/** Reset-breaker's finding before it runs (read-only): the provider's breaker, ok only when closed with no failures. */
export async function breakerBefore(ctx: RunbookContext, provider: ProviderId): Promise<Finding> {
  const b = await ctx.services.gateway.breaker.snapshot(provider);
  const name = PROVIDER_NAMES[provider];
  const evidence = { provider, state: b.state, consecutiveFailures: b.consecutiveFailures, lastError: b.lastError ?? null };
  if (b.state === 'closed' && b.consecutiveFailures === 0) return { status: 'ok', summary: `${name} breaker closed with no failures; calls pass.`, evidence };
  if (b.state === 'closed') return { status: 'warn', summary: `${name} breaker closed after ${b.consecutiveFailures} consecutive failures.`, evidence };
  return { status: 'problem', summary: `${name} breaker ${b.state.replace('_', '-')}${b.lastError ? ` (last error: ${b.lastError.slice(0, 200)})` : ''}.`, evidence };
}

/**
 * Reset-breaker's finding after it ran: live calls through the gateway (never its cache) until the breaker closes
 * (ok), the provider fails or the breaker is open again (problem), or `deadline` passes with no verdict (warn).
 * A probe another caller holds is waited for, polling every `pollMs`.
 */
export async function breakerAfterReset(ctx: RunbookContext, provider: ProviderId, opts: { deadline: Date; pollMs: number }): Promise<Finding> {
  const s = ctx.services;
  const name = PROVIDER_NAMES[provider];
  let calls = 0;
  let successes = 0;
  const boundMs = Math.max(0, opts.deadline.getTime() - s.clock.now().getTime());
  for (;;) {
    const b = await s.gateway.breaker.snapshot(provider);
    const evidence = () => ({ provider, state: b.state, liveCalls: calls, successes, lastError: b.lastError ?? null });
    if (b.state === 'open')
      return { status: 'problem', summary: `${name} breaker is open again${b.lastError ? `: ${b.lastError.slice(0, 200)}` : ''}; calls to ${name} are refused.`, evidence: evidence() };
    const r = await gatewayProbe(s, provider);
    calls++;
    const after = await s.gateway.breaker.snapshot(provider);
    const ev = { provider, state: after.state, liveCalls: calls, successes: successes + (r.ok ? 1 : 0), status: r.status ?? null, detail: r.detail };
    if (r.ok) {
      successes++;
      if (after.state === 'closed')
        return { status: 'ok', summary: `${name} answered a live call through the gateway (${r.latencyMs} ms); breaker closed after ${successes} successful call(s).`, evidence: ev };
      if (s.clock.now() >= opts.deadline)
        return { status: 'warn', summary: `${name} answered ${successes} live call(s), but its breaker is still ${after.state.replace('_', '-')} after ${boundMs} ms.`, evidence: ev };
      continue; // more probe successes needed to close it
    }
    if (!r.refused)
      return {
        status: 'problem',
        summary: `${name} still ${r.status !== undefined ? `answers HTTP ${r.status}` : `fails (${r.detail})`}; breaker ${after.state.replace('_', '-')}.`,
        evidence: ev,
      };
    // refused without calling: a probe in flight elsewhere is waited for; the limiter, quota or budget is an answer
    if (r.retryAt === undefined)
      return { status: 'warn', summary: `Could not verify: the gateway did not call ${name} (${r.detail}).`, evidence: ev };
    if (s.clock.now() >= opts.deadline)
      return { status: 'warn', summary: `No verdict within ${boundMs} ms: ${name} breaker still ${after.state.replace('_', '-')}, its probe call unanswered.`, evidence: ev };
    await pause(opts.pollMs);
  }
}

/** Keep-open's finding before it runs: a failing provider's breaker that lets calls (or a probe) through within the hour is not held. */
async function holdBefore(ctx: RunbookContext, provider: ProviderId): Promise<Finding> {
  const s = ctx.services;
  const b = await s.gateway.breaker.snapshot(provider);
  const name = PROVIDER_NAMES[provider];
  const evidence = { provider, state: b.state, retryAt: b.retryAt?.toISOString() ?? null };
  const holdUntil = s.clock.now().getTime() + KEEP_OPEN_MINUTES * 60_000;
  if (b.state === 'open' && b.retryAt && b.retryAt.getTime() >= holdUntil - 60_000)
    return { status: 'ok', summary: `${name} breaker already held open until ${b.retryAt.toISOString()}.`, evidence };
  if (b.state === 'closed') return { status: 'warn', summary: `${name} breaker is closed: calls to ${name} go through.`, evidence };
  return { status: 'problem', summary: `${name} breaker ${b.state.replace('_', '-')}: a probe call to ${name} is allowed ${b.retryAt && b.retryAt > s.clock.now() ? `at ${b.retryAt.toISOString()}` : 'now'}.`, evidence };
}

/** Keep-open's finding after it ran: a call through the gateway is refused by the breaker for the next hour. */
async function holdAfter(ctx: RunbookContext, provider: ProviderId): Promise<Finding> {
  const s = ctx.services;
  const name = PROVIDER_NAMES[provider];
  const r = await gatewayProbe(s, provider);
  const evidence = { provider, refused: r.refused, retryAt: r.retryAt?.toISOString() ?? null, detail: r.detail };
  const held = r.refused && r.retryAt && r.retryAt.getTime() >= s.clock.now().getTime() + (KEEP_OPEN_MINUTES - 1) * 60_000;
  if (held) return { status: 'ok', summary: `A call to ${name} through the gateway is refused by its breaker until ${r.retryAt!.toISOString()}.`, evidence };
  return { status: 'problem', summary: `A call to ${name} through the gateway was ${r.refused ? `refused only until ${r.retryAt?.toISOString() ?? '?'}` : `let through (${r.detail})`}: the breaker is not held open.`, evidence };
}

const providerInput = z.object({ provider: providerSchema });
const providerOf = (input: Record<string, unknown>) => providerSchema.parse(input.provider);
const breakerVerify = {
  before: (ctx: RunbookContext, input: Record<string, unknown>) => breakerBefore(ctx, providerOf(input)),
  after: (ctx: RunbookContext, input: Record<string, unknown>, opts: { deadline: Date; pollMs: number }) => breakerAfterReset(ctx, providerOf(input), opts),
};

/** The three card remediations (see the module comment), in button order. */
export const BREAKER_CARD_REMEDIATIONS: Remediation<RunbookContext>[] = [
  {
    id: 'probe-breaker',
    title: 'Probe now',
    risk: 'write',
    requiredRole: 'operator',
    confirmation: "Call the provider now through the gateway (not its cache)? An open breaker is reset so this call is its probe: it closes the breaker if the provider answers, and re-opens it if not.",
    inputSchema: providerInput,
    idempotencyKey: (input) => `probe-breaker:${String(input.provider)}`,
    recheck: 'breaker-states',
    verify: breakerVerify,
    async run(ctx, input, actor) {
      const provider = providerOf(input);
      const name = PROVIDER_NAMES[provider];
      const b = await ctx.services.gateway.breaker.snapshot(provider);
      if (b.state === 'closed') return { summary: `${name} breaker is closed; one live call to ${name} follows.` };
      const r = await ctx.services.gateway.breaker.reset(provider, `probe now by ${actor}`, actor);
      ctx.services.logger.info({ remediation: 'probe-breaker', provider, actor, from: r.from }, 'breaker probe requested');
      return { summary: `${name} breaker set to half-open (was ${r.from.replace('_', '-')}); the live call that follows is its probe.` };
    },
  },
  {
    id: 'keep-breaker-open',
    title: 'Keep open 1 h',
    risk: 'write',
    requiredRole: 'operator',
    confirmation: `Keep the provider's open circuit breaker open for ${KEEP_OPEN_MINUTES} minutes? Every call to it is refused until then (no probes).`,
    inputSchema: providerInput,
    idempotencyKey: (input) => `keep-breaker-open:${String(input.provider)}`,
    recheck: 'breaker-states',
    verify: { before: (ctx, input) => holdBefore(ctx, providerOf(input)), after: (ctx, input) => holdAfter(ctx, providerOf(input)) },
    async run(ctx, input, actor) {
      const provider = providerOf(input);
      const name = PROVIDER_NAMES[provider];
      const b = await ctx.services.gateway.breaker.snapshot(provider);
      if (b.state === 'closed')
        throw new AppError('bad_request', `${name} breaker is closed; opening a closed breaker is force-open-breaker (admin): fix external-apis force-open-breaker provider=${provider} minutes=${KEEP_OPEN_MINUTES}`);
      await ctx.services.gateway.breaker.forceOpen(provider, `by ${actor} for ${KEEP_OPEN_MINUTES} min`, { forMs: KEEP_OPEN_MINUTES * 60_000, by: actor });
      const after = await ctx.services.gateway.breaker.snapshot(provider);
      ctx.services.logger.info({ remediation: 'keep-breaker-open', provider, actor }, 'breaker kept open');
      return { summary: `${name} breaker kept open for ${KEEP_OPEN_MINUTES} min; calls refused until ${after.retryAt?.toISOString() ?? 'the cooldown ends'}.` };
    },
  },
  {
    id: 'force-close-breaker',
    title: 'Force close',
    risk: 'destructive',
    requiredRole: 'admin',
    confirmation: "Close the provider's circuit breaker now, without a probe? Every call goes to the provider again; if it is still failing, calls fail until the breaker trips again.",
    inputSchema: providerInput,
    idempotencyKey: (input) => `force-close-breaker:${String(input.provider)}`,
    recheck: 'breaker-states',
    verify: breakerVerify,
    async run(ctx, input, actor) {
      const provider = providerOf(input);
      const name = PROVIDER_NAMES[provider];
      const r = await ctx.services.gateway.breaker.forceClose(provider, `by ${actor}`, actor);
      ctx.services.logger.warn({ remediation: 'force-close-breaker', provider, actor, from: r.from }, 'breaker force-closed');
      if (r.from === 'closed') return { summary: `${name} breaker was already closed; its failure count is back to 0.` };
      return { summary: `${name} breaker force-closed (was ${r.from.replace('_', '-')}); calls to ${name} go through again.` };
    },
  },
];
