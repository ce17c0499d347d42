/**
 * The ops assistant in Slack: an @mention of the bot (`app_mention`) or a direct message (`message.im`) is answered
 * in a thread, through the Slack outbox like every post (route `answers`). A progress message is posted first and
 * updated in place as diagnostics run ("ran 3 diagnostics…"), then replaced by the answer (root cause, findings, remediation buttons, confidence, footer, Correct / Wrong buttons).
 *
 * - Bot messages, edits and other subtypes are ignored; a retried event (same `event_id`, e.g. Slack's retry after
 *   a slow ack) is answered once: the answer row is claimed on the event id in the database (replica-safe).
 * - Remediation buttons are the runbooks' own (`remediate:…`): the existing listener checks role, claims, audits.
 * - Feedback buttons `assistant:feedback:correct|wrong` store the verdict on the answer (who, when); a wrong answer
 *   can then be exported as an eval case (bot/assistant/store.ts `exportEvalCase`).
 *
 * Register with `registerAssistant(app, { ctx, roles, logger, outbox })` (scopes: `app_mentions:read`, `im:history`,
 * `chat:write`; events: `app_mention`, `message.im`).
 */
import type { App } from '@slack/bolt';
import type { Logger } from '../../../domain/logger.js';
import type { RunbookContext } from '../../../runbooks/context.js';
import { ask, type AskOptions } from '../../assistant/index.js';
import { answerBlocks, FEEDBACK_ACTION_CORRECT, FEEDBACK_ACTION_WRONG } from '../../assistant/answer.js';
import { claimQuestion } from '../../assistant/store.js';
import { markAnswerRowFailed, setAnswerFeedback } from '../../../domain/queries/assistant-answers.js';
import type { RoleResolver } from '../../roles.js';
import { slackActor } from '../commands/lf.js';
import type { SlackOutbox } from '../../../alerts/slack-outbox.js';

/** What the assistant listeners need. */
export interface AssistantDeps {
  ctx: RunbookContext;
  roles: RoleResolver;
  logger: Logger;
  /** Path choice (default `auto`: the LLM when OPENAI_API_KEY is set). */
  mode?: AskOptions['mode'];
  /** Minimum time between progress updates (ms), default 1000. */
  progressEveryMs?: number;
  /** Overrides for the LLM loop (tests). */
  llm?: AskOptions['llm'];
  /** Where the answers go: the Slack outbox (alerts/slack-outbox.ts), like every channel post. */
  outbox: SlackOutbox;
}

/** A question event, normalised from `app_mention` or `message.im`. */
export interface QuestionEvent {
  eventId: string | undefined;
  user: string | undefined;
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  botId?: string;
  subtype?: string;
}

/** The question without the bot mention(s). */
export function stripMentions(text: string): string {
  return text.replace(/<@[A-Z0-9]+(\|[^>]*)?>/g, '').replace(/\s+/g, ' ').trim();
}

/** The outbox entries of one conversation's answer: routed as `answers`, in the asker's thread. */
function answerPosts(outbox: SlackOutbox, ev: QuestionEvent, thread: string) {
  const base = { route: 'answers' as const, channel: ev.channel, threadTs: thread };
  return {
    /** A plain reply in the thread (a hint, a refusal). */
    reply: (key: string, text: string) => outbox.enqueue({ ...base, dedupKey: `answer:${ev.channel}:${ev.ts}:${key}`, kind: 'reply', text }),
    /** The progress message (`answer:<row>`), edited in place as diagnostics run and finally by the answer. */
    progress: (row: number, text: string) => outbox.enqueue({ ...base, dedupKey: `answer:${row}:post`, kind: 'post', ref: `answer:${row}`, text }),
    edit: (row: number, key: string, msg: { text: string; blocks?: unknown[] }) =>
      outbox.enqueue({ ...base, dedupKey: `answer:${row}:${key}`, kind: 'update', ref: `answer:${row}`, text: msg.text, ...(msg.blocks ? { blocks: msg.blocks } : {}) }),
  };
}

/**
 * Answers one question event (both event kinds end here). Every message goes through the Slack outbox (route
 * `answers`, in the question's thread): a progress message, edited in place as diagnostics run, then edited into
 * the answer. Resolves once the answer is enqueued, or at once for an ignored event (a bot's message, a subtype,
 * no text, a retry already claimed). Never throws.
 */
