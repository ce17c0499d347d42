/**
 * Routing of Slack posts by kind: every outbox message says what it is ({@link SlackRoute}: status, alerts,
 * incidents, pages, recoveries, drills, answers) and this table, from config, says which channel that kind goes to.
 * Defaults: status → SLACK_STATUS_CHANNEL, alerts → SLACK_ALERTS_CHANNEL, incidents → SLACK_INCIDENTS_CHANNEL,
 * pages → the incidents channel, recoveries → the status channel, drills (drill reports) → the incidents channel,
 * where the drill's incident is; `SLACK_ROUTES` (`pages=#lf-oncall,drills=#lf-drills,…`) overrides
 * any of them. Answers have no channel of their own: they go to the conversation that asked.
 */
import type { AppConfig, SlackRoute } from '../domain/config.js';

export type { SlackRoute } from '../domain/config.js';

/** The channel for a kind of post (see the module comment); `answers` has none (undefined). */
export function routeChannel(config: Pick<AppConfig, 'slack' | 'alerting'>, route: SlackRoute): string | undefined {
  const override = config.slack.routes?.[route];
  if (override) return override;
  switch (route) {
    case 'status':
      return config.slack.statusChannel;
    case 'alerts':
      return config.alerting.alertsChannel;
    case 'incidents':
      return config.alerting.incidentsChannel;
    case 'pages':
      return routeChannel(config, 'incidents');
    case 'recoveries':
      return routeChannel(config, 'status');
    case 'drills':
      return routeChannel(config, 'incidents');
    case 'answers':
      return undefined;
  }
}

/**
 * `{ route, channel }` for an outbox message of that kind, to spread into it: `{ ...routed(config, 'alerts'), … }`.
 * `channel` given (a conversation id for an answer, a user id for a DM) wins over the table.
 * @throws Error when the kind has no channel (`answers`) and none is given.
 */
export function routed(config: Pick<AppConfig, 'slack' | 'alerting'>, route: SlackRoute, channel?: string): { route: SlackRoute; channel: string } {
  const to = channel ?? routeChannel(config, route);
  if (!to) throw new Error(`Slack route "${route}" has no channel: give the conversation`);
  return { route, channel: to };
}
