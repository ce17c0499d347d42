/**
 * Statements only the benchmarks (bench/) run: seeding at volume (targets, a pipeline's floor of businesses,
 * results and emails), resets between trials, and the read-backs the soak and pipeline benchmarks account with.
 * Never used by the service. Counts are numbers; times UTC `Date`s.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Empties the gateway's tables (rate limits, quota usage, provider state, the api_calls ledger). */
export async function truncateGatewayTables(em: EntityManager): Promise<void> {
  await em.execute('truncate rate_limit_state, provider_quota_usage, provider_state, api_calls');
}

/** Closes every provider's breaker by hand (failures 0, not opened), as between MTTD trials. */
export async function closeAllBreakers(em: EntityManager): Promise<void> {
  await em.execute(`update provider_state set breaker_state = 'closed', consecutive_failures = 0, opened_at = null`);
}

/** Inserts an active target (priority 0) with `dailyQuota` businesses a day, created now. */
export async function insertBenchTarget(em: EntityManager, location: string, category: string, dailyQuota: number): Promise<void> {
  await em.execute('insert into targets (location, category, daily_quota, priority, active, created_at, updated_at) values (?, ?, ?, 0, true, now(), now())', [location, category, dailyQuota]);
}

/**
 * The pipeline floor's rows for businesses `ids` (numbers naming them; target 1 must exist): each business inserted
 * `assessment_pending`, given a completed assessment, moved through assessed → scored → email_pending, given a
 * pending email, the email marked sent and the business emailed — what the pipeline writes, without its work.
 */
export async function seedFloorBusinesses(em: EntityManager, ids: number[]): Promise<void> {
  const params: unknown[] = [];
  const values = ids.map((i) => {
    params.push(`floor-${i}`, `Business ${i}`, `https://b${i}.example.com/`, `b${i}.example.com`, `1555${String(i).padStart(7, '0')}`);
    return "(?, ?, ?, ?, ?, '[]', 'assessment_pending', now(), 1, now(), now())";
  });
  const rows = await em.execute<{ id: number }[]>(
    `insert into businesses (yelp_id, name, website, website_domain, phone_normalized, categories, status, status_changed_at, target_id, created_at, updated_at) values ${values.join(',')} returning id`,
    params,
  );
  const list = rows.map((r) => r.id).join(',');
  await em.execute(
    `insert into assessment_results (business_id, status, url, performance_score, accessibility_score, best_practices_score, seo_score, metrics, insight, opportunities, recommendations, assessors, created_at)
     select id, 'completed', website, 50, 60, 70, 80, '{}', '{}', '[]', '[]', '{}', now() from businesses where id in (${list})`,
  );
  for (const status of ['assessed', 'scored', 'email_pending']) await em.execute(`update businesses set status = ?, score = 70, status_changed_at = now() where id in (${list})`, [status]);
  await em.execute(
    `insert into emails (business_id, campaign, to_address, subject, body, spam_score, spam_reasons, status, created_at, updated_at)
     select id, 'website-audit', 'info@' || website_domain, 'Subject', 'Body', 5, '[]', 'pending', now(), now() from businesses where id in (${list})`,
  );
  await em.execute(`update emails set status = 'sent', provider_message_id = 'm' || id, sent_at = now() where business_id in (${list})`);
  await em.execute(`update businesses set status = 'emailed', status_changed_at = now() where id in (${list})`);
}

/** Every business's website (null when it has none). */
export async function businessWebsites(em: EntityManager): Promise<(string | null)[]> {
  return (await em.execute<{ website: string | null }[]>('select website from businesses')).map((r) => r.website);
}

/** Assessment results that measured the site (completed or partial). */
export async function measuredAssessments(em: EntityManager): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>("select count(*)::int as n from assessment_results where status in ('completed', 'partial')");
  return row?.n ?? 0;
}

