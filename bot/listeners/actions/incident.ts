/**
 * Incident buttons on the incident message (alerts/incident/render.ts `incidentMessage`): `action_id`
 * `incident:ack|resolve|escalate`, `value` the incident id, `block_id` `incident:<id>:L<level>`.
 *
 * Ack first (nothing awaited before it). Then the operator role check (bot/roles.ts via slackActor); a refusal is
 * recorded on the incident (timeline) and in the audit log, and only the clicker is told (ephemeral). The state
 * transition itself is the claim (`update … where status = 'open' returning`, or `where level = <shown level>` for
 * Escalate), so double clicks and two people change it once; the loser is told who acted (ephemeral). The message
 * is updated in place through the Slack outbox (an `update` of ref `incident:<id>` plus a thread reply), not
 * through response_url, so it stays correct whoever changed it, from Slack or the CLI.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { acknowledgeIncident, escalateIncident, recordRefusedAction, resolveIncident, type IncidentActionOutcome } from '../../../alerts/incidents.js';
import type { Logger } from '../../../domain/logger.js';
import type { RunbookContext } from '../../../runbooks/context.js';
import { roleAtLeast } from '../../../runbooks/define.js';
import type { RoleResolver } from '../../roles.js';
import { slackActor } from '../commands/lf.js';

/** What the incident button listener needs. */
export interface IncidentActionDeps {
  ctx: RunbookContext;
  roles: RoleResolver;
  logger: Logger;
}

/** Parsed button: the action, the incident id, and the level the message showed (from `block_id`). */
export function parseIncidentButton(actionId: string, value: string | undefined, blockId: string | undefined): { action: 'ack' | 'resolve' | 'escalate'; id: number; shownLevel?: number } | undefined {
  const a = /^incident:(ack|resolve|escalate)$/.exec(actionId);
  const v = /^\d{1,9}$/.exec(value ?? '');
  if (!a || !v) return undefined;
  const b = /^incident:(\d+):L([1-4])$/.exec(blockId ?? '');
  return { action: a[1] as 'ack' | 'resolve' | 'escalate', id: Number(v[0]), ...(b && Number(b[1]) === Number(v[0]) ? { shownLevel: Number(b[2]) } : {}) };
}

/** Builds the listener for `app.action(/^incident:/, …)`. */
export function incidentAction(deps: IncidentActionDeps) {
  return async ({ ack, body, action, respond }: SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs): Promise<void> => {
    await ack();
    const userId = body.user.id;
    const log = { user: userId, action: action.action_id, value: action.value, channel: body.channel?.id };
    const tell = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) => deps.logger.warn({ ...log, err: (err as Error).message }, 'incident button: ephemeral answer failed'));
    const parsed = parseIncidentButton(action.action_id, action.value, action.block_id);
    if (!parsed) {
      deps.logger.warn(log, 'incident button with an unreadable value');
      await tell(':warning: This button is not readable; use `/lf incident <ack|resolve|escalate> <id>`.');
      return;
    }
    const { ctx } = deps;
    const em = ctx.em();
    const now = ctx.services.clock.now();
    const config = ctx.services.config;
    let outcome: IncidentActionOutcome;
    try {
      const actor = await slackActor(deps.roles, userId);
      if (!roleAtLeast(actor.role, 'operator')) {
        outcome = await recordRefusedAction(em, parsed.id, actor, parsed.action, `${parsed.action} needs the operator role; ${actor.display} has ${actor.role ?? 'no role'}`, now, { via: 'button' });
      } else if (parsed.action === 'ack') outcome = await acknowledgeIncident(em, parsed.id, actor, now, config, { via: 'button' });
      else if (parsed.action === 'resolve') outcome = await resolveIncident(em, parsed.id, actor, now, config, { via: 'button' });
      else outcome = await escalateIncident(em, parsed.id, actor, now, config, { via: 'button', ...(parsed.shownLevel ? { fromLevel: parsed.shownLevel } : {}) });
    } catch (err) {
      const notFound = (err as { code?: string }).code === 'not_found';
      deps.logger[notFound ? 'warn' : 'error']({ ...log, err: (err as Error).message }, 'incident button failed');
      await tell(notFound ? `:warning: \`not_found\` ${(err as Error).message}` : ':warning: `internal` The action could not be recorded; try again in a minute.');
      return;
    }
    deps.logger.info({ ...log, incident: parsed.id, outcome: outcome.status }, 'incident button handled');
    if (outcome.status !== 'done') await tell(`${outcome.status === 'refused' ? ':no_entry:' : ':information_source:'} ${outcome.detail}`);
  };
}
