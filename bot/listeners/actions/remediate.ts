/**
 * Remediation buttons (`action_id` = `remediate:<runbook>/<remediation>`, value = {@link RemediationButtonValue}).
 * Ack first; then runbooks/actions.ts executeRemediation does the role check, stale check, the claim in the
 * database (double clicks and two people run it once) and the audit row. Then:
 * - succeeded / failed: the original message is updated in place (the clicked button's row becomes the outcome
 *   naming who acted), and the re-check result (fixed / not fixed) is posted below it;
 * - refused (role, stale, bad input) or duplicate: only the clicker is told, ephemerally; the message is kept;
 * - a breaker card's button (nonce `card:…`, bot/render/breaker-cards.ts): the outcome is posted below the card,
 *   which is left whole (the breaker's state change edits it in place through the outbox).
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs, types } from '@slack/bolt';
import type { Logger } from '../../../domain/logger.js';
import type { RunbookContext } from '../../../runbooks/context.js';
import { audit, executeRemediation, findRemediation, type RemediationOutcome } from '../../../runbooks/actions.js';
import { RUNBOOKS } from '../../../runbooks/index.js';
import { outcomeLine, recheckBlocks, type RemediationButtonValue } from '../../render/diagnosis-blocks.js';
import type { RoleResolver } from '../../roles.js';
import { slackActor } from '../commands/lf.js';
import { cardRefOfNonce } from '../../render/breaker-cards.js';

/** What the button listener needs. */
export interface RemediateDeps {
  ctx: RunbookContext;
  roles: RoleResolver;
  logger: Logger;
  staleAfterMs: number;
}

/** Parses a button value; undefined when it is not ours. */
export function parseButtonValue(value: string | undefined): RemediationButtonValue | undefined {
  try {
    const v = JSON.parse(value ?? '') as RemediationButtonValue;
    const input = v.i ?? {};
    const plainObject = typeof input === 'object' && input !== null && !Array.isArray(input);
    if (typeof v.r === 'string' && typeof v.m === 'string' && typeof v.n === 'string' && typeof v.t === 'number' && plainObject) return { ...v, i: input };
  } catch {
    /* not JSON */
  }
  return undefined;
}

/** The message's blocks with the clicked action row replaced by the outcome line. */
export function replaceActionRow(blocks: types.KnownBlock[] | undefined, blockId: string, line: string): types.KnownBlock[] {
  const outcome: types.KnownBlock = { type: 'section', text: { type: 'mrkdwn', text: line } };
  if (!blocks || blocks.length === 0) return [outcome];
  let replaced = false;
  const out = blocks.map((b) => {
    if (b.type === 'actions' && (b as types.ActionsBlock).block_id === blockId) {
      replaced = true;
      return outcome;
    }
    return b;
  });
  return replaced ? out : [...out, outcome];
}

/** Builds the listener for `app.action(/^remediate:/, …)`. */
export function remediateAction(deps: RemediateDeps) {
  return async ({ ack, body, action, respond }: SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs): Promise<void> => {
    await ack();
    const userId = body.user.id;
    const value = parseButtonValue(action.value);
    const log = { user: userId, action: action.action_id, channel: body.channel?.id };
    if (!value) {
      deps.logger.warn(log, 'remediation button with an unreadable value');
      const actor = await slackActor(deps.roles, userId);
      await audit(deps.ctx.em(), { at: deps.ctx.services.clock.now(), actor, action: `button:${action.action_id.slice(0, 200)}`, input: { value: String(action.value ?? '').slice(0, 500) }, outcome: 'refused', detail: 'unreadable button value' }).catch((err: unknown) =>
        deps.logger.error({ ...log, err }, 'audit of an unreadable button failed'),
      );
      await respond({ response_type: 'ephemeral', replace_original: false, text: ':warning: This button is not readable; run the diagnosis again.' });
      return;
    }
    const title = findRemediation(RUNBOOKS, value.r, value.m)?.remediation.title ?? `${value.r}/${value.m}`;
    let outcome: RemediationOutcome;
    const actor = await slackActor(deps.roles, userId);
    try {
      outcome = await executeRemediation(
        deps.ctx,
        RUNBOOKS,
        { runbook: value.r, remediation: value.m, input: value.i, nonce: value.n, issuedAt: new Date(value.t) },
        actor,
        { staleAfterMs: deps.staleAfterMs },
      );
    } catch (err) {
      deps.logger.error({ ...log, err }, 'remediation could not be claimed or audited');
      await respond({ response_type: 'ephemeral', replace_original: false, text: ':warning: `internal` The action could not be recorded, so it was not run; try again in a minute.' });
      return;
    }
    deps.logger.info({ ...log, outcome: outcome.status }, 'remediation button handled');
    const line = outcomeLine(title, outcome, actor);
    if (outcome.status === 'refused' || outcome.status === 'duplicate') {
      await respond({ response_type: 'ephemeral', replace_original: false, text: line });
      return;
    }
    if (cardRefOfNonce(value.n)) {
      // a breaker card stays whole: the breaker's state change edits it through the outbox (alerts/breaker-cards.ts),
      // and an edit here through response_url could land after that one and show a stale card
      await respond({ response_type: 'in_channel', replace_original: false, text: line });
    } else {
      const blocks = replaceActionRow(body.message?.blocks as types.KnownBlock[] | undefined, action.block_id, line);
      await respond({ replace_original: true, text: line, blocks });
    }
    const recheck = recheckBlocks(title, outcome);
    if (recheck) await respond({ response_type: 'in_channel', replace_original: false, text: recheck.text, blocks: recheck.blocks });
  };
}