/** Per provider: successful calls that were not cache hits, and their prompt + completion tokens. */
export async function okCallsByProvider(em: EntityManager): Promise<{ provider: string; calls: number; tokens: number }[]> {
  return em.execute<{ provider: string; calls: number; tokens: number }[]>(
    `select provider, count(*)::int as calls, coalesce(sum(prompt_tokens + completion_tokens), 0)::int as tokens
     from api_calls where outcome = 'ok' and not cache_hit group by provider`,
  );
}

/**
 * Failed assessments grouped by cause (the error code, else the message's first two `:` parts, cut) and by whether
 * the site is to blame (an error code, or an invalid URL); most frequent first.
 */
export async function failedAssessmentCauses(em: EntityManager): Promise<{ cause: string; site: boolean; n: number }[]> {
  return em.execute<{ cause: string; site: boolean; n: number }[]>(
    `select coalesce(error_code, split_part(coalesce(error_message, '?'), ':', 1) || ': ' || left(split_part(coalesce(error_message, '?'), ':', 2), 60)) as cause,
            (error_code is not null or error_message like 'invalid URL%') as site, count(*)::int as n
     from assessment_results where status = 'failed' group by 1, 2 order by n desc`,
  );
}

/** Start times of `job`'s runs, oldest first. */
export async function jobRunStartTimes(em: EntityManager, job: string): Promise<Date[]> {
  return (await em.execute<{ started_at: Date }[]>(`select started_at from job_runs where job = ? order by started_at`, [job])).map((r) => new Date(r.started_at));
}

/** What the soak counts as double runs: pairs of one job's runs that overlap, runs sharing a job and start time beyond the first, and batches that did work while a daily run ran. */
export interface RunOverlaps {
  overlapping: number;
  sameStart: number;
  batchDuringDaily: number;
}

/** Reads {@link RunOverlaps} from `job_runs` (a run without `finished_at` is open-ended). */
export async function runOverlaps(em: EntityManager): Promise<RunOverlaps> {
  const [overlaps] = await em.execute<{ n: string }[]>(
    `select count(*) as n from job_runs a join job_runs b on a.job = b.job and a.id < b.id
      where a.started_at < coalesce(b.finished_at, 'infinity') and b.started_at < coalesce(a.finished_at, 'infinity')`,
  );
  const [dupStarts] = await em.execute<{ n: string }[]>(`select coalesce(sum(c - 1), 0) as n from (select count(*) as c from job_runs group by job, started_at having count(*) > 1) x`);
  const [batch] = await em.execute<{ n: string }[]>(
    `select count(*) as n from job_runs b join job_runs p on p.job = 'daily-pipeline'
      where b.job in ('assessment-batch', 'email-batch') and b.counts <> '{}'::jsonb and (b.counts->>'skipped') is null
        and b.started_at < coalesce(p.finished_at, 'infinity') and p.started_at < coalesce(b.finished_at, 'infinity')`,
  );
  return { overlapping: Number(overlaps?.n ?? 0), sameStart: Number(dupStarts?.n ?? 0), batchDuringDaily: Number(batch?.n ?? 0) };
}

/** The Slack outbox's delivery counts: sent posts (post, reply, DM), unsent rows, sent edits. */
export async function outboxDeliveryCounts(em: EntityManager): Promise<{ sentPosts: number; unsent: number; sentUpdates: number }> {
  const [row] = await em.execute<{ sent_posts: string; unsent: string; sent_updates: string }[]>(
    `select count(*) filter (where sent_at is not null and kind in ('post', 'reply', 'dm')) as sent_posts,
            count(*) filter (where sent_at is null) as unsent,
            count(*) filter (where sent_at is not null and kind = 'update') as sent_updates from slack_outbox`,
  );
  return { sentPosts: Number(row?.sent_posts ?? 0), unsent: Number(row?.unsent ?? 0), sentUpdates: Number(row?.sent_updates ?? 0) };
}

/** The texts of sent outbox posts, replies and DMs (one per row). */
export async function sentOutboxPostTexts(em: EntityManager): Promise<string[]> {
  return (await em.execute<{ text: string }[]>(`select text from slack_outbox where sent_at is not null and kind in ('post', 'reply', 'dm')`)).map((r) => r.text);
}

