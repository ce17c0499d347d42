/**
 * The Slack Web API calls the outbox poster makes, and how their failures are classified. Errors come from
 * `@slack/web-api` (Bolt's WebClient): `slack_webapi_rate_limited_error` (HTTP 429, `retryAfter` seconds from the
 * Retry-After header), `slack_webapi_http_error` (other HTTP statuses, `statusCode`), `slack_webapi_request_error`
 * (network: refused, reset, timeout) and `slack_webapi_platform_error` (HTTP 200 with `ok: false`, the reason in
 * `data.error`, https://api.slack.com/web#responses).
 */

/** Slack platform errors worth retrying: Slack's side, or our token/scopes (fixing the config delivers them). */
const RETRYABLE_ERRORS = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
  'rate_limited',
  'team_added_to_org',
  'invalid_auth',
  'not_authed',
  'token_revoked',
  'token_expired',
  'account_inactive',
  'missing_scope',
  'no_permission',
  'ekm_access_denied',
  'team_access_not_granted',
]);
/** Permanent errors about the content: a smaller, text-only form of the message may still go through. */
const CONTENT_ERRORS = new Set(['msg_blocks_too_long', 'invalid_blocks', 'invalid_blocks_format', 'msg_too_long', 'too_many_attachments', 'invalid_attachments', 'no_text', 'invalid_arguments', 'invalid_metadata_format', 'metadata_too_large']);

/** What a failed call means for the outbox. */
export type SlackFailure =
  /** HTTP 429: wait `retryAfterMs` (Retry-After), then the same message again. */
  | { kind: 'rate_limited'; retryAfterMs: number; error: string }
  /** 5xx, network, Slack-side or token errors: the same message again later. */
  | { kind: 'retryable'; error: string }
  /** Refused for good (`channel_not_found`, `msg_blocks_too_long`, …); `degradable`: a text-only form may pass. */
  | { kind: 'permanent'; error: string; degradable: boolean };

/** Thrown by a transport when Slack answered 429; `retryAfterMs` from its Retry-After header. */
export class SlackRateLimited extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`Slack rate limited; retry after ${retryAfterMs} ms`);
  }
}

interface WebApiErrorShape {
  code?: string;
  retryAfter?: number;
  statusCode?: number;
  data?: { error?: string };
  message?: string;
}

/** Classifies an error thrown by a transport call (see the module comment for the shapes). */
export function classifySlackError(err: unknown): SlackFailure {
  if (err instanceof SlackRateLimited) return { kind: 'rate_limited', retryAfterMs: err.retryAfterMs, error: 'ratelimited' };
  const e = (typeof err === 'object' && err !== null ? err : {}) as WebApiErrorShape;
  const message = String(e.message ?? err).slice(0, 500);
  if (e.code === 'slack_webapi_rate_limited_error') return { kind: 'rate_limited', retryAfterMs: Math.max(1, e.retryAfter ?? 1) * 1000, error: 'ratelimited' };
  if (e.code === 'slack_webapi_platform_error') {
    const error = e.data?.error ?? 'unknown_error';
    if (RETRYABLE_ERRORS.has(error)) return { kind: 'retryable', error };
    return { kind: 'permanent', error, degradable: CONTENT_ERRORS.has(error) };
  }
  if (e.code === 'slack_webapi_http_error') {
    const status = e.statusCode ?? 0;
    // 5xx, 408 and odd statuses are Slack's or the path's trouble; other 4xx (400, 413) are the request's
    if (status >= 500 || status === 408 || status === 0) return { kind: 'retryable', error: `http_${status}` };
    return { kind: 'permanent', error: `http_${status}`, degradable: status === 413 || status === 400 };
  }
  // slack_webapi_request_error, timeouts, anything unknown from the network or our own code: try again later
  return { kind: 'retryable', error: message };
}

