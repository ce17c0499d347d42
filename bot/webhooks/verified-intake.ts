/**
 * The front door every authenticated provider webhook shares: read the raw bytes (413 over the body limit), refuse
 * with 503 when the credential is not configured (nothing can be verified), verify the request on those exact bytes,
 * and on failure count it (`leadfactory_webhook_signature_failures_total`), log it, audit it (nothing stored) and
 * answer 401/403. Used by the SendGrid, PagerDuty and Opsgenie routes.
 */
import type http from 'node:http';
import { countWebhookSignatureFailure, type WEBHOOK_PROVIDERS } from '../../alerts/metrics.js';
import { auditRefusal } from '../../domain/intake/dead-letters.js';
import type { Logger } from '../../domain/logger.js';
import type { WebhookDeps } from './index.js';
import { readRawBody, sendJson } from './raw-body.js';

/** Logs an audit write that failed (the refusal itself stands). */
export const auditFailed = (log: Logger) => (err: unknown) => log.error({ err: (err as Error).message }, 'audit row for a refused delivery not written');

/** How one route authenticates its provider. */
export interface IntakeCheck {
  /** Metric label and audit source. */
  source: (typeof WEBHOOK_PROVIDERS)[number];
  /** The configured secret, key or token; undefined answers 503 with `notConfigured`. */
  credential: string | undefined;
  notConfigured: { log: string; error: string };
  /** True when the request proves it comes from the provider (signature or token over `raw`). */
  verify: (raw: Buffer, credential: string) => boolean;
  /** The refusal: status, audit `what` and `detail`, the log line, the JSON error and extra response headers. */
  refusal: { status: 401 | 403; what: string; detail: string; log: string; error: string; headers?: Record<string, string> };
}

/**
 * Reads and authenticates one delivery (see the module comment).
 * @returns the raw body when it is authentic; undefined when the request has been answered (413, 503, 401/403).
 */
export async function readVerifiedBody(deps: WebhookDeps, log: Logger, req: http.IncomingMessage, res: http.ServerResponse, check: IntakeCheck): Promise<Buffer | undefined> {
  const raw = await readBodyOr413(req, res);
  if (!raw) return undefined;
  if (!check.credential) {
    log.warn(check.notConfigured.log);
    sendJson(res, 503, { error: check.notConfigured.error });
    return undefined;
  }
  if (check.verify(raw, check.credential)) return raw;
  const { refusal } = check;
  countWebhookSignatureFailure(deps.metrics, check.source);
  log.warn({ bytes: raw.length }, refusal.log);
  await auditRefusal(deps.orm.em.fork(), { source: check.source, what: refusal.what, detail: refusal.detail, at: deps.clock.now(), input: { bytes: raw.length } }, auditFailed(log));
  for (const [k, v] of Object.entries(refusal.headers ?? {})) res.setHeader(k, v);
  sendJson(res, refusal.status, { error: refusal.error });
  return undefined;
}

/** The request's raw bytes (the signature is checked on these); undefined once a 413 was answered (body over the limit). */
export async function readBodyOr413(req: http.IncomingMessage, res: http.ServerResponse): Promise<Buffer | undefined> {
  try {
    return await readRawBody(req);
  } catch {
    sendJson(res, 413, { error: 'body too large' });
    return undefined;
  }
}