/**
 * Ops events handed over (`posted_at` set) whose type is not in `quietTypes` but that have no Slack outbox row: the
 * notifier enqueues each posted event as the outbox post `ops-event:<dedup key>`, so each of these was lost between
 * the hand-over and the outbox. A count.
 */
export async function postedEventsWithoutOutboxRow(em: EntityManager, quietTypes: readonly string[]): Promise<number> {
  const [row] = await em.execute<{ n: string }[]>(
    `select count(*) as n from ops_events e
      where e.posted_at is not null and not (e.type = any(?::text[]))
        and not exists (select 1 from slack_outbox o where o.dedup_key = 'ops-event:' || e.dedup_key)`,
    [`{${quietTypes.map((t) => `"${t}"`).join(',')}}`],
  );
  return Number(row?.n ?? 0);
}

/** Ops events: posted, unposted, `job.missed`, `job.stuck`, total. */
export async function opsEventCounts(em: EntityManager): Promise<{ posted: number; unposted: number; missed: number; stuck: number; total: number }> {
  const [row] = await em.execute<{ posted: string; unposted: string; missed: string; stuck: string; total: string }[]>(
    `select count(*) filter (where posted_at is not null) as posted, count(*) filter (where posted_at is null) as unposted,
            count(*) filter (where type = 'job.missed') as missed, count(*) filter (where type = 'job.stuck') as stuck, count(*) as total from ops_events`,
  );
  const n = (v: string | undefined) => Number(v ?? 0);
  return { posted: n(row?.posted), unposted: n(row?.unposted), missed: n(row?.missed), stuck: n(row?.stuck), total: n(row?.total) };
}

/** Ops events per type, most frequent first. */
export async function opsEventTypeCounts(em: EntityManager): Promise<{ type: string; n: number }[]> {
  return (await em.execute<{ type: string; n: string }[]>(`select type, count(*) as n from ops_events group by type order by count(*) desc`)).map((r) => ({ type: r.type, n: Number(r.n) }));
}

/** Alerts (all, resolved), incidents, and pages (incident events of kind `paged`). */
export async function alertIncidentCounts(em: EntityManager): Promise<{ alerts: number; resolved: number; incidents: number; escalations: number }> {
  const [row] = await em.execute<{ alerts: string; resolved: string; incidents: string; escalations: string }[]>(
    `select (select count(*) from alerts) as alerts, (select count(*) from alerts where status = 'resolved') as resolved,
            (select count(*) from incidents) as incidents, (select count(*) from incident_events where kind = 'paged') as escalations`,
  );
  return { alerts: Number(row?.alerts ?? 0), resolved: Number(row?.resolved ?? 0), incidents: Number(row?.incidents ?? 0), escalations: Number(row?.escalations ?? 0) };
}

/** Per pipeline job (daily-pipeline, assessment-batch, email-batch): runs and the summed sourced/assessed/emailed counts. */
export async function pipelineStageTotals(em: EntityManager): Promise<{ job: string; runs: number; sourced: number; assessed: number; emailed: number }[]> {
  const rows = await em.execute<{ job: string; runs: string; sourced: string; assessed: string; emailed: string }[]>(
    `select job, count(*) as runs, coalesce(sum((counts->>'sourced')::int), 0) as sourced, coalesce(sum((counts->>'assessed')::int), 0) as assessed,
            coalesce(sum((counts->>'emailed')::int), 0) as emailed
       from job_runs where job in ('daily-pipeline', 'assessment-batch', 'email-batch') group by job order by job`,
  );
  return rows.map((r) => ({ job: r.job, runs: Number(r.runs), sourced: Number(r.sourced), assessed: Number(r.assessed), emailed: Number(r.emailed) }));
}

/** The `health.changed` events' from → to statuses, oldest first. */
export async function healthChanges(em: EntityManager): Promise<{ from: string | null; to: string }[]> {
  return (await em.execute<{ payload: { from: string | null; to: string } }[]>(`select payload from ops_events where type = 'health.changed' order by created_at, id`)).map((r) => r.payload);
}
