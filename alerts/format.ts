/**
 * Turns stored ops events into Slack messages: the plain text (also the console line and the notification text)
 * and a structured `ops_event` body, which the composition root's renderer turns into Block Kit
 * (bot/render/slack-messages.ts). No Block Kit here: alerts/ hands over what happened, bot/ says how it looks.
 */
import type { IOpsEvent, OpsSeverity } from '../db/entities/index.js';
import { eventTextRenderer } from './event-texts.js';
import type { SlackRoute } from './slack-routing.js';

/**
 * An ops event as handed to the outbox: `text` (severity emoji + {@link eventText}) and the structured body
 * `{ type: 'ops_event', event: { type, severity, createdAt (ISO 8601 UTC) } }` the renderer lays out.
 */
export interface OpsMessage {
  text: string;
  body: { type: 'ops_event'; event: { type: string; severity: OpsSeverity; createdAt: string } };
  /** Where it goes: `recoveries` for a recovery (a breaker closing, health better), else `status`. */
  route: SlackRoute;
}

const SEVERITY_EMOJI = { info: ':large_blue_circle:', warning: ':warning:', critical: ':red_circle:' } as const;

/** One line of text for an event (also the console line and the notification text). */
export function eventText(ev: Pick<IOpsEvent, 'type' | 'severity' | 'payload'>): string {
  const p = ev.payload as Record<string, unknown>;
  const render = eventTextRenderer(ev.type);
  return render ? render(p) : `${ev.type}: ${JSON.stringify(p).slice(0, 500)}`;
}

/**
 * Whether an event reports a recovery (a provider answering again, health getting better). `breaker.closed` is
 * only recorded when probe calls succeed; an operator's reset is `breaker.reset`, not a recovery.
 */
export function isRecovery(ev: Pick<IOpsEvent, 'type' | 'payload'>): boolean {
  return ev.type === 'breaker.closed' || (ev.type === 'health.changed' && (ev.payload as Record<string, unknown>).direction === 'better');
}

/** Builds the outbox message for an event (see {@link OpsMessage}). */
export function formatOpsEvent(ev: Pick<IOpsEvent, 'type' | 'severity' | 'payload' | 'createdAt'>): OpsMessage {
  const text = `${SEVERITY_EMOJI[ev.severity as OpsSeverity]} ${eventText(ev)}`;
  return {
    text,
    body: { type: 'ops_event', event: { type: ev.type, severity: ev.severity as OpsSeverity, createdAt: ev.createdAt.toISOString() } },
    route: isRecovery(ev) ? 'recoveries' : 'status',
  };
}

/**
 * Event types recorded for the timeline but not posted: a breaker's half_open probing and re-opens would
 * otherwise post on every cool-down cycle of one outage; a trip (`breaker.opened`) is posted once, by the
 * CircuitBreakerOpen alert in the alerts channel with its diagnosis (issue #14: not a second time here). The
 * recovery (`breaker.closed`, from successful provider calls) is posted. An operator keeping an open breaker open
 * (`breaker.held_open`) shows on the breaker cards (`/lf breakers`) and in the audit log, not as a post.
 */
export const QUIET_EVENT_TYPES: ReadonlySet<string> = new Set(['breaker.opened', 'breaker.half_opened', 'breaker.reopened', 'breaker.held_open']);