/** The Slack Web API calls the poster makes (Bolt's WebClient through {@link webClientTransport}, or the console). */
export interface SlackTransport {
  kind: 'slack' | 'console';
  /** chat.postMessage; the answer's channel id and ts. */
  post(channel: string, text: string, blocks: unknown[] | undefined, threadTs?: string): Promise<{ channel: string; ts: string }>;
  /** chat.update of the message `ts` (blocks `[]` removes the old blocks). */
  update(channel: string, ts: string, text: string, blocks: unknown[] | undefined): Promise<void>;
  /** Opens (conversations.open) and posts to a DM with a user; the DM channel id and ts. */
  dm(user: string, text: string, blocks: unknown[] | undefined): Promise<{ channel: string; ts: string }>;
  /** files.uploadV2 of a text file into a channel (id), in the thread `threadTs` when given. */
  upload(channelId: string, threadTs: string | undefined, filename: string, content: string, title: string): Promise<void>;
}

/** The slice of Bolt's WebClient used by {@link webClientTransport}. */
export interface WebClientLike {
  chat: {
    /** chat.postMessage; `blocks` are Block Kit blocks as rendered (bot/render/slack-messages.ts). */
    postMessage(args: { channel: string; text?: string; blocks?: unknown[]; thread_ts?: string }): Promise<{ ok?: boolean; ts?: string; channel?: string }>;
    /** chat.update of the message `ts`. */
    update(args: { channel: string; ts: string; text?: string; blocks?: unknown[] }): Promise<{ ok?: boolean }>;
  };
  conversations: { open(args: { users: string }): Promise<{ ok?: boolean; channel?: { id?: string } }> };
  /** files.uploadV2 of one text file into a channel, or into a thread of it. */
  filesUploadV2(
    args: { channel_id: string; filename: string; content: string; title?: string } & ({ thread_ts: string } | { thread_ts?: never }),
  ): Promise<unknown>;
}

/**
 * A transport over Bolt's WebClient. Give the client `rejectRateLimitedCalls: true` and `retryConfig: { retries:
 * 0 }` so a 429 or a 5xx reaches the poster (which decides about the whole channel) instead of being retried inside
 * the client.
 */
export function webClientTransport(client: WebClientLike): SlackTransport {
  return {
    kind: 'slack',
    async post(channel, text, blocks, threadTs) {
      const res = await client.chat.postMessage({ channel, text, ...(blocks ? { blocks } : {}), ...(threadTs ? { thread_ts: threadTs } : {}) });
      return { channel: res.channel ?? channel, ts: res.ts ?? '' };
    },
    async update(channel, ts, text, blocks) {
      await client.chat.update({ channel, ts, text, ...(blocks ? { blocks } : {}) });
    },
    async dm(user, text, blocks) {
      const open = await client.conversations.open({ users: user });
      const channel = open.channel?.id;
      if (!channel) throw new Error(`conversations.open gave no channel for ${user}`);
      const res = await client.chat.postMessage({ channel, text, ...(blocks ? { blocks } : {}) });
      return { channel: res.channel ?? channel, ts: res.ts ?? '' };
    },
    async upload(channelId, threadTs, filename, content, title) {
      await client.filesUploadV2({ channel_id: channelId, ...(threadTs ? { thread_ts: threadTs } : {}), filename, content, title });
    },
  };
}

/** Prints each message as `[slack <channel>] <text>` (no Slack app); ts values are made up. */
export function consoleTransport(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): SlackTransport {
  let n = 0;
  return {
    kind: 'console',
    async post(channel, text, _b, threadTs) {
      write(`[slack ${channel}${threadTs ? ` thread ${threadTs}` : ''}] ${text}`);
      return { channel, ts: `console.${++n}` };
    },
    async update(channel, _ts, text) {
      write(`[slack ${channel} (edit)] ${text}`);
    },
    async dm(user, text) {
      write(`[slack DM ${user}] ${text}`);
      return { channel: user, ts: `console.${++n}` };
    },
    async upload(channelId, _t, filename, content) {
      write(`[slack ${channelId} file ${filename}] ${content.length} characters`);
    },
  };
}
