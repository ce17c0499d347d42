/**
 * The `/lf` slash command. Slack wants the HTTP answer within 3 s, so the listener acks first (empty body, no
 * await before it) and answers afterwards through `respond()` (the command's response_url, valid 30 min):
 * ephemeral for lookups, in the channel for actions and diagnoses (bot/commands/spec.ts). Unknown subcommands get
 * help; failures get the error code and a sentence, never a stack trace. Output too long for one message (50
 * blocks) is also uploaded as a text file when a bot token is configured (through the Slack outbox, like every
 * channel post). `/lf breakers` also posts the live breaker card message in the channel through the outbox
 * (alerts/breaker-cards.ts), edited in place as breakers change; the asker gets a read-only copy at once.
 */
import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import pLimit from 'p-limit';
import type { Logger } from '../../../domain/logger.js';
import type { Metrics } from '../../../alerts/metrics.js';
import { type AppError, classifyError, type ErrorCode } from '../../../domain/errors.js';
import type { RunbookContext } from '../../../runbooks/context.js';
import type { Actor } from '../../../runbooks/actions.js';
import { executeLf } from '../../commands/execute.js';
import { parseLf } from '../../commands/spec.js';
import { renderSlack } from '../../blocks/results.js';
import type { SlackMessage } from '../../blocks/status.js';
import type { RoleResolver } from '../../roles.js';
import type { SlackOutbox } from '../../../alerts/slack-outbox.js';
import { postBreakerCards } from '../../../alerts/breaker-cards.js';

/** What the `/lf` listener needs. */
export interface LfCommandDeps {
  ctx: RunbookContext;
  roles: RoleResolver;
  metrics: Metrics;
  logger: Logger;
  /** Buttons older than this are refused as stale (ms). */
  staleAfterMs: number;
  /**
   * How many commands of one lane do their work (after the ack) at once; the rest wait their turn, so a burst of
   * commands is acked at once instead of each ack queueing behind the others' database reads and Block Kit
   * building (bench/slack.ts measured it). Two lanes, so slow runbook diagnoses never hold up quick lookups.
   * Default 2.
   */
  workConcurrency?: number;
  /** The one way to post to channels (alerts/slack-outbox.ts): overflow files, assistant answers. */
  outbox: SlackOutbox;
  /** Whether overflow text is also uploaded as a file (through the outbox); true with a bot token. */
  uploads?: boolean;
}

const SENTENCES: Partial<Record<ErrorCode, string>> = {
  db_unavailable: 'The database is not reachable right now; try again in a minute.',
  db_locked: 'The embedded database is held by another process.',
  internal: 'Something went wrong while answering; the details are in the service log.',
};

/** Error → the ephemeral answer: the code in backticks and a human sentence (never a stack trace). */
export function errorMessage(err: AppError): SlackMessage {
  const sentence = SENTENCES[err.code] ?? err.message;
  const text = `:warning: \`${err.code}\` ${sentence}`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}


/** The Slack actor for a user id, with the resolved role. */
export async function slackActor(roles: RoleResolver, userId: string): Promise<Actor> {
  return { id: `slack:${userId}`, role: await roles.roleOf(userId), source: 'slack', display: `<@${userId}>` };
}

/**
 * Builds the `/lf` listener. Counts each command in `leadfactory_slack_commands_total{subcommand}` (unknown words
 * count as `unknown`, keeping labels bounded).
 */
export function lfCommand(deps: LfCommandDeps) {
  const quick = pLimit(deps.workConcurrency ?? 2);
  const slow = pLimit(deps.workConcurrency ?? 2);
  return async (args: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    await args.ack(); // first, with nothing awaited before it: Slack gives up after 3 s
    const cmd = parseLf(args.command.text).command;
    const lane = cmd?.view || ['diagnose', 'run', 'fix', 'ask'].includes(cmd?.name ?? '') ? slow : quick;
    await lane(() => answerCommand(deps, args));
  };
}

/** The work after the ack: execute, render, answer through response_url, upload overflow. Never throws. */
async function answerCommand(deps: LfCommandDeps, { command, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> {
  {
    const parsed = parseLf(command.text);
    const subcommand = parsed.command?.name ?? 'unknown';
    const started = Date.now();
    const ids = { subcommand, user: command.user_id, channel: command.channel_id, team: command.team_id };
    try {
      deps.metrics.slackCommands.inc({ subcommand });
    } catch {
      /* a metrics mistake must not cost the user an answer */
    }
    let message: SlackMessage;
    let responseType: 'ephemeral' | 'in_channel' = 'ephemeral';
    try {
      const actor = await slackActor(deps.roles, command.user_id);
      const result = await executeLf(deps.ctx, parsed, actor, { staleAfterMs: deps.staleAfterMs });
      ({ message, responseType } = renderSlack(result, parsed.command));
      if (result.kind === 'breakers') {
        // the live card message goes to the channel through the outbox (edited in place as breakers change); the
        // asker also gets a read-only copy at once, which stays useful where the bot cannot post
        const s = deps.ctx.services;
        await postBreakerCards(deps.ctx.em(), { breaker: s.gateway.breaker, config: s.config, now: result.asOf, cards: result.cards, enqueue: (m) => deps.outbox.enqueue(m) }, command.channel_id, command.trigger_id ?? String(started));
      }
    } catch (err) {
      const appErr = classifyError(err);
      if (appErr.code === 'bad_request') deps.logger.info({ ...ids, reason: appErr.message }, 'slash command /lf refused');
      else deps.logger.error({ ...ids, code: appErr.code, err }, 'slash command /lf failed');
      message = errorMessage(appErr);
    }
    try {
      await respond({ response_type: responseType, replace_original: false, text: message.text, blocks: message.blocks });
      deps.logger.info({ ...ids, ms: Date.now() - started }, 'slash command /lf answered');
    } catch (err) {
      deps.logger.error({ ...ids, err }, 'slash command /lf: response_url post failed');
    }
    if (message.overflowText && deps.uploads) {
      const filename = `lf-${subcommand}.txt`;
      const file = { dedupKey: `lf-file:${command.channel_id}:${command.trigger_id ?? started}`, kind: 'file' as const, route: 'answers' as const, channel: command.channel_id };
      await deps.outbox.enqueue({ ...file, text: message.overflowText, body: { type: 'file', filename, title: filename } }).catch((err: unknown) => {
        deps.logger.warn({ ...ids, err: (err as Error).message }, 'overflow upload could not be queued');
      });
    }
  }
}
