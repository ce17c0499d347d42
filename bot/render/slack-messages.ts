/**
 * The Block Kit renderer of the Slack outbox: the composition root (bot/main.ts) injects {@link renderSlackMessage}
 * into the outbox poster and the DB-outage spool, which call it when a message is sent. Lower layers (alerts/,
 * jobs/) enqueue structured bodies (`{ type, … }`, alerts/slack-message.ts) and plain text; how each body looks in
 * Slack is decided here, per `type`. A body of an unknown type is sent as its plain text.
 */
import { Blocks, Message } from 'slack-block-builder';
import type { RenderedSlack, SlackBody, SlackRenderer } from '../../alerts/slack-message.js';
import { clampText, SLACK_LIMITS } from '../../domain/text/slack-text.js';
import type { AlertGroupBody } from '../../alerts/dispatch.js';
import { renderAlertGroup } from './alert-message.js';
import type { IncidentBody } from '../../alerts/incidents.js';
import { renderIncident } from './incident-message.js';
import type { DrillReportBody } from '../../alerts/drill-report.js';
import { renderDrillReport } from './drill-report.js';
import type { BreakerCardsBody } from '../../alerts/breaker-cards.js';
import { renderBreakerCards } from './breaker-cards.js';

/** Renders one body type; `text` is the message's own plain text. */
type BodyRenderer = (body: SlackBody, text: string) => RenderedSlack;

/** An ops event (alerts/format.ts `formatOpsEvent`): the text in a section, then type · severity · time. */
function opsEvent(body: SlackBody, text: string): RenderedSlack {
  const ev = (body.event ?? {}) as { type?: string; severity?: string; createdAt?: string };
  const built = Message({ text })
    .blocks(Blocks.Section({ text: clampText(text, SLACK_LIMITS.sectionText) }), Blocks.Context().elements(`${ev.type ?? 'event'} · ${ev.severity ?? 'info'} · ${ev.createdAt ?? ''}`))
    .buildToObject() as { blocks?: unknown[] };
  return { text, blocks: built.blocks ?? [] };
}

const RENDERERS: Record<string, BodyRenderer> = {
  ops_event: opsEvent,
  alert_group: (body, text) => renderAlertGroup(body as AlertGroupBody, text),
  incident: (body, text) => renderIncident(body as IncidentBody, text),
  drill_report: (body, text) => renderDrillReport(body as DrillReportBody, text),
  breaker_cards: (body, text) => renderBreakerCards(body as BreakerCardsBody, text),
};

/** The renderer injected into the outbox (see the module comment). Throws only on a renderer's own bug. */
export const renderSlackMessage: SlackRenderer = (body, text) => {
  const render = RENDERERS[body.type];
  return render ? render(body, text) : { text };
};
