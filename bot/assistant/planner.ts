/**
 * The offline planner: deterministic, no model. It maps a question plus the firing alerts to runbooks by their
 * symptoms and keywords (idf-weighted token overlap; a whole symptom phrase found in the question adds a bonus;
 * firing alerts that name a runbook add a small boost, so they break ties and lead when the question is vague),
 * runs the chosen runbooks' diagnostics (runbooks/define.ts `diagnose`), and answers in the shared shape: the
 * root cause (ranked by runbook score, by how well its title matches the question and by the severity of its
 * findings), the findings that support it (those whose removal un-indicates it), its remediation buttons with the
 * inputs the runbook chooses from the findings, and a confidence.
 */
import { randomUUID } from 'node:crypto';
import type { RunbookContext } from '../../runbooks/context.js';
import { diagnose, type Diagnosis, type Finding, type Runbook } from '../../runbooks/define.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { confidenceLabel, suggestion, type AnswerFinding, type AssistantAnswer, type SuggestedRemediation, type ToolCallRecord } from './answer.js';
import { indicatedCauses, replayRunner, toolName, type RecordedOutput } from './tools.js';

/** A firing alert as the planner sees it. */
export interface ActiveAlert {
  name: string;
  severity: string;
  runbook: string | null;
}

/** Progress callbacks (the same shape as bot/commands/execute.ts `ExecuteOptions.progress`). */
export interface AskProgress {
  start(total: number, label: string): void;
  tick(label: string): void;
  stop(): void;
}

/** Extra words per runbook, beyond its symptoms and title (what operators type). */
export const RUNBOOK_KEYWORDS: Readonly<Record<string, string[]>> = {
  'quick-diagnostics': ['health', 'healthy', 'status', 'overview', 'everything', 'ok', 'errors', 'error', 'exceptions', 'crash', 'up', 'down', 'checklist', 'morning'],
  'pipeline-not-processing': ['pipeline', 'leads', 'lead', 'sourcing', 'sourced', 'yelp', 'targets', 'target', 'quota', 'quotas', 'businesses', 'new', 'run', 'ran', 'cron', 'schedule', 'scheduled', 'paused', 'stalled', 'stuck', 'today', 'found', 'nothing'],
  'email-delivery': ['email', 'emails', 'mail', 'sendgrid', 'bounce', 'bounced', 'bounces', 'bouncing', 'spam', 'deliver', 'delivered', 'delivery', 'outreach', 'sent', 'send', 'sending', 'inbox', 'webhook', 'events', 'addresses', 'invalid', 'pending', 'paused', 'unsubscribe'],
  'assessment-failures': ['assessment', 'assessments', 'assess', 'assessed', 'pagespeed', 'lighthouse', 'insight', 'insights', 'ai', 'openai', 'gpt', 'website', 'websites', 'url', 'urls', 'scores', 'audit', 'backlog', 'failed', 'failing', 'quota'],
  'payment-issues': ['payment', 'payments', 'paid', 'pay', 'stripe', 'purchase', 'purchases', 'checkout', 'report', 'reports', 'pdf', 'customer', 'charged', 'charge', 'total', 'tax', 'refund', 'money', 'signature', 'webhook', '99'],
  'database-performance': ['database', 'db', 'postgres', 'postgresql', 'sql', 'query', 'queries', 'slow', 'index', 'indexes', 'vacuum', 'bloat', 'dead', 'tuples', 'connections', 'pool', 'seq', 'scan', 'table'],
  'memory-resources': ['memory', 'ram', 'rss', 'heap', 'oom', 'leak', 'cpu', 'disk', 'space', 'slow', 'sluggish', 'lag', 'event', 'loop', 'blocked', 'batch', 'batches', 'worker', 'restarting', 'container', 'resources'],
  'external-apis': ['api', 'apis', 'provider', 'providers', 'integration', 'integrations', 'breaker', 'circuit', 'open', '429', '401', '403', 'unauthorized', 'key', 'keys', 'rate', 'limit', 'limited', 'quota', 'exhausted', 'yelp', 'sendgrid', 'stripe', 'openai', 'pagespeed', 'outage', 'down', 'refused'],
};

