/**
 * The page dispatcher: delivers the paging outbox (`page_deliveries`, alerts/paging/enqueue.ts) — PagerDuty events,
 * Opsgenie alert actions and page emails (through the gateway-wrapped SendGrid port, never a raw client) — and owns
 * their retries: each row is claimed with a 30-second lease (`for update skip locked`, so replicas never send one
 * twice), rows of one lane go in id order (an acknowledge never overtakes its trigger), a retryable failure (429,
 * 5xx, network, an open breaker) is tried again with exponential backoff (5 s … 5 min) up to
 * {@link MAX_ATTEMPTS}, a refusal (other 4xx) is dead at once. Each delivery, and each one given up, is an incident
 * event (`page_sent` / `page_failed`), so the timeline shows where the page went.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OncallLayer } from '../../db/entities/oncall.entity.js';
import type { Clock } from '../../domain/clock.js';
import { AppError } from '../../domain/errors.js';
import type { Logger } from '../../domain/logger.js';
import { isRecord } from '../../domain/providers/http-errors.js';
import type { PagingClients } from '../../domain/providers/paging/http.js';
import { insertIncidentEvent } from '../../domain/queries/incidents.js';
import { claimDuePageDeliveries, markPageDead, markPageSent, schedulePageRetry, type PageDeliveryRow } from '../../domain/queries/page-deliveries.js';
import type { SendGridPort } from '../../domain/providers/sendgrid/port.js';
import { OPSGENIE_PRIORITY, PAGERDUTY_SEVERITY } from './enqueue.js';
import { onCallLine } from './plan.js';

/** Attempts before a retryable failure is given up. */
export const MAX_ATTEMPTS = 8;
const LEASE_MS = 30_000;
const SOURCE = 'LeadFactory Ops';
const WAIT_CODES: ReadonlySet<string> = new Set(['rate_limited', 'circuit_open', 'quota_exhausted', 'budget_exceeded', 'deadline_exceeded', 'db_unavailable']);

/** What the dispatcher needs. `clients` undefined = PagerDuty/Opsgenie rows wait (e.g. a process without them). */
export interface PageDispatcherDeps {
  em(): EntityManager;
  clock: Clock;
  logger: Logger;
  clients: PagingClients | undefined;
  /** The gateway-wrapped SendGrid port (services.providers.sendgrid). */
  sendgrid: SendGridPort;
  /** Sender address of page emails (SENDGRID_FROM_EMAIL). */
  from: string;
}

/** What one pass did. */
export interface DispatchResult {
  sent: number;
  retried: number;
  dead: number;
}

const str = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** The payload's `oncall` (who was on call on each layer when paged), or undefined when it has none. */
function oncallOf(v: unknown): Record<OncallLayer, string | null> | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const user = (u: unknown) => (typeof u === 'string' ? u : null);
  return { primary: 'primary' in v ? user(v.primary) : null, secondary: 'secondary' in v ? user(v.secondary) : null };
}

/** Sends one row; resolves with the provider's answer. */
async function send(deps: PageDispatcherDeps, r: PageDeliveryRow): Promise<Record<string, unknown>> {
  const p = r.payload;
  const key = String(p.key);
  const oncall = onCallLine(oncallOf(p.oncall));
  if (r.channel === 'email') {
    const text = [`${str(p.summary)}`, `You are paged (${str(p.levelName ?? `Level ${str(p.level)}`)}). Acknowledge it in Slack (/lf incident ack ${r.incidentId}).`, p.runbook ? `Runbook: ${str(p.runbook)}` : '', p.vendor ? `Vendor contact: ${str(p.vendor)}` : '', oncall.replace(/<@([A-Z0-9]+)>/g, '$1')].filter(Boolean).join('\n\n');
    const res = await deps.sendgrid.send({ to: r.target!, from: deps.from, subject: `[${str(p.severity)}] Paged: ${str(p.summary)}`.slice(0, 200), text, customArgs: { page_delivery_id: String(r.id), incident_id: String(r.incidentId) } });
    return { messageId: res.messageId };
  }
  if (!deps.clients) throw new AppError('internal', `${r.channel} client not configured in this process`, { retryable: true });
  if (r.channel === 'pagerduty') {
    if (r.action !== 'trigger') return { ...(await deps.clients.pagerduty.enqueue({ event_action: r.action, dedup_key: key })) };
    const details = { incident: r.incidentId, level: p.levelName ?? p.level, oncall: p.oncall ?? null, paged: p.paged ?? [], runbook: p.runbook ?? null, vendor: p.vendor ?? null };
    return {
      ...(await deps.clients.pagerduty.enqueue({
        event_action: 'trigger',
        dedup_key: key,
        payload: { summary: str(p.summary).slice(0, 1024), source: 'leadfactory-ops', severity: PAGERDUTY_SEVERITY[str(p.severity)] ?? 'error', timestamp: new Date().toISOString(), ...(p.provider ? { component: str(p.provider) } : {}), group: 'leadfactory', ...(p.runbook ? { class: str(p.runbook) } : {}), custom_details: details },
        client: SOURCE,
      })),
    };
  }
  if (r.action !== 'trigger') return { ...(await deps.clients.opsgenie.act(key, r.action === 'acknowledge' ? 'acknowledge' : 'close', { user: str(p.by), source: SOURCE, note: `${r.action === 'acknowledge' ? 'Acknowledged' : 'Resolved'} in LeadFactory Ops by ${str(p.by)}` })) };
  const details: Record<string, string> = { incident: String(r.incidentId), level: str(p.levelName ?? p.level), oncall: oncall.replace(/<@([A-Z0-9]+)>/g, '$1') };
  if (p.runbook) details.runbook = str(p.runbook);
  return {
    ...(await deps.clients.opsgenie.create({ message: str(p.summary).slice(0, 130), alias: key, description: [str(p.summary), oncall, p.vendor ? `Vendor contact: ${str(p.vendor)}` : ''].filter(Boolean).join('\n'), details, priority: OPSGENIE_PRIORITY[str(p.severity)] ?? 'P3', ...(p.provider ? { entity: str(p.provider) } : {}), source: SOURCE, tags: ['leadfactory', str(p.severity)] })),
  };
}

