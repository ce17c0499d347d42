/**
 * The one Slack Web API client: Bolt's `app.client`, built from {@link slackClientOptions}. The outbox transport
 * (alerts/slack-transport.ts, wired in bot/main.ts) posts, edits, replies and uploads through it; listeners use it
 * only for reads and views (user groups, App Home). No other WebClient is created (test/alerts/slack-exit.test.ts).
 *
 * Options: no retries inside the client and `rejectRateLimitedCalls` — a 429 or a 5xx reaches the outbox poster,
 * which holds back the channel (Retry-After) and retries, degrades or dead-letters; the client's default (10
 * retries over ~30 min) would hang a send and hide the failure from it. A 10 s timeout per call.
 */
import type { AppConfig } from '../domain/config.js';

/** Options for Bolt's WebClient (`clientOptions` of `new App`); `slackApiUrl` from SLACK_API_URL when set. */
export function slackClientOptions(config: Pick<AppConfig, 'slack'>): { slackApiUrl?: string; rejectRateLimitedCalls: boolean; retryConfig: { retries: number }; timeout: number } {
  return {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: 10_000,
  };
}
