import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** State of an assistant answer: `running` while it investigates, then `answered` or `failed`. */
export const ASSISTANT_ANSWER_STATUSES = ['running', 'answered', 'failed'] as const;
/** Feedback an operator gives under an answer. */
export const ASSISTANT_FEEDBACK = ['correct', 'wrong'] as const;

/**
 * One question to the ops assistant and its answer (bot/assistant): who asked, where (Slack channel and thread),
 * which path answered (offline planner or LLM), the root cause named, the full answer with its recorded tool
 * outputs (`answer`, redacted; what an eval case export replays), tokens and cost, and the operator's feedback.
 * `eventId` (Slack's `event_id`) is unique, so a retried event is answered once.
 */
export const AssistantAnswerRow = defineEntity({
  name: 'AssistantAnswerRow',
  tableName: 'assistant_answers',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    eventId: p.string().nullable().unique(),
    askedAt: p.datetime().columnType('timestamptz').index(),
    actor: p.string(),
    source: p.string(),
    channel: p.string().nullable(),
    threadTs: p.string().nullable(),
    question: p.text(),
    mode: p.string().nullable(),
    status: p.enum([...ASSISTANT_ANSWER_STATUSES]).default('running'),
    /** `<runbook>/<root cause id>`, or null when none was named. */
    rootCause: p.string().nullable(),
    confidence: p.double().nullable(),
    answer: p.json<Record<string, unknown>>().nullable(),
    toolCalls: p.integer().default(0),
    totalTokens: p.integer().default(0),
    costUsd: p.double().default(0),
    durationMs: p.integer().nullable(),
    feedback: p.enum([...ASSISTANT_FEEDBACK]).nullable().index(),
    feedbackBy: p.string().nullable(),
    feedbackAt: p.datetime().columnType('timestamptz').nullable(),
  }),
});
/** Inferred entity type of {@link AssistantAnswerRow}. */
export type IAssistantAnswerRow = InferEntity<typeof AssistantAnswerRow>;
