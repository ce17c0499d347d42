/**
 * The App Home tab: on `app_home_opened` (tab `home`) publishes live status with `views.publish` — pipeline
 * who is on call now and next (primary, secondary), status, jobs with next/last run, and the breakers that are not closed (scope needed: none beyond the bot token;
 * the event subscription `app_home_opened`).
 */
import type { AllMiddlewareArgs, SlackEventMiddlewareArgs, types } from '@slack/bolt';
import type { Logger } from '../../../domain/logger.js';
import { getPipelineStatus } from '../../../domain/status.js';
import type { RunbookContext } from '../../../runbooks/context.js';
import { renderSlack } from '../../blocks/results.js';
import { statusBlocks } from '../../blocks/status.js';
import { renderOncallSlack } from '../../commands/oncall-commands.js';
import { nextOnCall, onCallAt } from '../../../domain/oncall/schedule.js';

/** Slack's limit on blocks in a Home tab view. */
export const HOME_MAX_BLOCKS = 100;

/** The Home tab blocks (status, then jobs), at most 100. */
export async function homeBlocks(ctx: RunbookContext): Promise<types.KnownBlock[]> {
  const status = statusBlocks(await getPipelineStatus(ctx.em(), { clock: ctx.services.clock }));
  const jobs = renderSlack({ kind: 'jobs', jobs: await ctx.jobs.list() }, undefined).message;
  const at = ctx.services.clock.now();
  const oncall = renderOncallSlack({ kind: 'oncall_now', at, now: await onCallAt(ctx.em(), at), next: await nextOnCall(ctx.em(), at), view: 'now' }).message;
  const footer: types.KnownBlock = {
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `Updated ${ctx.services.clock.now().toISOString().slice(0, 16).replace('T', ' ')} UTC · \`/lf help\` for commands` }],
  };
  const divider: types.KnownBlock = { type: 'divider' };
  return [...oncall.blocks, divider, ...status.blocks, divider, ...jobs.blocks, footer].slice(0, HOME_MAX_BLOCKS);
}

/** Builds the `app_home_opened` listener. */
export function appHomeOpened(deps: { ctx: RunbookContext; logger: Logger }) {
  return async ({ event, client }: SlackEventMiddlewareArgs<'app_home_opened'> & AllMiddlewareArgs): Promise<void> => {
    if (event.tab !== 'home') return;
    try {
      await client.views.publish({ user_id: event.user, view: { type: 'home', blocks: await homeBlocks(deps.ctx) } });
    } catch (err) {
      deps.logger.error({ user: event.user, err }, 'app home publish failed');
    }
  };
}