async function event(em: EntityManager, r: PageDeliveryRow, at: Date, kind: string, detail: string, data: Record<string, unknown>): Promise<void> {
  await insertIncidentEvent(em, r.incidentId, at, kind, r.channel, detail, data);
}

/** The text of a thrown value: its `message` when it has one (an Error, or an object carrying one), else the value as text. */
function thrownText(err: unknown): string {
  return isRecord(err) && typeof err.message === 'string' ? err.message : String(err);
}

/** Sends one claimed row and records the outcome: sent, retried later (with backoff), or given up. */
async function deliverOne(deps: PageDispatcherDeps, em: EntityManager, r: PageDeliveryRow, now: Date, out: DispatchResult): Promise<void> {
  const what = `${r.channel} ${r.action}${r.target ? ` to ${r.target}` : ''}`;
  try {
    const response = await send(deps, r);
    // merged, not replaced: a provider's webhook may already have recorded its incident id here (paging/inbound.ts)
    await markPageSent(em, r.id, deps.clock.now(), response);
    await event(em, r, deps.clock.now(), 'page_sent', `${what} sent (attempt ${r.attempts})`, { delivery: r.id, action: r.action, response });
    out.sent++;
  } catch (err) {
    // a page is worth waiting for: the gateway's refusals (breaker open, limits, budget) are tried again later
    const retryable = !(err instanceof AppError) || err.retryable || WAIT_CODES.has(err.code);
    const message = thrownText(err).slice(0, 2000);
    if (retryable && r.attempts < MAX_ATTEMPTS) {
      const waitMs = Math.min(5000 * 2 ** (r.attempts - 1), 300_000);
      await schedulePageRetry(em, r.id, new Date(now.getTime() + waitMs), message);
      deps.logger.warn({ delivery: r.id, incident: r.incidentId, channel: r.channel, attempt: r.attempts, err: message }, 'page delivery failed; retried later');
      out.retried++;
    } else {
      await markPageDead(em, r.id, now, message);
      await event(em, r, now, 'page_failed', `${what} given up after ${r.attempts} attempt(s): ${message}`, { delivery: r.id, action: r.action });
      deps.logger.error({ delivery: r.id, incident: r.incidentId, channel: r.channel, err: message }, 'page delivery given up');
      out.dead++;
    }
  }
}

/** One pass at `now`: claims up to 20 due rows and delivers them. Never throws for a delivery's own failure. */
export async function deliverDuePages(deps: PageDispatcherDeps, now: Date = deps.clock.now()): Promise<DispatchResult> {
  const em = deps.em();
  const rows = await claimDuePageDeliveries(em, now, new Date(now.getTime() + LEASE_MS), 20);
  const out: DispatchResult = { sent: 0, retried: 0, dead: 0 };
  for (const r of rows) await deliverOne(deps, em, r, now, out);
  return out;
}

/** A running dispatcher: a pass every `intervalMs` (default 2 s), never two at once. */
export function createPageDispatcher(deps: PageDispatcherDeps, intervalMs = 2000): { start(): void; stop(): Promise<void>; tick(): Promise<DispatchResult> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const tick = async () => deliverDuePages(deps);
  return {
    start() {
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        running = tick()
          .catch((err: unknown) => deps.logger.error({ err: thrownText(err) }, 'page dispatcher pass failed'))
          .finally(() => {
            busy = false;
          });
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
    tick,
  };
}
