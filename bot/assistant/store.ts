/**
 * Storage of assistant answers (table `assistant_answers`): a claim per Slack event (a retried event is answered
 * once), the answer with its recorded tool outputs, the operator's feedback, and the export of a wrong answer as
 * an eval case (its recorded tool outputs replay in bot/assistant/eval without the fault that caused them).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Finding } from '../../runbooks/define.js';
import { parseToolName, type RecordedOutput } from './tools.js';
import type { AssistantAnswer } from './answer.js';
import { answerRow, claimAnswerRow, markAnswerRowAnswered } from '../../domain/queries/assistant-answers.js';

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
  return claimAnswerRow(em, { eventId: meta.eventId ?? null, askedAt: now, actor: meta.actor, source: meta.source, channel: meta.channel ?? null, threadTs: meta.threadTs ?? null, question });
}

/** Stores `answer` on row `id` (from {@link claimQuestion}), or in a new row; resolves with the row id. */
export async function saveAnswer(em: EntityManager, answer: AssistantAnswer, meta: AskMeta, id?: number): Promise<number> {
  const rowId = id ?? (await claimQuestion(em, answer.question, { ...meta, eventId: undefined }, answer.issuedAt))!;
  const { id: _id, ...rest } = answer;
  await markAnswerRowAnswered(em, rowId, {
    mode: answer.mode,
    rootCause: answer.rootCause ? `${answer.rootCause.runbook}/${answer.rootCause.id}` : null,
    confidence: answer.confidence.score,
    answerJson: JSON.stringify({ ...rest, issuedAt: answer.issuedAt.toISOString() }),
    toolCalls: answer.toolCalls.length,
    totalTokens: answer.usage?.totalTokens ?? 0,
    costUsd: answer.usage?.costUsd ?? 0,
    durationMs: answer.durationMs,
  });
  return rowId;
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
  const row = await answerRow(em, id);
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
