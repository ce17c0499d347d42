/**
 * Slack test helpers: signing requests the way Slack does (v0 HMAC-SHA256), and a fake Slack Web API on a local
 * port that records every call, plus a `/response-url/<id>` path to give slash commands and actions as their
 * response_url.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Headers of a signed Slack request (`x-slack-signature`, `x-slack-request-timestamp`, form content type). */
export interface SlackSignedHeaders {
  'x-slack-signature': string;
  'x-slack-request-timestamp': string;
  'content-type': string;
  [name: string]: string;
}

/**
 * Signs `body` (the exact raw bytes to send) as Slack does: `v0=` + hex HMAC-SHA256 of `v0:<ts>:<body>` keyed by
 * the signing secret. `timestamp` in Unix seconds, default now; pass an old one to test the 5-minute window.
 */
export function signSlackRequest(
  secret: string,
  body: string,
  timestamp: number | string = Math.floor(Date.now() / 1000),
  contentType = 'application/x-www-form-urlencoded',
): SlackSignedHeaders {
  const ts = String(timestamp);
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
  return { 'x-slack-signature': signature, 'x-slack-request-timestamp': ts, 'content-type': contentType };
}

/**
 * One recorded request. `kind` is `api` for Web API methods (`method` like `chat.postMessage`) and
 * `response_url` for posts to `/response-url/<id>` (`method` is then the id). `body` is the parsed form or JSON
 * body; form fields holding JSON (`blocks`, `attachments`, `metadata`) are parsed too.
 */
export interface FakeSlackCall {
  kind: 'api' | 'response_url';
  method: string;
  path: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  at: number;
}

/** A running fake Slack. `url` ends in `/api/` (give it as SLACK_API_URL / slackApiUrl). */
export interface FakeSlackApi {
  url: string;
  /** A response_url on this fake for the given id. */
  responseUrl(id: string): string;
  /** Every request so far, in arrival order. */
  calls: FakeSlackCall[];
  /** The next `times` calls of Web API `method` answer HTTP 429 with `Retry-After: retryAfterSeconds`. */
  rateLimitNext(method: string, retryAfterSeconds: number, times?: number): void;
  /**
   * Calls of Web API `rule.method` matching `rule.when` (default: all) answer as Slack refuses: HTTP 200
   * `{ ok: false, error }` (e.g. `channel_not_found`, `msg_blocks_too_long`), or HTTP `rule.status` (e.g. 503)
   * when given; `times` (default unlimited) bounds how often. Refused calls are recorded as `<method>#<error>`.
   */
  refuse(rule: FakeSlackRefusal): void;
  /** Drops every refusal rule. */
  clearRefusals(): void;
  /**
   * Channels made by conversations.create (by id), with their members (conversations.invite). Answers follow
   * Slack's wire format: `{ ok, channel: { id, name, is_channel, created, creator, … } }`, and the errors
   * `name_taken`, `invalid_name_specials`, `invalid_name_maxlength`, `channel_not_found`, `already_in_channel`,
   * `user_not_found`.
   */
  channels: Map<string, { name: string; members: Set<string> }>;
  /** Marks channel names as taken (e.g. an archived channel of that name): conversations.create answers `name_taken`. */
  takeChannelNames(...names: string[]): void;
  /** Files received through files.uploadV2 (getUploadURLExternal → upload → completeUploadExternal). */
  files: { id: string; filename: string; content: string; channel?: string; threadTs?: string }[];
  /** Resolves with the first call (past or future) matching `predicate`; rejects after `timeoutMs` (default 5000). */
  waitFor(predicate: (call: FakeSlackCall) => boolean, timeoutMs?: number): Promise<FakeSlackCall>;
  close(): Promise<void>;
}

/** See {@link FakeSlackApi.refuse}. */
export interface FakeSlackRefusal {
  method: string;
  error: string;
  status?: number;
  times?: number;
  when?: (body: Record<string, unknown>) => boolean;
}

/**
 * Characters of text in a message's blocks, counted as Slack does for its undocumented `msg_blocks_too_long`
 * limit (every `text` of a text object).
 */
