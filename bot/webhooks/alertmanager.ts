/**
 * `POST /alerts/alertmanager`: Alertmanager's webhook receiver (v4 payloads, alerts/alertmanager.ts).
 *
 * 1. Bearer-token auth: `Authorization: Bearer <ALERTMANAGER_TOKEN>` compared in constant time → 401 when missing
 *    or wrong; without a configured token every post is refused with 503 (nothing stored: Alertmanager retries, so
 *    configuring the token later loses only what outlived its retries).
 * 2. Raw bytes read with a size limit (413), JSON parsed (400 `body is not JSON`), made storable (domain/sanitize.ts:
 *    U+0000 and lone surrogates in labels and annotations → U+FFFD, the body as received kept in `raw_json`),
 *    validated (400 naming the first problems). Refused bodies are dead-lettered with an audit row; a wrong token
 *    leaves an audit row too.
 * 3. Stored in `webhook_inbox` (provider `alertmanager`, `event_id` = SHA-256 of the raw bytes, so an identical
 *    resend is the same row) and answered 200 at once (500 when it could not be stored, so Alertmanager retries).
 * 4. Processed only after the answer (prometheus/alertmanager#2657: Alertmanager times out after a few seconds and resends): the
 *    observations (toObservations) go to alerts/dispatch.ts processAlertObservations, deliveries of one group one
 *    after another in arrival order; the inbox row gets `processed_at`, or `error` when processing threw.
 *    Processing twice is harmless (alert upserts and Slack outbox entries are idempotent), which is what makes
 *    {@link processPendingAlertmanagerDeliveries} at start-up safe.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type http from 'node:http';
import { deliveryId, parseAlertmanagerPayload, toObservations } from '../../alerts/alertmanager.js';
import { filterAlertmanagerObservations } from '../../alerts/source.js';
import type { AlertDeps, ProcessResult } from '../../alerts/dispatch.js';
import type { AlertObservation } from '../../alerts/store.js';
import type { RunbookContext } from '../../runbooks/context.js';
import type { WebhookDeps, WebhookRoute } from './index.js';
import { readRawBody, sendJson } from './raw-body.js';
import { auditRefusal, deadLetter, isTransientDbError } from '../../domain/intake/dead-letters.js';
import { rawBodyText, rawJson, sanitizeDeep } from '../../domain/sanitize.js';
import { AppError } from '../../domain/errors.js';
import type { Replayer } from '../../domain/intake/replay.js';
import { auditFailed } from './verified-intake.js';
import { inboxEvent, insertInboxEvent, markInboxError, markInboxProcessed, pendingInboxEventIdsBefore } from '../../domain/queries/webhook-inbox.js';

/** Path of the route (Alertmanager `webhook_configs[].url` ends with it). */
export const ALERTMANAGER_WEBHOOK_PATH = '/alerts/alertmanager';

/** The inbox `provider` of Alertmanager deliveries. */
export const ALERTMANAGER_PROVIDER = 'alertmanager';

/** Bodies larger than this are refused with 413 (a group of a few thousand alerts; `max_alerts` keeps it smaller). */
export const ALERTMANAGER_MAX_BODY_BYTES = 5_000_000;

/** Unprocessed deliveries younger than this are left alone at start-up (they may still be in flight elsewhere). */
export const PENDING_MIN_AGE_MS = 60_000;

/** How observations are processed: alerts/dispatch.ts in production; tests may pass a probe. */
export type ProcessObservations = (deps: AlertDeps, observations: AlertObservation[]) => Promise<ProcessResult | unknown>;

/**
 * alerts/dispatch.ts processAlertObservations, loaded on first use (keeps this module, and the webhook index, free
 * of the dispatch graph — Slack rendering, runbooks, incidents — until an alert arrives).
 */
export const processWithDispatch: ProcessObservations = async (deps, observations) => (await import('../../alerts/dispatch.js')).processAlertObservations(deps, observations);

/** The route's dependencies: the webhook deps plus, optionally, the runbook context for automatic diagnoses. */
export type AlertmanagerWebhookDeps = WebhookDeps & { runbooks?: RunbookContext };

/** Options of {@link alertmanagerWebhookRoute}. */
export interface AlertmanagerRouteOptions {
  /** Replaces {@link processWithDispatch} (tests). */
  process?: ProcessObservations;
}

/** The route plus `idle()`, which resolves when every background processing started so far has finished. */
export interface AlertmanagerWebhookRoute extends WebhookRoute {
  idle(): Promise<void>;
}