const STOP = new Set(
  'a an the is are was were be been being do does did why what when where who how which this that these those it its of in on at to for from by with and or not no any all our we i you me my your there here has have had can could should would will just still today yesterday again so please some any get got going go out up'.split(' '),
);

/** Light stemming: lower case, trailing plural / -ing / -ed removed on longer words. */
export function stem(word: string): string {
  const w = word.toLowerCase();
  if (w.length <= 4 || /^\d+$/.test(w)) return w;
  return w.replace(/(ing|ed|es|s)$/, '');
}

/** The question's content words, stemmed (stop words dropped). */
export function tokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((t) => t.length > 0 && !STOP.has(t))
    .map(stem);
}

interface Vocab {
  runbook: Runbook<RunbookContext>;
  words: Set<string>;
  phrases: string[][];
}

const VOCAB: Vocab[] = RUNBOOKS.map((rb) => ({
  runbook: rb,
  words: new Set([...tokens(rb.title), ...tokens(rb.id), ...rb.symptoms.flatMap(tokens), ...(RUNBOOK_KEYWORDS[rb.id] ?? []).flatMap(tokens)]),
  phrases: rb.symptoms.map(tokens).filter((p) => p.length >= 2),
}));

/** Inverse document frequency of a stemmed word over the runbooks' vocabularies. */
function idf(word: string): number {
  const df = VOCAB.filter((v) => v.words.has(word)).length;
  return df === 0 ? 0 : Math.log(1 + VOCAB.length / df);
}

/** A runbook's score for a question. */
export interface RunbookScore {
  runbook: string;
  score: number;
  /** The part of the score that came from firing alerts. */
  alertBoost: number;
}

/** Boost per firing alert naming a runbook (capped at 2 alerts): below one distinctive word, above a tie. */
export const ALERT_BOOST = 0.6;

/** Scores every runbook for `question` and `alerts`, best first (ties: alerts, then the guide's order). */
export function scoreRunbooks(question: string, alerts: readonly ActiveAlert[] = []): RunbookScore[] {
  const q = tokens(question);
  const qset = new Set(q);
  const scored = VOCAB.map((v, order) => {
    let score = 0;
    for (const w of qset) if (v.words.has(w)) score += idf(w);
    for (const p of v.phrases) if (p.every((w) => qset.has(w))) score += 1;
    const n = alerts.filter((a) => a.runbook === v.runbook.id).length;
    const alertBoost = Math.min(2, n) * ALERT_BOOST;
    return { runbook: v.runbook.id, score: score + alertBoost, alertBoost, order };
  });
  scored.sort((a, b) => b.score - a.score || b.alertBoost - a.alertBoost || a.order - b.order);
  return scored.map(({ order: _o, ...s }) => s);
}

/** Which runbooks the planner runs: the best, plus those within 60 % of it (at most 3); quick-diagnostics when nothing matches. */
export function chooseRunbooks(scores: readonly RunbookScore[]): string[] {
  const top = scores[0];
  if (!top || top.score <= 0) return ['quick-diagnostics'];
  return scores.filter((s) => s.score > 0 && s.score >= top.score * 0.6).slice(0, 3).map((s) => s.runbook);
}

/** Pointer causes ("…; see the external-apis runbook") are less specific than the runbook they point to. */
export const POINTER_PENALTY = 0.3;
/** Bonus for a cause of a runbook a firing alert names (as strong as being the question's best runbook). */
export const ALERT_CAUSE_BONUS = 1;

/** Firing alerts (newest first, at most 20); none when the table cannot be read. */
export async function activeAlerts(ctx: RunbookContext): Promise<ActiveAlert[]> {
  try {
    const rows = await ctx
      .em()
      .getConnection()
      .execute<{ name: string; severity: string; runbook: string | null }[]>(
        "select name, severity, runbook from alerts where status = 'firing' order by id desc limit 20",
      );
    return rows.map((r) => ({ name: r.name, severity: r.severity, runbook: r.runbook }));
  } catch {
    return [];
  }
}

