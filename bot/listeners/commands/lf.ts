/**
 * The `/lf` slash command. Slack wants the HTTP answer within 3 s, so the listener acks first (empty body, no
 * await before it) and answers afterwards through `respond()` (the command's response_url, valid 30 min),
 * ephemerally. Subcommands: `help` (also for empty or unknown text) and `status`.
 */
import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../../../domain/logger.js';
import type { Metrics } from '../../../alerts/metrics.js';
import { AppError, toAppError, type ErrorCode } from '../../../domain/errors.js';
import { getPipelineStatus } from '../../../domain/status.js';
import { helpBlocks, LF_SUBCOMMANDS } from '../../blocks/help.js';
import { statusBlocks, type SlackMessage } from '../../blocks/status.js';

/** What the `/lf` listener needs: the ORM (forked per request), metrics and a logger. */
export interface LfCommandDeps {
  orm: MikroORM;
  metrics: Metrics;
  logger: Logger;
}

/** The parsed subcommand; `unknown` keeps metric labels bounded whatever the user types. */
export type LfSubcommand = 'help' | 'status' | 'unknown';

/** Splits `/lf` text into the subcommand (lower-cased first word) and the rest. Empty text means `help`. */
export function parseLfText(text: string | undefined): { subcommand: LfSubcommand; word: string; args: string[] } {
  const [first = '', ...args] = (text ?? '').trim().split(/\s+/).filter(Boolean);
  const word = first.toLowerCase();
  if (word === '') return { subcommand: 'help', word, args };
  const known = LF_SUBCOMMANDS.some((s) => s.name === word);
  return { subcommand: known ? (word as LfSubcommand) : 'unknown', word: first, args };
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

function classify(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { name?: string; code?: string } | undefined;
  // MikroORM's ConnectionException, or pg's socket errors, mean the database is away, not a bug here
  if (e?.name === 'ConnectionException' || e?.code === 'ECONNREFUSED' || e?.code === 'ECONNRESET') {
    return new AppError('db_unavailable', 'database unreachable', { cause: err, retryable: true });
  }
  return toAppError(err);
}

async function answer(sub: LfSubcommand, word: string, deps: LfCommandDeps): Promise<SlackMessage> {
  switch (sub) {
    case 'status': {
      const em = deps.orm.em.fork(); // one fork per request: the global EM is refused (allowGlobalContext false)
      return statusBlocks(await getPipelineStatus(em));
    }
    case 'help':
      return helpBlocks();
    default:
      return helpBlocks({ unknown: word });
  }
}

/**
 * Builds the `/lf` listener. Counts each command in `leadfactory_slack_commands_total{subcommand}`; failures
 * answer with the error code and a sentence, ephemerally, and are logged with the user and channel ids.
 */
export function lfCommand(deps: LfCommandDeps) {
  return async ({ command, ack, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    await ack(); // first, with nothing awaited before it: Slack gives up after 3 s
    const { subcommand, word } = parseLfText(command.text);
    const started = Date.now();
    const ids = { subcommand, user: command.user_id, channel: command.channel_id, team: command.team_id };
    try {
      deps.metrics.slackCommands.inc({ subcommand });
    } catch {
      /* a metrics mistake must not cost the user an answer */
    }
    let message: SlackMessage;
    try {
      message = await answer(subcommand, word, deps);
    } catch (err) {
      const appErr = classify(err);
      deps.logger.error({ ...ids, code: appErr.code, err }, 'slash command /lf failed');
      message = errorMessage(appErr);
    }
    try {
      await respond({ response_type: 'ephemeral', replace_original: false, text: message.text, blocks: message.blocks });
      deps.logger.info({ ...ids, ms: Date.now() - started }, 'slash command /lf answered');
    } catch (err) {
      deps.logger.error({ ...ids, err }, 'slash command /lf: response_url post failed');
    }
  };
}