/** Constant-time check of an `Authorization` header against `Bearer <token>` (scheme case-insensitive). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const given = createHash('sha256').update(m ? m[1]! : '').digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && m !== null;
}

/**
 * Inserts a validated delivery into `webhook_inbox` (`type` = `alertmanager.<status>`, the parsed JSON, made storable,
 * as `payload`; `raw` = the body as received when it had to be) with `on conflict do nothing`. Returns true when the
 * row is new.
 */
export async function storeAlertmanagerDelivery(deps: Pick<AlertDeps, 'em'>, eventId: string, status: string, payload: unknown, now: Date, raw: string | null = null): Promise<boolean> {
  return insertInboxEvent(deps.em(), { provider: ALERTMANAGER_PROVIDER, eventId, type: `alertmanager.${status}`, payload, receivedAt: now, raw });
}

/** What processing one stored delivery did. */
export interface DeliveryOutcome {
  eventId: string;
  outcome: 'processed' | 'already_processed' | 'missing' | 'failed';
  alerts?: number;
  result?: ProcessResult | unknown;
  error?: string;
}

/**
 * Processes the stored delivery `eventId` unless it is already processed: validates its payload again, maps it
 * (toObservations, against the clock), runs `process` and sets `processed_at` (clearing `error`); when any of this
 * throws, the row keeps the message in `error` and stays unprocessed. Never throws.
 */
export async function processAlertmanagerDelivery(deps: AlertDeps, eventId: string, process: ProcessObservations = processWithDispatch): Promise<DeliveryOutcome> {
  try {
    const row = await inboxEvent(deps.em(), ALERTMANAGER_PROVIDER, eventId);
    if (!row) return { eventId, outcome: 'missing' };
    if (row.processedAt) return { eventId, outcome: 'already_processed' };
    const raw = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
    const parsed = parseAlertmanagerPayload(raw);
    if (!parsed.ok) throw new Error(parsed.error);
    const filtered = await filterAlertmanagerObservations(deps.em(), deps.config.alerting.source, toObservations(parsed.payload, deps.clock.now()), deps.clock.now());
    if (filtered.ignored.length > 0)
      deps.logger.info({ alerts: filtered.ignored, alertSource: deps.config.alerting.source }, 'alertmanager copies of in-process rules ignored (ALERT_SOURCE=internal)');
    const observations = filtered.kept;
    const result = observations.length > 0 ? await process(deps, observations) : { transitions: [], enqueued: 0, incidents: [] };
    await markInboxProcessed(deps.em(), ALERTMANAGER_PROVIDER, eventId, deps.clock.now());
    deps.logger.info({ eventId: eventId.slice(0, 16), groupKey: parsed.payload.groupKey, alerts: observations.length }, 'alertmanager delivery processed');
    return { eventId, outcome: 'processed', alerts: observations.length, result };
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    deps.logger.error({ eventId: eventId.slice(0, 16), err: message }, 'alertmanager delivery processing failed');
    await markInboxError(deps.em(), ALERTMANAGER_PROVIDER, eventId, message.slice(0, 2000)).catch(() => undefined);
    // not the database being away: the delivery itself fails; parked for an operator (replayable) with an audit row
    if (!isTransientDbError(err)) await parkDelivery(deps, eventId, message).catch(() => undefined);
    return { eventId, outcome: 'failed', error: message };
  }
}

/** Dead-letters a stored delivery whose processing failed (payload and raw from the inbox row). */
async function parkDelivery(deps: AlertDeps, eventId: string, reason: string): Promise<void> {
  const em = deps.em();
  const row = await inboxEvent(em, ALERTMANAGER_PROVIDER, eventId);
  if (!row) return;
  const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
  await deadLetter(em, { source: ALERTMANAGER_PROVIDER, dedupKey: eventId, eventType: row.type, reason, payload, raw: row.rawJson ?? rawJson(payload), at: deps.clock.now() });
}

/**
 * Start-up recovery: processes again, oldest first, the Alertmanager deliveries still unprocessed (never processed,
 * or processing failed) that were received more than {@link PENDING_MIN_AGE_MS} before the clock's now — e.g. the
 * process stopped between the answer and the processing. At most `limit` (default 500). Returns one outcome per row.
 */
export async function processPendingAlertmanagerDeliveries(
  deps: AlertDeps,
  opts: { limit?: number; process?: ProcessObservations } = {},
): Promise<DeliveryOutcome[]> {
  const before = new Date(deps.clock.now().getTime() - PENDING_MIN_AGE_MS);
  const ids = await pendingInboxEventIdsBefore(deps.em(), ALERTMANAGER_PROVIDER, before, opts.limit ?? 500);
  const out: DeliveryOutcome[] = [];
  for (const id of ids) out.push(await processAlertmanagerDelivery(deps, id, opts.process));
  if (out.length > 0) deps.logger.info({ deliveries: out.length, failed: out.filter((o) => o.outcome === 'failed').length }, 'pending alertmanager deliveries processed again');
  return out;
}