/** Options of {@link planAnswer}. */
export interface PlanOptions {
  progress?: AskProgress;
  /** Firing alerts; default: read from the alerts table. */
  alerts?: ActiveAlert[];
  /** Replay recorded findings instead of running diagnostics (eval cases from exported answers). */
  recorded?: RecordedOutput[];
}

const SEVERITY: Record<string, number> = { problem: 1, error: 0.6, warn: 0.4, no_data: 0, ok: 0 };

/** The findings whose removal (read as ok) makes the cause no longer indicated: the evidence for it. */
export function supportingFindings(runbook: Runbook<RunbookContext>, causeId: string, findings: Record<string, Finding>): string[] {
  const cause = runbook.rootCauses.find((c) => c.id === causeId);
  if (!cause) return [];
  const holds = (f: Record<string, Finding>) => {
    try {
      return cause.indicatedBy(f);
    } catch {
      return false;
    }
  };
  return Object.keys(findings).filter((id) => findings[id]!.status !== 'ok' && !holds({ ...findings, [id]: { status: 'ok', summary: '', evidence: {} } }));
}

/** Runs one runbook (live or replayed). */
async function runOne(ctx: RunbookContext, rb: Runbook<RunbookContext>, opts: PlanOptions): Promise<Diagnosis> {
  let target = rb;
  if (opts.recorded) {
    const replay = replayRunner(opts.recorded);
    target = { ...rb, diagnostics: rb.diagnostics.map((d) => ({ ...d, run: async () => (await replay(rb, d.id)).finding })) };
  }
  return diagnose(target, ctx, { onResult: (r) => opts.progress?.tick(r.title) });
}

