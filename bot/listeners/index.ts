/**
 * Registers the Slack listeners (one handler per file): `/lf`, remediation and incident buttons, the App Home tab,
 * and the ops assistant (@mentions, DMs, its feedback buttons).
 */
import type { App } from '@slack/bolt';
import { remediateAction } from './actions/remediate.js';
import { incidentAction } from './actions/incident.js';
import { lfCommand, type LfCommandDeps } from './commands/lf.js';
import { appHomeOpened } from './events/app-home.js';
import { registerAssistant } from './events/assistant.js';

/** Registers every listener on `app`: the `/lf` command, button actions, events and the assistant. */
export function registerListeners(app: App, deps: LfCommandDeps): void {
  app.command('/lf', lfCommand(deps));
  app.action(/^remediate:/, remediateAction(deps));
  app.action(/^incident:/, incidentAction(deps));
  app.event('app_home_opened', appHomeOpened(deps));
  registerAssistant(app, { ctx: deps.ctx, roles: deps.roles, logger: deps.logger, outbox: deps.outbox });
}
