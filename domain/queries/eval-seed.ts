/**
 * Seeding and scaffolding statements of the assistant's eval (bot/assistant/eval): rows written straight into the
 * tables to stage a fault (emails, businesses, runs, errors, purchases, alerts, ledger rows, ops events), the
 * whole-table changes scenarios make (quotas to zero, targets off), the index the missing-index scenarios drop,
 * and the eval database's own lifecycle. Never used by the service. Times are UTC `Date`s; money in cents.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Empties every application table (not MikroORM's migrations table), restarting identities. */
export async function truncateAppTables(em: EntityManager): Promise<void> {
  const rows = await em.execute<{ tablename: string }[]>("select tablename from pg_tables where schemaname = current_schema() and tablename not like 'mikro_orm%'");
  if (rows.length) await em.execute(`truncate table ${rows.map((r) => `"${r.tablename}"`).join(', ')} restart identity cascade`);
}

/** Creates database `name` on `em`'s server (`name` must be a plain identifier: it is not quoted). */
export async function createDatabase(em: EntityManager, name: string): Promise<void> {
  await em.execute(`create database ${name}`);
}

/** Drops database `name` when it exists (`name` a plain identifier). */
export async function dropDatabase(em: EntityManager, name: string): Promise<void> {
  await em.execute(`drop database if exists ${name}`);
}

/** An emailed business and one email to it (campaign `website-audit`, body `Hello.`). */
export interface EmailSeed {
  business: { yelpId: string; name: string; website: string; at: Date };
  to: string;
  subject: string;
  spamScore: number;
  spamReasons: string[];
  status: string;
  createdAt: Date;
  sentAt: Date | null;
  claimedAt: Date | null;
  bounceReason: string | null;
  providerMessageId: string | null;
  lastEventAt: Date | null;
  bouncedAt: Date | null;
}

/** Inserts the business (status `emailed`) and its email; returns the email id. */
export async function seedEmailWithBusiness(em: EntityManager, s: EmailSeed): Promise<number> {
  const [b] = await em.execute<{ id: number }[]>(
    `insert into businesses (yelp_id, name, website, status, created_at, updated_at) values (?, ?, ?, 'emailed', ?, ?) returning id`,
    [s.business.yelpId, s.business.name, s.business.website, s.business.at, s.business.at],
  );
  const [e] = await em.execute<{ id: number }[]>(
    `insert into emails (business_id, campaign, to_address, subject, body, spam_score, spam_reasons, status, created_at, updated_at, sent_at, claimed_at, bounce_reason, provider_message_id, last_event_at, bounced_at)
     values (?, 'website-audit', ?, ?, 'Hello.', ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id`,
    [b!.id, s.to, s.subject, s.spamScore, JSON.stringify(s.spamReasons), s.status, s.createdAt, s.createdAt, s.sentAt, s.claimedAt, s.bounceReason, s.providerMessageId, s.lastEventAt, s.bouncedAt],
  );
  return e!.id;
}

/** Inserts a SendGrid event (`dedupKey` also its `sg_event_id`; occurred and received at `at`). */
export async function seedEmailEvent(em: EntityManager, ev: { dedupKey: string; emailId: number | null; event: string; reason: string | null; at: Date; payload: Record<string, unknown> }): Promise<void> {
  await em.execute(
    `insert into email_events (dedup_key, sg_event_id, email_id, event, reason, occurred_at, received_at, payload) values (?, ?, ?, ?, ?, ?, ?, ?::jsonb)`,
    [ev.dedupKey, ev.dedupKey, ev.emailId, ev.event, ev.reason, ev.at, ev.at, JSON.stringify(ev.payload)],
  );
}

/** Inserts a business in an assessment state (status changed, created and updated at `at`); returns its id. */
export async function seedBusinessRow(em: EntityManager, b: { yelpId: string; name: string; website: string | null; status: string; attempts: number; at: Date }): Promise<number> {
  const [row] = await em.execute<{ id: number }[]>(
    `insert into businesses (yelp_id, name, website, status, assessment_attempts, status_changed_at, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?) returning id`,
    [b.yelpId, b.name, b.website, b.status, b.attempts, b.at, b.at, b.at],
  );
  return row!.id;
}

/** Inserts an assessment result of `businessId` (url `https://x.com/`). */
export async function seedAssessmentResult(em: EntityManager, businessId: number, status: string, error: string | null, at: Date): Promise<void> {
  await em.execute(`insert into assessment_results (business_id, status, url, error_message, created_at) values (?, ?, 'https://x.com/', ?, ?)`, [businessId, status, error, at]);
}

/** Inserts a job run (`trigger` `schedule`). */
export async function seedJobRun(
  em: EntityManager,
  r: { job: string; status: string; startedAt: Date; heartbeatAt: Date; finishedAt: Date | null; counts: Record<string, number>; error: string | null },
): Promise<void> {
  await em.execute(
    `insert into job_runs (job, status, trigger, started_at, heartbeat_at, finished_at, counts, error) values (?, ?, 'schedule', ?, ?, ?, ?::jsonb, ?)`,
    [r.job, r.status, r.startedAt, r.heartbeatAt, r.finishedAt, JSON.stringify(r.counts), r.error],
  );
}

