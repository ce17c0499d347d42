/**
 * Storage of assistant answers (table `assistant_answers`): a claim per Slack event (a retried event is answered
 * once), the answer with its recorded tool outputs, the operator's feedback, and the export of a wrong answer as
 * an eval case (its recorded tool outputs replay in bot/assistant/eval without the fault that caused them).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Finding } from '../../runbooks/define.js';
import { parseToolName, type RecordedOutput } from './tools.js';
import type { AssistantAnswer } from './answer.js';

/** Where and by whom a question was asked. */
export interface AskMeta {
  actor: string;
  source: string;
  channel?: string;
  threadTs?: string;
  /** Slack `event_id`: unique, for deduplicating retries. */
  eventId?: string;
}

/**
 * Claims a row for a question before answering it. Resolves with the row id, or undefined when a row with the same
 * `eventId` exists (a retry of an event already being answered).
 */
export async function claimQuestion(em: EntityManager, question: string, meta: AskMeta, now: Date): Promise<number | undefined> {
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `insert into assistant_answers (event_id, asked_at, actor, source, channel, thread_ts, question, status)
     values (?, ?, ?, ?, ?, ?, ?, 'running') on conflict (event_id) do nothing returning id`,
    [meta.eventId ?? null, now, meta.actor, meta.source, meta.channel ?? null, meta.threadTs ?? null, question.slice(0, 4000)],
  );
  return rows[0]?.id;
}

/** Stores `answer` on row `id` (from {@link claimQuestion}), or in a new row; resolves with the row id. */
export async function saveAnswer(em: EntityManager, answer: AssistantAnswer, meta: AskMeta, id?: number): Promise<number> {
  const rowId = id ?? (await claimQuestion(em, answer.question, { ...meta, eventId: undefined }, answer.issuedAt))!;
  const { id: _id, ...rest } = answer;
  const json = JSON.stringify({ ...rest, issuedAt: answer.issuedAt.toISOString() });
  await em.getConnection().execute(
    `update assistant_answers set status = 'answered', mode = ?, root_cause = ?, confidence = ?, answer = ?::jsonb, tool_calls = ?, total_tokens = ?,
       cost_usd = ?, duration_ms = ? where id = ?`,
    [
      answer.mode,
      answer.rootCause ? `${answer.rootCause.runbook}/${answer.rootCause.id}` : null,
      answer.confidence.score,
      json,
      answer.toolCalls.length,
      answer.usage?.totalTokens ?? 0,
      answer.usage?.costUsd ?? 0,
      answer.durationMs,
      rowId,
    ],
  );
  return rowId;
}

/** Marks row `id` failed with a one-line reason. */
export async function markFailed(em: EntityManager, id: number, reason: string): Promise<void> {
  await em.getConnection().execute(`update assistant_answers set status = 'failed', answer = ?::jsonb where id = ?`, [JSON.stringify({ error: reason.slice(0, 500) }), id]);
}

/** Records feedback on an answer. Resolves false when the answer does not exist. The latest feedback wins. */
export async function recordFeedback(em: EntityManager, id: number, feedback: 'correct' | 'wrong', by: string, now: Date): Promise<boolean> {
  const rows = await em
    .getConnection()
    .execute<{ id: number }[]>('update assistant_answers set feedback = ?, feedback_by = ?, feedback_at = ? where id = ? returning id', [feedback, by, now, id]);
  return rows.length > 0;
}

/** A stored answer row. */
export interface StoredAnswer {
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

/** Reads one answer row, or undefined. */
export async function getAnswer(em: EntityManager, id: number): Promise<StoredAnswer | undefined> {
  const [r] = await em.getConnection().execute<
    { id: number; question: string; status: string; mode: string | null; root_cause: string | null; feedback: string | null; feedback_by: string | null; answer: unknown; channel: string | null; thread_ts: string | null }[]
  >('select id, question, status, mode, root_cause, feedback, feedback_by, answer, channel, thread_ts from assistant_answers where id = ?', [id]);
  if (!r) return undefined;
  const answer = typeof r.answer === 'string' ? (JSON.parse(r.answer) as Record<string, unknown>) : (r.answer as Record<string, unknown> | null);
  return { id: r.id, question: r.question, status: r.status, mode: r.mode, rootCause: r.root_cause, feedback: r.feedback, feedbackBy: r.feedback_by, answer, channel: r.channel, threadTs: r.thread_ts };
}

/**
 * An eval case exported from a stored answer: the question, what the assistant said, and the recorded tool outputs
 * to replay. `expected` is the right root-cause id, to be filled in by whoever labels the case (null until then;
 * unlabelled cases are listed by the eval but not scored).
 */
export interface ExportedEvalCase {
  name: string;
  question: string;
  expected: string | null;
  answeredRootCause: string | null;
  feedback: string | null;
  recorded: RecordedOutput[];
  exportedFrom: { answerId: number; mode: string | null };
}

/**
 * Exports answer `id` as an eval case (typically one marked wrong). Recorded outputs are the diagnostics' findings
 * as the assistant saw them (redacted when recorded).
 * @throws Error when the answer does not exist or has no recorded answer.
 */
export async function exportEvalCase(em: EntityManager, id: number, expected: string | null = null): Promise<ExportedEvalCase> {
  const row = await getAnswer(em, id);
  if (!row?.answer || !Array.isArray(row.answer.toolCalls)) throw new Error(`assistant answer #${id} not found or not answered`);
  const recorded: RecordedOutput[] = [];
  for (const call of row.answer.toolCalls as { name: string; output: Record<string, unknown> }[]) {
    const t = parseToolName(call.name);
    const o = call.output ?? {};
    if (!t || typeof o.status !== 'string') continue;
    const finding: Finding = { status: o.status as Finding['status'], summary: String(o.summary ?? ''), ...(o.evidence && typeof o.evidence === 'object' ? { evidence: o.evidence as Record<string, unknown> } : {}) };
    recorded.push({ runbook: t.runbook.id, diagnostic: t.diagnostic, title: String(o.title ?? t.diagnostic), finding });
  }
  return {
    name: `answer-${id}`,
    question: row.question,
    expected,
    answeredRootCause: row.rootCause,
    feedback: row.feedback,
    recorded,
    exportedFrom: { answerId: id, mode: row.mode },
  };
}
