/**
 * Explains a whole-system diagnosis for a question: gathers the indicated root causes of every runbook (one entry
 * per id, evidence merged across runbooks), links them with runbooks/causality.ts (which cause explains which),
 * keeps the **roots** (indicated causes no other indicated cause explains), and picks the root that best explains
 * what was asked: the topics the question reader found (question.ts), reached through the root's own symptoms and
 * those of the causes it explains, nearer steps weighing more. The present outranks the past: a cause seen only in
 * history (error logs, the last hour's ledger) explains nothing seen now and ranks below present evidence.
 *
 * Confidence is a calibrated score from how the question was read, how clearly one root answers it, and how strong
 * its evidence is; `npm run eval` prints the calibration table.
 */
import type { RunbookContext } from '../../runbooks/context.js';
import type { Diagnosis, Finding, Runbook } from '../../runbooks/define.js';
import { causeProviders, causeTopics, explainedBy, topicDistances, type SystemFindings, type Topic } from '../../runbooks/causality.js';
import { parseFailureCause } from '../../runbooks/provider-causes.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import type { ActiveAlert } from './planner.js';
import type { QuestionReading } from './question.js';
import { indicatedCauses } from './tools.js';

/** Diagnostics whose findings are history (logs, the last hour's ledger), not the present state. */
export const HISTORY_DIAGNOSTICS = new Set(['quick-diagnostics/recent-errors', 'external-apis/api-metrics']);

const SEVERITY: Record<string, number> = { problem: 1, error: 0.6, warn: 0.4, no_data: 0, ok: 0 };
const OK: Finding = { status: 'ok', summary: '', evidence: {} };

/** One indicated root cause, merged over the runbooks that indicate it. */
export interface IndicatedCause {
  id: string;
  title: string;
  /** Runbooks indicating it, most specific first. */
  runbooks: string[];
  /** Findings whose removal un-indicates it (runbook, diagnostic). */
  support: { runbook: string; diagnostic: string }[];
  /** Still indicated with history findings read as ok. */
  present: boolean;
  /** Worst status among its support (problem 1, warn 0.4). */
  severity: number;
}

const isPointer = (title: string) => /see the [a-z-]+ runbook/.test(title);

function holds(rb: Runbook<RunbookContext>, id: string, f: Record<string, Finding>): boolean {
  return indicatedCauses(rb, f).some((c) => c.id === id);
}

/** Every indicated cause of a whole-system diagnosis, merged by id. */
export function gatherCauses(diagnoses: readonly Diagnosis[]): { causes: Map<string, IndicatedCause>; findings: SystemFindings } {
  const findings: SystemFindings = Object.fromEntries(diagnoses.map((d) => [d.runbook, Object.fromEntries(d.results.map((r) => [r.id, r.finding]))]));
  const causes = new Map<string, IndicatedCause>();
  for (const d of diagnoses) {
    const rb = RUNBOOKS.find((r) => r.id === d.runbook);
    if (!rb) continue;
    const f = findings[d.runbook]!;
    const present = Object.fromEntries(Object.entries(f).map(([id, x]) => [id, HISTORY_DIAGNOSTICS.has(`${d.runbook}/${id}`) ? OK : x]));
    for (const c of d.rootCauses) {
      const support = Object.keys(f)
        .filter((id) => f[id]!.status !== 'ok' && !holds(rb, c.id, { ...f, [id]: OK }))
        .map((id) => ({ runbook: d.runbook, diagnostic: id }));
      const statuses = (support.length ? support.map((s) => f[s.diagnostic]!.status) : Object.values(f).map((x) => x.status)).map((s) => SEVERITY[s] ?? 0);
      const entry: IndicatedCause = { id: c.id, title: c.title, runbooks: [d.runbook], support, present: holds(rb, c.id, present), severity: Math.max(0, ...statuses) };
      const prev = causes.get(c.id);
      if (!prev) causes.set(c.id, entry);
      else {
        const pointer = isPointer(prev.title) && !isPointer(c.title);
        causes.set(c.id, {
          id: c.id,
          title: pointer ? c.title : prev.title,
          runbooks: pointer ? [d.runbook, ...prev.runbooks] : [...prev.runbooks, d.runbook],
          support: [...prev.support, ...support],
          present: prev.present || entry.present,
          severity: Math.max(prev.severity, entry.severity),
        });
      }
    }
  }
  return { causes, findings };
}

/** The explanation of a diagnosis for a question. */
export interface Explanation {
  best: IndicatedCause | undefined;
  /** Indicated causes the best one explains (transitively). */
  effects: IndicatedCause[];
  /** Other roots that also answer the question (relevance > 0), best first. */
  alternatives: IndicatedCause[];
  /** Indicated causes neither the best one nor its effects. */
  unrelated: IndicatedCause[];
  /** Relevance of the best root to the question (0: it does not answer it, or the question was not placed). */
  relevance: number;
  confidence: number;
  /** Why the confidence is what it is (for notes). */
  reasons: string[];
}