/** Deletes every job run. */
export async function deleteAllJobRuns(em: EntityManager): Promise<void> {
  await em.execute('delete from job_runs');
}

/** Inserts an error record (level `error`, code `provider_error`). */
export async function seedErrorRecord(em: EntityManager, e: { at: Date; component: string; msg: string }): Promise<void> {
  await em.execute(`insert into error_records (at, level, component, msg, code, context) values (?, 'error', ?, ?, 'provider_error', '{}'::jsonb)`, [e.at, e.component, e.msg]);
}

/** Inserts an `audit_report` purchase in USD (created and updated at `at`); returns its id. */
export async function seedPurchaseRow(
  em: EntityManager,
  p: { customerEmail: string; amountCents: number; taxCents: number; totalCents: number; status: string; sessionId: string; paymentIntentId: string; reportSentAt: Date | null; at: Date },
): Promise<number> {
  const [row] = await em.execute<{ id: number }[]>(
    `insert into purchases (product, customer_email, amount_cents, tax_cents, total_cents, currency, status, stripe_session_id, stripe_payment_intent_id, report_sent_at, created_at, updated_at)
     values ('audit_report', ?, ?, ?, ?, 'usd', ?, ?, ?, ?, ?, ?) returning id`,
    [p.customerEmail, p.amountCents, p.taxCents, p.totalCents, p.status, p.sessionId, p.paymentIntentId, p.reportSentAt, p.at, p.at],
  );
  return row!.id;
}

/** Inserts a firing alert (source `eval`, group key = fingerprint, no labels or annotations, started now). */
export async function seedFiringAlert(em: EntityManager, a: { fingerprint: string; name: string; severity: string; runbook: string | null }): Promise<void> {
  await em.execute(
    `insert into alerts (fingerprint, group_key, source, name, severity, status, labels, annotations, runbook, starts_at, updated_at) values (?, ?, 'eval', ?, ?, 'firing', '{}'::jsonb, '{}'::jsonb, ?, now(), now())`,
    [a.fingerprint, a.fingerprint, a.name, a.severity, a.runbook],
  );
}

/** Sets every target's daily quota to 0. */
export async function zeroAllTargetQuotas(em: EntityManager): Promise<void> {
  await em.execute('update targets set daily_quota = 0');
}

/** Deactivates every target. */
export async function deactivateAllTargets(em: EntityManager): Promise<void> {
  await em.execute('update targets set active = false');
}

/** Inserts a ledger row of a refused `search` call (HTTP 401, one attempt, 40 ms, no cost) of `provider` at `at`. */
export async function seedUnauthorizedApiCall(em: EntityManager, provider: string, at: Date): Promise<void> {
  await em.execute(
    `insert into api_calls (provider, operation, outcome, http_status, attempts, latency_ms, cost_usd, cache_hit, prompt_tokens, completion_tokens, error, created_at)
     values (?, 'search', 'error', 401, 1, 40, 0, false, null, null, 'HTTP 401', ?)`,
    [provider, at],
  );
}

/** Inserts an ops event (`payload` stored as jsonb). */
export async function seedOpsEvent(em: EntityManager, e: { type: string; severity: string; payload: Record<string, unknown>; dedupKey: string; at: Date }): Promise<void> {
  await em.execute(`insert into ops_events (type, severity, payload, dedup_key, created_at) values (?, ?, ?::jsonb, ?, ?)`, [e.type, e.severity, JSON.stringify(e.payload), e.dedupKey, e.at]);
}

/** Upserts setting `key` to `value` (stored as jsonb) by `eval`; an existing row keeps its updated_at/by. */
export async function seedSetting(em: EntityManager, key: string, value: unknown): Promise<void> {
  await em.execute(`insert into settings (key, value, updated_at, updated_by) values (?, ?::jsonb, now(), 'eval') on conflict (key) do update set value = excluded.value`, [key, JSON.stringify(value)]);
}

/** The non-primary-key indexes of `emails` on `(provider_message_id)`: name and definition (`CREATE … INDEX …`). */
export async function messageIdIndexes(em: EntityManager): Promise<{ name: string; definition: string }[]> {
  const rows = await em.execute<{ indexname: string; indexdef: string }[]>(
    "select indexname, indexdef from pg_indexes where tablename = 'emails' and indexdef like '%(provider_message_id)%' and indexname not like '%pkey%'",
  );
  return rows.map((r) => ({ name: r.indexname, definition: r.indexdef }));
}

/** Drops index `name` when it exists. */
export async function dropIndexIfExists(em: EntityManager, name: string): Promise<void> {
  await em.execute(`drop index if exists "${name}"`);
}

/** Creates an index again from its `pg_indexes.indexdef` (as `IF NOT EXISTS`). */
export async function recreateIndex(em: EntityManager, definition: string): Promise<void> {
  await em.execute(definition.replace(/^CREATE (UNIQUE )?INDEX /i, (m) => `${m}IF NOT EXISTS `));
}
