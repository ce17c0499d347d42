/**
 * The soak bench's accounting (bench/soak.ts): after the run, reads the database and the fake Slack's log back and
 * judges the goals — RSS growth, duplicate and undelivered posts, missed, double and failed runs — printing the
 * per-job table and the figures behind them.
 */
import { QUIET_EVENT_TYPES } from '../alerts/format.js';
import {
  alertIncidentCounts,
  healthChanges,
  jobRunStartTimes,
  opsEventCounts,
  opsEventTypeCounts,
  outboxDeliveryCounts,
  pipelineStageTotals,
  postedEventsWithoutOutboxRow,
  runOverlaps,
  sentOutboxPostTexts,
} from '../domain/queries/bench.js';
import { GRACE_MS } from '../jobs/watchdog.js';
import type { SoakObservations, SoakPlan, SoakRig } from './soak.js';
import { HOUR, mb } from './soak-setup.js';

/** Per job: scheduled fires, fires made, completions, failures. */
type JobTally = { job: string; scheduled: number; fired: number; completed: number; failed: number };

/** Fires with no `job_runs` row started within GRACE_MS of them, for the jobs the scheduler tracks. */
async function firesWithoutRow(rig: SoakRig, plan: SoakPlan, fireLog: Map<string, number[]>): Promise<string[]> {
  const em = rig.db.orm.em.fork();
  const tracked = new Set(plan.catalog.filter((j) => (j.tracking ?? 'scheduler') !== 'none').map((j) => j.name));
  const missed: string[] = [];
  for (const job of tracked) {
    const starts = (await jobRunStartTimes(em, job)).map((d) => d.getTime());
    for (const at of fireLog.get(job) ?? []) if (!starts.some((s) => s >= at && s - at < GRACE_MS)) missed.push(`${job}@${new Date(at).toISOString()}`);
  }
  return missed;
}

/** Texts received more often than recorded (duplicates) and recorded but not received (lost), and how many were recorded. */
async function postAccounting(rig: SoakRig, received: SoakObservations['received']): Promise<{ duplicatePosts: number; lostPosts: number; recordedPosts: number }> {
  // the texts the system recorded as posted, as a multiset
  const recorded = new Map<string, number>();
  const add = (text: string) => recorded.set(text, (recorded.get(text) ?? 0) + 1);
  // every post goes through the outbox, ops events included (the notifier enqueues each as `ops-event:<key>`): the
  // sent outbox rows are what was recorded as posted; an event handed over without its outbox row is lost
  for (const text of await sentOutboxPostTexts(rig.db.orm.em.fork())) add(text);
  const eventsLost = await postedEventsWithoutOutboxRow(rig.db.orm.em.fork(), [...QUIET_EVENT_TYPES]);
  let duplicatePosts = 0;
  let lostPosts = 0;
  for (const [text, n] of received.texts) duplicatePosts += Math.max(0, n - (recorded.get(text) ?? 0));
  for (const [text, n] of recorded) lostPosts += Math.max(0, n - (received.texts.get(text) ?? 0));
  return { duplicatePosts, lostPosts: lostPosts + eventsLost, recordedPosts: [...recorded.values()].reduce((a, b) => a + b, 0) };
}

/** One soak goal, met or not. */
type Goal = { name: string; value: string; ok: boolean; goal: string };