export function fakeBlockTextLength(blocks: unknown): number {
  if (Array.isArray(blocks)) return blocks.reduce((n: number, b) => n + fakeBlockTextLength(b), 0);
  if (typeof blocks !== 'object' || blocks === null) return 0;
  const o = blocks as Record<string, unknown>;
  let n = (o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string' ? o.text.length : 0;
  for (const [k, v] of Object.entries(o)) if (k !== 'text' || typeof v !== 'string') n += fakeBlockTextLength(v);
  return n;
}

/**
 * A refusal like real Slack's: chat.postMessage/chat.update whose blocks carry more than `limit` characters of
 * text answer `msg_blocks_too_long` (real Slack refuses at about 12,000–13,000).
 */
export function blocksTooLong(method: 'chat.postMessage' | 'chat.update', limit = 12_000): FakeSlackRefusal {
  return { method, error: 'msg_blocks_too_long', when: (body) => fakeBlockTextLength(body.blocks) > limit };
}

const JSON_FIELDS = ['blocks', 'attachments', 'metadata', 'view', 'files'];

function parseBody(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (raw === '') return {};
  if (contentType?.includes('application/json')) {
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return { _raw: raw };
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    out[key] = value;
    if (JSON_FIELDS.includes(key)) {
      try {
        out[key] = JSON.parse(value);
      } catch {
        /* keep the string */
      }
    }
  }
  return out;
}

/** The file's bytes from an upload: the raw body, or the file part of a multipart/form-data body (as @slack/web-api sends it). */
function uploadedContent(raw: string, contentType: string | undefined): string {
  const boundary = /multipart\/form-data;\s*boundary=("?)([^";]+)\1/i.exec(contentType ?? '')?.[2];
  if (!boundary) return raw;
  const part = raw.split(`--${boundary}`).find((p) => /filename=/i.test(p.split('\r\n\r\n')[0] ?? ''));
  if (!part) return raw;
  const body = part.slice(part.indexOf('\r\n\r\n') + 4);
  return body.endsWith('\r\n') ? body.slice(0, -2) : body;
}