/**
 * The dead-letter replayer for Alertmanager deliveries (domain/intake/replay.ts): validates the stored payload again,
 * stores it in the inbox when absent, and processes it like a fresh delivery. @throws when it still fails.
 */
export function alertmanagerReplayer(deps: AlertDeps, process: ProcessObservations = processWithDispatch): Replayer {
  return async (payload, dl) => {
    const parsed = parseAlertmanagerPayload(payload);
    if (!parsed.ok) throw new AppError('bad_request', parsed.error);
    await storeAlertmanagerDelivery(deps, dl.dedupKey, parsed.payload.status, payload, deps.clock.now());
    const out = await processAlertmanagerDelivery(deps, dl.dedupKey, process);
    if (out.outcome === 'failed') throw new AppError('bad_request', `still failing: ${out.error ?? 'unknown error'}`);
    return `${out.outcome.replace('_', ' ')} (${out.alerts ?? 0} alert(s))`;
  };
}

/** {@link AlertDeps} from the webhook deps (a fresh EntityManager fork per call). */
export function alertDepsFrom(deps: AlertmanagerWebhookDeps): AlertDeps {
  return { em: () => deps.orm.em.fork(), config: deps.config, clock: deps.clock, logger: deps.logger, ...(deps.runbooks ? { runbooks: deps.runbooks } : {}) };
}

/**
 * Runs deliveries' processing in the background, one notification group after another in arrival order (groups run
 * concurrently); an event already in flight is not scheduled twice. `idle()` resolves when everything started so
 * far has finished.
 */
function groupQueue(run: (eventId: string) => Promise<unknown>): { schedule(groupKey: string, eventId: string): void; idle(): Promise<void> } {
  const background = new Set<Promise<unknown>>();
  const tails = new Map<string, Promise<unknown>>();
  const inFlight = new Set<string>();
  return {
    schedule(groupKey, eventId) {
      if (inFlight.has(eventId)) return;
      inFlight.add(eventId);
      const prev = tails.get(groupKey) ?? Promise.resolve();
      const p = prev
        .then(() => run(eventId))
        .finally(() => {
          inFlight.delete(eventId);
          if (tails.get(groupKey) === p) tails.delete(groupKey);
        });
      tails.set(groupKey, p);
      background.add(p);
      void p.finally(() => background.delete(p));
    },
    async idle() {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}

/**
 * An authenticated body that cannot be used: dead-lettered (with its audit row) and answered `status` — 400 for a
 * body that is not a v4 payload (Alertmanager does not retry 4xx), 200 otherwise; 500 when even that fails.
 */
async function refuseBody(deps: AlertmanagerWebhookDeps, res: http.ServerResponse, eventId: string, raw: Buffer, reason: string, payload: unknown, status = 400): Promise<void> {
  try {
    const id = await deadLetter(deps.orm.em.fork(), { source: ALERTMANAGER_PROVIDER, dedupKey: eventId, eventType: null, reason, payload: payload ?? null, raw: rawBodyText(raw), at: deps.clock.now() });
    sendJson(res, status, status === 200 ? { received: true, deadLetterId: id } : { error: reason, deadLetterId: id });
  } catch (err) {
    deps.logger.error({ err: (err as Error).message }, 'alertmanager webhook: dead letter not stored');
    sendJson(res, 500, { error: 'not stored; retry' });
  }
}

/**
 * Step 1: method and bearer token. Answers 405, 503 (no ALERTMANAGER_TOKEN) or 401 (with an audit row) and returns
 * false; true when the request may be read.
 */
async function admit(deps: AlertmanagerWebhookDeps, req: http.IncomingMessage, res: http.ServerResponse, log: AlertDeps['logger']): Promise<boolean> {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    sendJson(res, 405, { error: 'method not allowed' });
    return false;
  }
  const token = deps.config.alerting.alertmanagerToken;
  if (!token) {
    req.resume();
    log.warn('alertmanager webhook: ALERTMANAGER_TOKEN is not set; refusing an unauthenticated post');
    sendJson(res, 503, { error: 'webhook not configured: set ALERTMANAGER_TOKEN (and the same bearer credentials in Alertmanager webhook_config http_config.authorization)' });
    return false;
  }
  const auth = req.headers.authorization;
  if (!bearerMatches(typeof auth === 'string' ? auth : undefined, token)) {
    req.resume();
    log.warn({ hasHeader: auth !== undefined }, 'alertmanager webhook: missing or wrong bearer token');
    await auditRefusal(deps.orm.em.fork(), { source: ALERTMANAGER_PROVIDER, what: 'token', detail: auth ? 'invalid bearer token' : 'missing bearer token', at: deps.clock.now() }, auditFailed(log));
    res.setHeader('www-authenticate', 'Bearer realm="alertmanager"');
    sendJson(res, 401, { error: auth ? 'invalid bearer token' : 'missing bearer token' });
    return false;
  }
  return true;
}

/** A delivery read and validated: its id, the raw bytes, the storable JSON (and whether it changed), the payload. */
interface ReadDelivery {
  eventId: string;
  raw: Buffer;
  json: unknown;
  changed: boolean;
  payload: Extract<ReturnType<typeof parseAlertmanagerPayload>, { ok: true }>['payload'];
}

/**
 * Step 2: the body read with a size limit (413), parsed and validated; a body that is not JSON or not a v4 payload
 * is dead-lettered and answered 400. Undefined when answered here.
 */
async function readDelivery(deps: AlertmanagerWebhookDeps, req: http.IncomingMessage, res: http.ServerResponse, log: AlertDeps['logger']): Promise<ReadDelivery | undefined> {
  let raw: Buffer;
  try {
    raw = await readRawBody(req, ALERTMANAGER_MAX_BODY_BYTES);
  } catch {
    sendJson(res, 413, { error: `body too large (limit ${ALERTMANAGER_MAX_BODY_BYTES} bytes)` });
    return undefined;
  }
  const eventId = deliveryId(raw);
  let original: unknown;
  try {
    original = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'alertmanager webhook: body is not JSON');
    await refuseBody(deps, res, eventId, raw, 'body is not JSON', undefined);
    return undefined;
  }
  // text from outside made storable (U+0000, lone surrogates → U+FFFD); the body as received kept beside it
  const { value: json, changes } = sanitizeDeep(original);
  const parsed = parseAlertmanagerPayload(json);
  if (!parsed.ok) {
    log.warn({ error: parsed.error }, 'alertmanager webhook: invalid payload');
    await refuseBody(deps, res, eventId, raw, parsed.error, json);
    return undefined;
  }
  return { eventId, raw, json, changed: changes.length > 0, payload: parsed.payload };
}

