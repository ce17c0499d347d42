/**
 * Named queries over `assistant_answers` (one row per question put to the assistant: a claim while it is answered,
 * then the answer as jsonb with its figures, or a failure; the operator's feedback on it).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** A question being claimed: who asked where; `eventId` (Slack `event_id`) is unique, null when none. */
export interface AnswerClaim {
  eventId: string | null;
  askedAt: Date;
  actor: string;
  source: string;
  channel: string | null;
  threadTs: string | null;
  /** Stored cut to 4000 characters. */
  question: string;
}

/**
 * Inserts a `running` row for a question. Resolves with its id, or undefined when a row with the same `eventId`
 * exists (`on conflict (event_id) do nothing`).
 */
export async function claimAnswerRow(em: EntityManager, c: AnswerClaim): Promise<number | undefined> {
  const rows = await em.execute<{ id: number }[]>(
    `insert into assistant_answers (event_id, asked_at, actor, source, channel, thread_ts, question, status)
     values (?, ?, ?, ?, ?, ?, ?, 'running') on conflict (event_id) do nothing returning id`,
    [c.eventId, c.askedAt, c.actor, c.source, c.channel, c.threadTs, c.question.slice(0, 4000)],
  );
  return rows[0]?.id;
}

/** An answer's stored figures: `answerJson` is the answer as JSON text; cost in USD, duration in ms. */
export interface AnsweredRow {
  mode: string;
  /** `<runbook>/<cause id>`, or null when no cause was named. */
  rootCause: string | null;
  confidence: number;
  answerJson: string;
  toolCalls: number;
  totalTokens: number;
  costUsd: number;
  durationMs: number;
}

/** Sets row `id` `answered` with the answer and its figures. */
export async function markAnswerRowAnswered(em: EntityManager, id: number, a: AnsweredRow): Promise<void> {
  await em.execute(
    `update assistant_answers set status = 'answered', mode = ?, root_cause = ?, confidence = ?, answer = ?::jsonb, tool_calls = ?, total_tokens = ?,
       cost_usd = ?, duration_ms = ? where id = ?`,
    [a.mode, a.rootCause, a.confidence, a.answerJson, a.toolCalls, a.totalTokens, a.costUsd, a.durationMs, id],
  );
}

/** Sets row `id` `failed`, its answer `{ error }` with the reason cut to 500 characters. */
export async function markAnswerRowFailed(em: EntityManager, id: number, reason: string): Promise<void> {
  await em.execute(`update assistant_answers set status = 'failed', answer = ?::jsonb where id = ?`, [JSON.stringify({ error: reason.slice(0, 500) }), id]);
}

/** Records `feedback` by `by` at `at` on row `id` (the latest wins). Resolves false when the row does not exist. */
export async function setAnswerFeedback(em: EntityManager, id: number, feedback: string, by: string, at: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>('update assistant_answers set feedback = ?, feedback_by = ?, feedback_at = ? where id = ? returning id', [feedback, by, at, id]);
  return rows.length > 0;
}

/** One stored answer row; `answer` parsed from jsonb (null while running). */
export interface AnswerRow {
  id: number;
  question: string;
  status: string;
  mode: string | null;
  rootCause: string | null;
  feedback: string | null;
  feedbackBy: string | null;
  answer: Record<string, unknown> | null;
  channel: string | null;
  threadTs: string | null;
}

/** Reads row `id`, or undefined. */
export async function answerRow(em: EntityManager, id: number): Promise<AnswerRow | undefined> {
  const [r] = await em.execute<
    { id: number; question: string; status: string; mode: string | null; root_cause: string | null; feedback: string | null; feedback_by: string | null; answer: unknown; channel: string | null; thread_ts: string | null }[]
  >('select id, question, status, mode, root_cause, feedback, feedback_by, answer, channel, thread_ts from assistant_answers where id = ?', [id]);
  if (!r) return undefined;
  const answer = typeof r.answer === 'string' ? (JSON.parse(r.answer) as Record<string, unknown>) : (r.answer as Record<string, unknown> | null);
  return { id: r.id, question: r.question, status: r.status, mode: r.mode, rootCause: r.root_cause, feedback: r.feedback, feedbackBy: r.feedback_by, answer, channel: r.channel, threadTs: r.thread_ts };
}