/** Starts the fake on 127.0.0.1 (any free port). Every Web API method answers `{ ok: true, ts, channel }`. */
export async function startFakeSlackApi(): Promise<FakeSlackApi> {
  const calls: FakeSlackCall[] = [];
  const limited = new Map<string, { retryAfter: number; times: number }>();
  const refusals: FakeSlackRefusal[] = [];
  const files: FakeSlackApi['files'] = [];
  const uploads = new Map<string, { filename: string; content?: string }>();
  const channels: FakeSlackApi['channels'] = new Map();
  const takenNames = new Set<string>();
  const waiters = new Set<(call: FakeSlackCall) => void>();
  let seq = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const body = parseBody(Buffer.concat(chunks).toString('utf8'), req.headers['content-type']);
      const upload = /^\/upload\/(F\w+)$/.exec(path);
      if (upload) {
        const u = uploads.get(upload[1]!);
        if (u) u.content = uploadedContent(Buffer.concat(chunks).toString('utf8'), req.headers['content-type']);
        res.writeHead(u ? 200 : 404, { 'content-type': 'text/plain' }).end(u ? 'OK' : 'no such upload');
        return;
      }
      const responseUrl = /^\/response-url\/(.+)$/.exec(path);
      const api = /^\/api\/([\w.]+)$/.exec(path);
      if (!responseUrl && !api) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: 'not_found' }));
        return;
      }
      const call: FakeSlackCall = {
        kind: responseUrl ? 'response_url' : 'api',
        method: decodeURIComponent((responseUrl ?? api)![1]!),
        path,
        body,
        headers: req.headers,
        at: Date.now(),
      };
      const limit = api ? limited.get(call.method) : undefined;
      if (limit && limit.times > 0) {
        limit.times -= 1;
        call.method = `${call.method}#429`;
        calls.push(call);
        for (const w of [...waiters]) w(call);
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(limit.retryAfter) }).end(JSON.stringify({ ok: false, error: 'ratelimited' }));
        return;
      }
      const refusal = api ? refusals.find((r) => r.method === call.method && (r.times === undefined || r.times > 0) && (r.when?.(body) ?? true)) : undefined;
      if (refusal) {
        if (refusal.times !== undefined) refusal.times -= 1;
        call.method = `${call.method}#${refusal.error}`;
        calls.push(call);
        for (const w of [...waiters]) w(call);
        res.writeHead(refusal.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: refusal.error }));
        return;
      }
      calls.push(call);
      for (const w of [...waiters]) w(call);
      seq += 1;
      const answer = responseUrl ? { ok: true } : fileAnswer(call.method, body) ?? conversationAnswer(call.method, body) ?? { ok: true, ts: `${Math.floor(Date.now() / 1000)}.${String(seq).padStart(6, '0')}`, channel: body.channel ?? 'C0FAKE' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  // files.uploadV2 is three calls: getUploadURLExternal (an upload URL here), the upload, completeUploadExternal
  const fileAnswer = (method: string, body: Record<string, unknown>): Record<string, unknown> | undefined => {
    if (method === 'files.getUploadURLExternal') {
      const id = `F${String(uploads.size + 1).padStart(8, '0')}`;
      uploads.set(id, { filename: String(body.filename ?? '') });
      return { ok: true, upload_url: `${base}/upload/${id}`, file_id: id };
    }
    if (method === 'files.completeUploadExternal') {
      const list = (Array.isArray(body.files) ? body.files : []) as { id: string; title?: string }[];
      for (const f of list) {
        const u = uploads.get(f.id);
        files.push({ id: f.id, filename: u?.filename ?? '', content: u?.content ?? '', channel: body.channel_id as string | undefined, threadTs: body.thread_ts as string | undefined });
      }
      return { ok: true, files: list.map((f) => ({ id: f.id, title: f.title ?? '' })) };
    }
    return undefined;
  };
  // conversations.create / conversations.invite as Slack answers them (https://api.slack.com/methods/conversations.create)
  const channelObject = (id: string, name: string) => ({
    id,
    name,
    is_channel: true,
    is_group: false,
    is_im: false,
    is_mpim: false,
    is_private: false,
    created: Math.floor(Date.now() / 1000),
    is_archived: false,
    is_general: false,
    unlinked: 0,
    name_normalized: name,
    is_shared: false,
    is_org_shared: false,
    is_pending_ext_shared: false,
    pending_shared: [],
    context_team_id: 'T0TEST',
    creator: 'U0LEADFACTORY',
    is_ext_shared: false,
    shared_team_ids: ['T0TEST'],
    is_member: true,
    last_read: '0000000000.000000',
    topic: { value: '', creator: '', last_set: 0 },
    purpose: { value: '', creator: '', last_set: 0 },
    previous_names: [],
    priority: 0,
  });
  const conversationAnswer = (method: string, body: Record<string, unknown>): Record<string, unknown> | undefined => {
    if (method === 'conversations.create') {
      const name = String(body.name ?? '');
      if (name.length > 80) return { ok: false, error: 'invalid_name_maxlength' };
      if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) return { ok: false, error: name ? 'invalid_name_specials' : 'invalid_name_required' };
      if (takenNames.has(name)) return { ok: false, error: 'name_taken' };
      takenNames.add(name);
      const id = `C${String(channels.size + 1).padStart(8, '0')}`;
      channels.set(id, { name, members: new Set() });
      return { ok: true, channel: channelObject(id, name) };
    }
    if (method === 'conversations.invite') {
      const ch = channels.get(String(body.channel ?? ''));
      if (!ch) return { ok: false, error: 'channel_not_found' };
      const users = String(body.users ?? '').split(',').filter(Boolean);
      if (users.length === 0) return { ok: false, error: 'no_user' };
      if (users.some((u) => !/^[UW][A-Z0-9]+$/.test(u))) return { ok: false, error: 'user_not_found' };
      if (users.length === 1 && ch.members.has(users[0]!)) return { ok: false, error: 'already_in_channel' };
      for (const u of users) ch.members.add(u);
      return { ok: true, channel: channelObject(String(body.channel), ch.name) };
    }
    return undefined;
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/api/`,
    responseUrl: (id) => `${base}/response-url/${encodeURIComponent(id)}`,
    calls,
    rateLimitNext(method, retryAfterSeconds, times = 1) {
      limited.set(method, { retryAfter: retryAfterSeconds, times });
    },
    refuse(rule) {
      refusals.push({ ...rule });
    },
    clearRefusals() {
      refusals.length = 0;
    },
    files,
    channels,
    takeChannelNames(...names) {
      for (const n of names) takenNames.add(n);
    },
    waitFor(predicate, timeoutMs = 5000) {
      const found = calls.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake Slack: no matching call within ${timeoutMs} ms (${calls.length} calls recorded)`));
        }, timeoutMs);
        const check = (call: FakeSlackCall) => {
          if (!predicate(call)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(call);
        };
        waiters.add(check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The form body Slack posts for a `/lf` slash command (shape of the recorded slash-command payload), from `user` in
 * channel C0OPS, answering to `responseUrl`.
 */
export function slashCommandBody(text: string, user: string, responseUrl: string): string {
  return new URLSearchParams({
    token: 'legacy',
    team_id: 'T0TEST',
    team_domain: 'leadfactory',
    channel_id: 'C0OPS',
    channel_name: 'ops',
    user_id: user,
    user_name: 'someone',
    command: '/lf',
    text,
    api_app_id: 'A0TEST',
    response_url: responseUrl,
    trigger_id: '123.456.abc',
  }).toString();
}