export async function handleQuestion(deps: AssistantDeps, outbox: SlackOutbox, ev: QuestionEvent): Promise<'answered' | 'ignored' | 'duplicate' | 'refused' | 'failed'> {
  if (ev.botId || ev.subtype || !ev.user) return 'ignored';
  const question = stripMentions(ev.text);
  const thread = ev.threadTs ?? ev.ts;
  const log = { user: ev.user, channel: ev.channel, event: ev.eventId };
  const posts = answerPosts(outbox, ev, thread);
  try {
    const actor = await slackActor(deps.roles, ev.user);
    if (!question) {
      await posts.reply('hint', 'Ask me what is wrong, e.g. "why did no emails go out today?"');
      return 'ignored';
    }
    if (!actor.role) {
      await posts.reply('refused', `:no_entry: <@${ev.user}> has no LeadFactory role; ask an admin for access.`);
      return 'refused';
    }
    const rowId = await claimQuestion(deps.ctx.em(), question, { actor: actor.id, source: 'slack', channel: ev.channel, threadTs: thread, eventId: ev.eventId }, deps.ctx.services.clock.now());
    if (rowId === undefined) {
      deps.logger.info(log, 'assistant: event already answered (retry)');
      return 'duplicate';
    }
    await posts.progress(rowId, ':mag: Looking into it…');
    let ran = 0;
    let last = 0;
    let edits = 0;
    let chain: Promise<unknown> = Promise.resolve();
    const every = deps.progressEveryMs ?? 1000;
    const update = (text: string) => {
      const key = `progress:${++edits}`;
      chain = chain.then(() => posts.edit(rowId, key, { text }).catch((err: unknown) => deps.logger.warn({ ...log, err }, 'assistant progress update could not be queued')));
    };
    const progress = {
      start: (_total: number, label: string) => update(`:mag: Looking into it… checking ${label}`),
      tick: () => {
        ran++;
        if (Date.now() - last >= every) {
          last = Date.now();
          update(`:mag: Looking into it… ran ${ran} diagnostic${ran === 1 ? '' : 's'}…`);
        }
      },
      stop: () => undefined,
    };
    try {
      const answer = await ask(deps.ctx, question, { ...actor, source: 'slack' }, { progress, mode: deps.mode, rowId, llm: deps.llm, meta: { channel: ev.channel, threadTs: thread } });
      await chain;
      await posts.edit(rowId, 'answer', answerBlocks(answer));
      deps.logger.info({ ...log, answer: answer.id, rootCause: answer.rootCause?.id ?? null, mode: answer.mode, ms: answer.durationMs }, 'assistant answered');
      return 'answered';
    } catch (err) {
      await chain;
      const reason = (err as Error)?.message ?? String(err);
      await markAnswerRowFailed(deps.ctx.em(), rowId, reason).catch(() => undefined);
      await posts.edit(rowId, 'answer', { text: `:x: I could not answer that: ${reason.slice(0, 300)}` });
      deps.logger.error({ ...log, err }, 'assistant failed');
      return 'failed';
    }
  } catch (err) {
    deps.logger.error({ ...log, err }, 'assistant listener failed');
    return 'failed';
  }
}

/**
 * Records a feedback click. Resolves with the line to show the clicker (ephemeral).
 */
export async function handleFeedback(deps: AssistantDeps, userId: string, actionId: string, value: string | undefined): Promise<string> {
  const verdict = actionId === FEEDBACK_ACTION_CORRECT ? 'correct' : actionId === FEEDBACK_ACTION_WRONG ? 'wrong' : undefined;
  const id = Number(value);
  if (!verdict || !Number.isInteger(id) || id <= 0) return ':warning: This feedback button is not readable.';
  const actor = await slackActor(deps.roles, userId);
  if (!actor.role) return ':no_entry: You have no LeadFactory role.';
  const ok = await setAnswerFeedback(deps.ctx.em(), id, verdict, actor.id, deps.ctx.services.clock.now());
  if (!ok) return `:warning: Answer #${id} no longer exists.`;
  return verdict === 'correct'
    ? `:white_check_mark: Thanks — answer #${id} recorded as correct.`
    : `:memo: Thanks — answer #${id} recorded as wrong. It can be exported with its recorded tool outputs as an eval case (exportEvalCase(em, ${id})).`;
}

/** Registers the `app_mention` and `message` (DM) listeners and the feedback buttons on `app`. */
export function registerAssistant(app: App, deps: AssistantDeps): void {
  app.event('app_mention', async ({ event, body }) => {
    const e = event;
    void handleQuestion(deps, deps.outbox, {
      eventId: (body as { event_id?: string }).event_id,
      user: e.user,
      channel: e.channel,
      ts: e.ts,
      threadTs: e.thread_ts,
      text: e.text ?? '',
      botId: e.bot_id,
      subtype: e.subtype,
    });
  });
  app.event('message', async ({ event, body }) => {
    // a direct message to the bot: a plain user message (no subtype) in an `im` channel (Bolt's GenericMessageEvent)
    if (event.channel_type !== 'im' || event.subtype !== undefined) return;
    const e = event;
    void handleQuestion(deps, deps.outbox, {
      eventId: (body as { event_id?: string }).event_id,
      user: e.user,
      channel: e.channel,
      ts: e.ts,
      threadTs: e.thread_ts,
      text: e.text ?? '',
      botId: e.bot_id,
      subtype: e.subtype,
    });
  });
  app.action(/^assistant:feedback:(correct|wrong)$/, async ({ ack, body, action, respond }) => {
    await ack();
    const a = action as { action_id: string; value?: string };
    try {
      const text = await handleFeedback(deps, body.user.id, a.action_id, a.value);
      await respond({ response_type: 'ephemeral', replace_original: false, text });
    } catch (err) {
      deps.logger.error({ err, user: body.user.id }, 'assistant feedback failed');
    }
  });
}