/** Transitive closure of the explains relation from `id`. */
function closure(id: string, direct: Map<string, Set<string>>): Set<string> {
  const seen = new Set<string>();
  const stack = [...(direct.get(id) ?? [])];
  while (stack.length) {
    const x = stack.pop()!;
    if (x === id || seen.has(x)) continue;
    seen.add(x);
    stack.push(...(direct.get(x) ?? []));
  }
  return seen;
}

/** Decay per pipeline step between a cause's symptom and the topic asked about. */
export const STEP_DECAY = 0.6;
/** Bonus when the question names a provider the root (or an effect) concerns. */
export const PROVIDER_BONUS = 0.8;

function relevanceOf(id: string, effects: Set<string>, q: QuestionReading, f: SystemFindings): number {
  if (q.unplaced) return 0;
  const dist = new Map<Topic, number>();
  for (const c of [id, ...effects])
    for (const [t, d] of topicDistances(causeTopics(c, f))) if (d < (dist.get(t) ?? Infinity)) dist.set(t, d);
  let r = 0;
  for (const [t, w] of q.topics) {
    const d = dist.get(t);
    if (d !== undefined) r += w * STEP_DECAY ** d;
  }
  const providers = new Set([id, ...effects].flatMap((c) => causeProviders(c, f)));
  if ([...q.providers].some((p) => providers.has(p))) r += PROVIDER_BONUS;
  return r;
}

/** Ranks roots and builds the explanation (see the module comment). */
export function explain(diagnoses: readonly Diagnosis[], q: QuestionReading, alerts: readonly ActiveAlert[] = []): Explanation {
  const { causes, findings } = gatherCauses(diagnoses);
  const ids = new Set(causes.keys());
  const direct = new Map<string, Set<string>>();
  for (const id of ids) {
    const a = causes.get(id)!;
    // the past never explains the present; another failure mode of the same provider seen only in the past is
    // its own (earlier) problem, not an effect of today's
    const fa = parseFailureCause(id);
    const own = (b: string) => {
      const fb = parseFailureCause(b);
      return !(fa && fb && fa.provider === fb.provider && !causes.get(b)!.present);
    };
    direct.set(id, new Set(explainedBy(id, ids, findings).filter((b) => (a.present || !causes.get(b)!.present) && own(b))));
  }
  const all = new Map([...ids].map((id) => [id, closure(id, direct)]));
  // a root: nothing explains it, except causes it explains back (a cycle keeps both)
  const roots = [...ids].filter((id) => ![...ids].some((o) => o !== id && all.get(o)!.has(id) && !all.get(id)!.has(o)));
  const alerted = new Set(alerts.map((a) => a.runbook));
  const rank = roots.map((id) => {
    const c = causes.get(id)!;
    const rel = relevanceOf(id, all.get(id)!, q, findings);
    const specific = (isPointer(c.title) ? 0 : 1) + (parseFailureCause(id) ? 0.5 : 0);
    const alert = c.runbooks.some((r) => alerted.has(r)) ? 1 : 0;
    return { c, rel, key: [rel, c.present ? 1 : 0, alert, c.severity, all.get(id)!.size, specific] };
  });
  rank.sort((x, y) => {
    for (let i = 0; i < x.key.length; i++) if (x.key[i] !== y.key[i]) return y.key[i]! - x.key[i]!;
    return 0;
  });
  const top = rank[0];
  if (!top) return { best: undefined, effects: [], alternatives: [], unrelated: [], relevance: 0, confidence: q.unplaced ? 0.7 : 0.75, reasons: ['nothing indicated'] };
  const effects = [...all.get(top.c.id)!].map((id) => causes.get(id)!);
  const covered = new Set([top.c.id, ...all.get(top.c.id)!]);
  const alternatives = rank.slice(1).filter((r) => r.rel > 0 || q.unplaced).map((r) => r.c);
  const unrelated = [...causes.values()].filter((c) => !covered.has(c.id) && roots.includes(c.id));
  const { confidence, reasons } = calibrate(q, top, rank[1], alerted);
  return { best: top.c, effects, alternatives, unrelated, relevance: top.rel, confidence, reasons };
}

/** The confidence of the best root (0..1): see the module comment; thresholds checked by the eval's calibration table. */
function calibrate(
  q: QuestionReading,
  top: { c: IndicatedCause; rel: number },
  second: { c: IndicatedCause; rel: number } | undefined,
  alerted: Set<string | null>,
): { confidence: number; reasons: string[] } {
  const reasons: string[] = [];
  let s = 0.45;
  if (q.unplaced) {
    reasons.push('question not placed: whole-system picture');
    if (!second) s += 0.2;
    if (top.c.runbooks.some((r) => alerted.has(r))) s += 0.1;
  } else if (top.rel <= 0) {
    reasons.push('no indicated cause explains what was asked');
    s = 0.3;
  } else {
    s += q.exact ? 0.15 : 0.05;
    if (!second || second.rel <= 0) s += 0.15;
    else if (top.rel - second.rel >= 0.5) s += 0.05;
    else reasons.push('another cause answers the question almost as well');
  }
  if (top.c.present && top.c.severity >= 1) s += 0.1;
  if (!top.c.present) {
    s -= 0.15;
    reasons.push('seen only in recent history, not now');
  }
  return { confidence: Math.max(0.05, Math.min(0.95, Math.round(s * 100) / 100)), reasons };
}