/** Answers `question` offline: choose runbooks, run their diagnostics, rank the indicated root causes. */
export async function planAnswer(ctx: RunbookContext, question: string, opts: PlanOptions = {}): Promise<AssistantAnswer> {
  const t0 = performance.now();
  const alerts = opts.alerts ?? (await activeAlerts(ctx));
  const scores = scoreRunbooks(question, alerts);
  const scoreOf = new Map(scores.map((s) => [s.runbook, s.score]));
  const topScore = Math.max(1e-9, scores[0]?.score ?? 0);
  const chosen = chooseRunbooks(scores);
  // firing alerts say where to look: their runbooks are always consulted
  for (const a of alerts) if (a.runbook && RUNBOOKS.some((r) => r.id === a.runbook) && !chosen.includes(a.runbook) && chosen.length < 4) chosen.push(a.runbook);
  const alerted = new Set(alerts.map((a) => a.runbook));
  const diagnoses: Diagnosis[] = [];
  const toolCalls: ToolCallRecord[] = [];
  const runWave = async (ids: string[]) => {
    const rbs = ids.map((id) => RUNBOOKS.find((r) => r.id === id)!).filter(Boolean);
    opts.progress?.start(rbs.reduce((n, r) => n + r.diagnostics.length, 0), rbs.map((r) => r.title).join(', '));
    try {
      const out = await Promise.all(rbs.map((rb) => runOne(ctx, rb, opts)));
      for (const d of out) {
        diagnoses.push(d);
        for (const r of d.results)
          toolCalls.push({ name: toolName(d.runbook, r.id), args: {}, output: { title: r.title, ...r.finding }, ok: r.finding.status !== 'error', ms: r.durationMs });
      }
    } finally {
      opts.progress?.stop();
    }
  };
  await runWave(chosen);
  // nothing indicated: widen once to the next runbooks that match at all (or the quick checks)
  if (diagnoses.every((d) => d.rootCauses.length === 0)) {
    const more = scores.filter((s) => s.score > 0 && !chosen.includes(s.runbook)).slice(0, 2).map((s) => s.runbook);
    if (more.length === 0 && !chosen.includes('quick-diagnostics')) more.push('quick-diagnostics');
    if (more.length) await runWave(more);
  }

  const q = new Set(tokens(question));
  const ranked: { runbook: Runbook<RunbookContext>; cause: { id: string; title: string; remediations: string[] }; score: number; findings: Record<string, Finding>; support: string[] }[] = [];
  for (const d of diagnoses) {
    const rb = RUNBOOKS.find((r) => r.id === d.runbook)!;
    const findings = Object.fromEntries(d.results.map((r) => [r.id, r.finding]));
    for (const cause of indicatedCauses(rb, findings)) {
      const support = supportingFindings(rb, cause.id, findings);
      const words = new Set([...tokens(cause.title), ...tokens(cause.id)]);
      let match = 0;
      for (const w of words) if (q.has(w)) match += idf(w);
      const severity = Math.max(0, ...support.map((id) => SEVERITY[findings[id]!.status] ?? 0));
      const score =
        (scoreOf.get(rb.id) ?? 0) / topScore +
        0.35 * Math.min(2, match) +
        0.3 * severity +
        (alerted.has(rb.id) ? ALERT_CAUSE_BONUS : 0) -
        (/see the [a-z-]+ runbook/.test(cause.title) ? POINTER_PENALTY : 0);
      ranked.push({ runbook: rb, cause, score, findings, support });
    }
  }
  ranked.sort((a, b) => b.score - a.score);
  // one entry per root-cause id (the same id can be indicated by two runbooks)
  const seen = new Set<string>();
  const unique = ranked.filter((r) => (seen.has(r.cause.id) ? false : (seen.add(r.cause.id), true)));
  const best = unique[0];

  let findingsOut: AnswerFinding[];
  let suggestions: SuggestedRemediation[] = [];
  let summary: string;
  let score: number;
  const asFinding = (runbook: string, id: string): AnswerFinding => {
    const d = diagnoses.find((x) => x.runbook === runbook)!;
    const r = d.results.find((x) => x.id === id)!;
    return { runbook, diagnostic: id, title: r.title, status: r.finding.status, summary: r.finding.summary };
  };
  if (best) {
    findingsOut = best.support.map((id) => asFinding(best.runbook.id, id));
    suggestions = best.cause.remediations
      .map((id) => {
        const m = best.runbook.remediations.find((x) => x.id === id);
        let input: Record<string, unknown> = {};
        try {
          input = m?.defaultInput?.(best.findings) ?? {};
        } catch {
          input = {};
        }
        return suggestion(best.runbook.id, id, input);
      })
      .filter((s): s is SuggestedRemediation => s !== undefined);
    const lead = findingsOut[0];
    summary = `Most likely: ${best.cause.title}.${lead ? ` ${lead.title}: ${lead.summary}` : ''}`;
    const second = unique[1];
    score = 0.45;
    if (best.runbook.id === scores[0]?.runbook) score += 0.2;
    if (!second) score += 0.2;
    else if (best.score - second.score > 0.3) score += 0.1;
    if (best.support.some((id) => best.findings[id]!.status === 'problem')) score += 0.1;
  } else {
    const bad = diagnoses.flatMap((d) => d.results.filter((r) => r.finding.status === 'problem' || r.finding.status === 'error').map((r) => asFinding(d.runbook, r.id)));
    findingsOut = bad.slice(0, 5);
    summary = bad.length
      ? `No runbook root cause is indicated, but ${bad.length} check(s) report a problem; see the findings.`
      : `The ${diagnoses.map((d) => d.title).join(', ')} checks find nothing wrong.`;
    score = 0.2;
  }
  return {
    question,
    mode: 'offline',
    rootCause: best ? { runbook: best.runbook.id, id: best.cause.id, title: best.cause.title } : null,
    alternatives: unique.slice(1, 4).map((r) => ({ runbook: r.runbook.id, id: r.cause.id, title: r.cause.title })),
    summary,
    findings: findingsOut,
    suggestions,
    confidence: { label: confidenceLabel(Math.min(1, score)), score: Math.round(Math.min(1, score) * 100) / 100 },
    runbooks: diagnoses.map((d) => d.runbook),
    toolCalls,
    notes: alerts.length ? [`${alerts.length} firing alert(s) considered`] : [],
    durationMs: Math.round(performance.now() - t0),
    nonce: randomUUID(),
    issuedAt: ctx.services.clock.now(),
  };
}