/**
 * Step 3: stored in the inbox. A failure that is not the database being away dead-letters the body (answered 200);
 * a transient one answers 500 so Alertmanager retries. Undefined when answered here, else whether the row is new.
 */
async function storeDelivery(deps: AlertmanagerWebhookDeps, res: http.ServerResponse, d: ReadDelivery, log: AlertDeps['logger']): Promise<boolean | undefined> {
  try {
    return await storeAlertmanagerDelivery(alertDepsFrom(deps), d.eventId, d.payload.status, d.json, deps.clock.now(), d.changed ? rawBodyText(d.raw) : null);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'alertmanager webhook: delivery not stored');
    if (!isTransientDbError(err)) {
      await refuseBody(deps, res, d.eventId, d.raw, `not storable: ${(err as Error).message}`, d.json, 200);
      return undefined;
    }
    sendJson(res, 500, { error: 'not stored; retry' });
    return undefined;
  }
}

/** Builds the route. Processing of one notification group is serialised (arrival order); groups run concurrently. */
export function alertmanagerWebhookRoute(deps: AlertmanagerWebhookDeps, opts: AlertmanagerRouteOptions = {}): AlertmanagerWebhookRoute {
  const process = opts.process ?? processWithDispatch;
  const queue = groupQueue((eventId) => processAlertmanagerDelivery(alertDepsFrom(deps), eventId, process));

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const log = deps.logger.child({ route: ALERTMANAGER_WEBHOOK_PATH });
    if (!(await admit(deps, req, res, log))) return;
    const delivery = await readDelivery(deps, req, res, log);
    if (!delivery) return;
    const stored = await storeDelivery(deps, res, delivery, log);
    if (stored === undefined) return;
    const { eventId, payload } = delivery;
    sendJson(res, 200, { received: true, duplicate: !stored, alerts: payload.alerts.length });
    if (payload.truncatedAlerts > 0) log.warn({ groupKey: payload.groupKey, truncated: payload.truncatedAlerts }, 'alertmanager left alerts out of this delivery (max_alerts)');
    log.info({ eventId: eventId.slice(0, 16), groupKey: payload.groupKey, status: payload.status, alerts: payload.alerts.length, duplicate: !stored }, 'alertmanager delivery received');
    // A byte-identical resend finds the row processed (a no-op), in flight here (skipped by schedule()), or failed
    // earlier (processed again now).
    queue.schedule(payload.groupKey, eventId);
  }

  return {
    path: ALERTMANAGER_WEBHOOK_PATH,
    method: ['POST'],
    handler: (req, res) => {
      void handle(req, res).catch((err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, 'alertmanager webhook handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      });
    },
    idle: () => queue.idle(),
  };
}
