/**
 * Block Kit for the breaker cards (outbox body `breaker_cards`, alerts/breaker-cards.ts): a header, then per
 * provider a section (state, why it tripped, failures, opened at, next probe, who acted), a context line (last
 * error) and its buttons — Probe now (operator) always; Keep open 1 h (operator) and Force close (admin, styled
 * danger) while the breaker is open or half_open. Every button is a remediation button (bot/render/diagnosis-blocks.ts:
 * a Block Kit `confirm` dialog naming the effect, the inputs and the role), handled by the normal remediation path
 * (bot/listeners/actions/remediate.ts → runbooks/actions.ts executeRemediation). A superseded card keeps its text
 * and loses its buttons. 5 providers × 4 blocks + 2 stays far below Slack's 50 blocks.
 */
import { Blocks, Message, type BlockBuilder } from 'slack-block-builder';
import type { BreakerCard, BreakerCardsBody } from '../../alerts/breaker-cards.js';
import type { RenderedSlack } from '../../alerts/slack-message.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { remediationButton, type RemediationButtonValue } from './diagnosis-blocks.js';
import { clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';

const STATE_EMOJI: Record<string, string> = { closed: ':large_green_circle:', open: ':red_circle:', half_open: ':large_yellow_circle:' };
const RUNBOOK = 'external-apis';
/** `2026-12-05 03:00:07 UTC`: seconds matter for a cooldown of a minute. */
const formatUtc = (iso: string) => `${iso.slice(0, 19).replace('T', ' ')} UTC`;

/** The nonce a card button carries: one claim per card message, provider and breaker state (a new state, a new click). */
export function cardNonce(ref: string, c: Pick<BreakerCard, 'provider' | 'generation' | 'state' | 'since'>): string {
  return `card:${ref}:${c.provider}:${c.generation}:${c.state}:${c.since ? Date.parse(c.since) : 0}`;
}

/** The ref of the card message a button nonce names (`card:<ref>:…`), or undefined for other buttons. */
export function cardRefOfNonce(nonce: string): string | undefined {
  const m = nonce.match(/^card:(breaker-cards:.+):[a-z]+:\d+:[a-z_]+:\d+$/);
  return m?.[1];
}

/** The remediation ids of a card's buttons, in order, for its state. */
export function cardButtons(state: BreakerCard['state']): string[] {
  return state === 'closed' ? ['probe-breaker'] : ['probe-breaker', 'keep-breaker-open', 'force-close-breaker'];
}

/** The mrkdwn body of one card. */
export function cardMrkdwn(c: BreakerCard): string {
  const lines = [`${STATE_EMOJI[c.state] ?? ''} *${escapeMrkdwn(c.name)}* — *${c.state}*`];
  if (c.why) lines.push(`*Why:* ${escapeMrkdwn(clampText(c.why, 300))}`);
  lines.push(
    c.state === 'half_open'
      ? `*Probe successes:* ${c.halfOpenSuccesses} of ${c.halfOpenNeeded}`
      : `*Failures:* ${c.consecutiveFailures} in a row (trips at ${c.failureThreshold})`,
  );
  if (c.openedAt) lines.push(`*Opened:* ${formatUtc(c.openedAt)}`);
  if (c.state === 'open' && c.nextProbeAt) lines.push(`*Next probe:* ${formatUtc(c.nextProbeAt)} (half-open from then)`);
  if (c.state === 'half_open') lines.push(`*Next probe:* ${c.nextProbeAt ? `in flight until ${formatUtc(c.nextProbeAt)}` : 'the next call'}`);
  if (c.operator)
    lines.push(`*${c.operator.action[0]!.toUpperCase()}${c.operator.action.slice(1)}* by ${escapeMrkdwn(c.operator.by ?? 'an operator')} ${formatUtc(c.operator.at)}${c.operator.until ? ` (until ${formatUtc(c.operator.until)})` : ''}`);
  return lines.join('\n');
}

/** The Block Kit of a `breaker_cards` body (the outbox renderer, registered in bot/render/slack-messages.ts). */
export function renderBreakerCards(body: BreakerCardsBody, text: string): RenderedSlack {
  const rb = RUNBOOKS.find((r) => r.id === RUNBOOK);
  const issued = Date.parse(body.asOf);
  const blocks: BlockBuilder[] = [Blocks.Header({ text: 'Circuit breakers' })];
  for (const c of body.cards) {
    blocks.push(Blocks.Section({ text: clampText(cardMrkdwn(c), 3000) }));
    if (c.lastError) blocks.push(Blocks.Context().elements(clampText(`Last error${c.lastErrorAt ? ` ${formatUtc(c.lastErrorAt)}` : ''}: ${escapeMrkdwn(c.lastError)}`, 2000)));
    const buttons = body.superseded || body.readOnly || !rb ? [] : cardButtons(c.state).flatMap((id) => {
      const rem = rb.remediations.find((m) => m.id === id);
      if (!rem) return [];
      const value: RemediationButtonValue = { r: RUNBOOK, m: id, i: { provider: c.provider }, n: cardNonce(body.ref, c), t: issued };
      return [remediationButton(RUNBOOK, rem, value)];
    });
    if (buttons.length) blocks.push(Blocks.Actions({ blockId: `breaker:${c.provider}` }).elements(buttons));
    blocks.push(Blocks.Divider());
  }
  blocks.push(
    Blocks.Context().elements(
      body.readOnly
        ? `As of ${formatUtc(body.asOf)} · only you see this copy; the live cards, with their buttons, are posted in the channel`
        : body.superseded
        ? `Superseded by a newer breaker card in this channel (state as of ${formatUtc(body.asOf)}).`
        : `As of ${formatUtc(body.asOf)} · edited in place when a breaker changes state · \`/lf breakers\``,
    ),
  );
  const built = Message({ text }).blocks(...blocks).buildToObject() as { blocks?: unknown[] };
  return { text, blocks: built.blocks ?? [] };
}