/** Reads the database back, prints the figures and returns the goals. */
export async function accountSoak(rig: SoakRig, plan: SoakPlan, obs: SoakObservations, days: number, wallMs: number): Promise<Goal[]> {
  const em = rig.db.orm.em.fork();
  const { received, skipped, fireLog, first, baseline, last } = obs;
  const missedDetail = await firesWithoutRow(rig, plan, fireLog);
  const perJob: JobTally[] = plan.catalog.map((j) => {
    const scheduled = [...plan.steps.values()].reduce((n, names) => n + names.filter((x) => x === j.name).length, 0);
    return { job: j.name, scheduled, fired: fireLog.get(j.name)?.length ?? 0, completed: rig.completions.get(j.name) ?? 0, failed: rig.failures.get(j.name)?.length ?? 0 };
  });
  const notCompleted = perJob.reduce((n, j) => n + Math.max(0, j.fired - j.completed), 0);
  const overCompleted = perJob.reduce((n, j) => n + Math.max(0, j.completed - j.fired), 0);
  const overlaps = await runOverlaps(em);
  const outbox = await outboxDeliveryCounts(em);
  const events = await opsEventCounts(em);
  const eventTypes = await opsEventTypeCounts(em);
  const alertCounts = await alertIncidentCounts(em).catch(() => undefined);
  const stageTotals = await pipelineStageTotals(em);
  const { duplicatePosts, lostPosts, recordedPosts } = await postAccounting(rig, received);
  // health posts without a change: each health.changed must start from the status the previous one ended in
  const health = await healthChanges(em);
  const healthRepeats = health.filter((e, i) => e.from === e.to || (i > 0 && e.from !== health[i - 1]!.to)).length;
  const failedRuns = perJob.reduce((n, j) => n + j.failed, 0);
  const missedRuns = skipped.length + notCompleted + missedDetail.length + events.missed;
  const doubleRuns = overCompleted + overlaps.overlapping + overlaps.sameStart + overlaps.batchDuringDaily;
  const growth = (last.rss - baseline.rss) / baseline.rss;
  const q = (v: number | undefined) => (v === undefined ? '?' : String(v));

  console.log('\nper job (scheduled fires / fired / completed / failed):');
  for (const j of perJob) console.log(`  ${j.job.padEnd(22)} ${String(j.scheduled).padStart(5)} ${String(j.fired).padStart(5)} ${String(j.completed).padStart(5)} ${String(j.failed).padStart(4)}`);
  for (const [job, errs] of rig.failures) console.log(`  failures of ${job}: ${[...new Set(errs)].slice(0, 3).join(' | ')}`);
  console.log(`\nops events: ${events.total} (${eventTypes.map((e) => `${e.type} ${e.n}`).join(', ')})`);
  console.log(`alerts: ${q(alertCounts?.alerts)} (resolved ${q(alertCounts?.resolved)}); incidents: ${q(alertCounts?.incidents)}; pages: ${q(alertCounts?.escalations)}`);
  console.log(`pipeline work: ${stageTotals.map((r) => `${r.job} (${r.runs} runs) sourced ${r.sourced}, assessed ${r.assessed}, emailed ${r.emailed}`).join('; ')}`);
  console.log(
    `Slack: ${received.posts} posts (${[...received.byChannel].map(([c, n]) => `${c} ${n}`).join(', ')}), ${received.updates} edits, ${received.limited} answered 429; ` +
      `recorded as posted: ${recordedPosts} sent outbox rows (${events.posted} ops events handed to the outbox, quiet types not posted); unsent outbox ${outbox.unsent}, unposted events ${events.unposted}`,
  );
  if (missedDetail.length > 0) console.log(`runs without a job_runs row: ${missedDetail.slice(0, 10).join(', ')}`);
  if (skipped.length > 0) console.log(`fires skipped: ${skipped.slice(0, 10).map((s) => `${s.job}@${s.at}`).join(', ')}`);
  console.log(`\nwall time ${(wallMs / 1000).toFixed(1)} s for ${days * 24} virtual hours (×${Math.round((days * 24 * HOUR) / wallMs)})`);
  console.log(
    `RSS: at start ${mb(first.rss)}; after the first virtual hour ${mb(baseline.rss)} (heap ${mb(baseline.heap)}); at the end ${mb(last.rss)} (heap ${mb(last.heap)}, ` +
      `${(((last.heap - baseline.heap) / baseline.heap) * 100).toFixed(1)} % over the first hour's)`,
  );
  const undelivered = lostPosts + outbox.unsent + events.unposted;
  return [
    { name: 'RSS growth (first hour → end)', value: `${(growth * 100).toFixed(1)} %`, ok: growth <= 0.1, goal: '≤ 10 %' },
    { name: 'duplicate posts', value: `${duplicatePosts + healthRepeats} (texts received more often than recorded ${duplicatePosts}, health posts without a change ${healthRepeats})`, ok: duplicatePosts + healthRepeats === 0, goal: '0' },
    { name: 'undelivered posts', value: `${undelivered} (recorded but not received, or handed over without an outbox row ${lostPosts}, unsent ${outbox.unsent}, unposted ${events.unposted})`, ok: undelivered === 0, goal: '0' },
    { name: 'missed runs', value: `${missedRuns} (skipped ${skipped.length}, unfinished ${notCompleted}, no run row ${missedDetail.length}, watchdog job.missed ${events.missed})`, ok: missedRuns === 0, goal: '0' },
    {
      name: 'double-run jobs',
      value: `${doubleRuns} (extra completions ${overCompleted}, overlapping runs of a job ${overlaps.overlapping}, same-start runs ${overlaps.sameStart}, batch work during a daily run ${overlaps.batchDuringDaily})`,
      ok: doubleRuns === 0,
      goal: '0',
    },
    { name: 'failed runs', value: String(failedRuns), ok: failedRuns === 0, goal: '0 (every fault window is survivable)' },
  ];
}
