/**
 * The Slack outbox for alerts and incidents (table `slack_outbox`, see db/entities/alerting.entity.ts):
 * {@link enqueueSlack} records a message (idempotent on `dedupKey`); the {@link createSlackPoster} loop delivers
 * them in order per channel, at most one per second per channel (Slack's chat.postMessage "special" tier), waits
 * out a 429's Retry-After for that channel, and keeps failed messages for the next tick (nothing lost; after
 * {@link OUTBOX_MAX_ATTEMPTS} an entry is parked with its last error).
 *
 * Kinds: `post` (a new message; its ts is stored in `slack_messages` under `ref`), `update` (chat.update of the
 * `ref` message), `reply` (a thread reply under the `ref` message), `dm` (a direct message: `channel` is a user id).
 * An `update`/`reply` whose `ref` has not been posted yet waits for it.
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SlackOutboxKind } from '../db/entities/alerting.entity.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';

/** Attempts before an entry is parked (kept, `last_error` set, no longer retried). */
export const OUTBOX_MAX_ATTEMPTS = 20;
/** Minimum gap between two messages to one channel (ms). */
export const CHANNEL_GAP_MS = 1000;

/** A message to enqueue. */
export interface OutboxMessage {
  dedupKey: string;
  kind: SlackOutboxKind;
  /** Channel name or id; a user id for `dm`. */
  channel: string;
  ref?: string;
  text: string;
  blocks?: unknown[];
}

/** Enqueues a message; returns false when `dedupKey` was already enqueued (nothing added). */
export async function enqueueSlack(em: EntityManager, msg: OutboxMessage, now: Date): Promise<boolean> {
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `insert into slack_outbox (dedup_key, kind, channel, ref, text, blocks, created_at, attempts)
     values (?, ?, ?, ?, ?, ?::jsonb, ?, 0) on conflict (dedup_key) do nothing returning id`,
    [msg.dedupKey.slice(0, 512), msg.kind, msg.channel, msg.ref ?? null, msg.text, msg.blocks ? JSON.stringify(msg.blocks) : null, now],
  );
  return rows.length > 0;
}

/** Where the ref's message was posted, if it was. */
export async function postedMessage(em: EntityManager, ref: string): Promise<{ channel: string; ts: string } | undefined> {
  const rows = await em.getConnection().execute<{ channel: string; ts: string }[]>('select channel, ts from slack_messages where ref = ?', [ref]);
  return rows[0];
}

/** Thrown by a transport when Slack answered 429; `retryAfterMs` from its Retry-After header. */
export class SlackRateLimited extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`Slack rate limited; retry after ${retryAfterMs} ms`);
  }
}

/** The Slack Web API calls the poster makes (Bolt's WebClient through {@link webClientTransport}, or the console). */
export interface SlackTransport {
  kind: 'slack' | 'console';
  post(channel: string, text: string, blocks: unknown[] | undefined, threadTs?: string): Promise<{ channel: string; ts: string }>;
  update(channel: string, ts: string, text: string, blocks: unknown[] | undefined): Promise<void>;
  /** Opens (conversations.open) and posts to a DM with a user. */
  dm(user: string, text: string, blocks: unknown[] | undefined): Promise<void>;
}

/** The slice of Bolt's WebClient used by {@link webClientTransport}. */
export interface WebClientLike {
  chat: {
    postMessage(args: Record<string, unknown>): Promise<{ ok?: boolean; ts?: string; channel?: string }>;
    update(args: Record<string, unknown>): Promise<{ ok?: boolean }>;
  };
  conversations: { open(args: { users: string }): Promise<{ ok?: boolean; channel?: { id?: string } }> };
}

function rateLimited(err: unknown): SlackRateLimited | undefined {
  const e = err as { code?: string; retryAfter?: number; data?: { error?: string } } | undefined;
  if (e?.code === 'slack_webapi_rate_limited_error') return new SlackRateLimited((e.retryAfter ?? 1) * 1000);
  return undefined;
}

/**
 * A transport over Bolt's WebClient. Give the client `rejectRateLimitedCalls: true` so a 429 reaches the poster
 * (which holds the whole channel back) instead of being retried inside the client.
 */
export function webClientTransport(client: WebClientLike): SlackTransport {
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw rateLimited(err) ?? err;
    }
  };
  return {
    kind: 'slack',
    post: (channel, text, blocks, threadTs) =>
      wrap(async () => {
        const res = await client.chat.postMessage({ channel, text, ...(blocks ? { blocks } : {}), ...(threadTs ? { thread_ts: threadTs } : {}) });
        return { channel: res.channel ?? channel, ts: res.ts ?? '' };
      }),
    update: (channel, ts, text, blocks) =>
      wrap(async () => {
        await client.chat.update({ channel, ts, text, ...(blocks ? { blocks } : {}) });
      }),
    dm: (user, text, blocks) =>
      wrap(async () => {
        const open = await client.conversations.open({ users: user });
        const channel = open.channel?.id;
        if (!channel) throw new Error(`conversations.open gave no channel for ${user}`);
        await client.chat.postMessage({ channel, text, ...(blocks ? { blocks } : {}) });
      }),
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
    },
  };
}

/** A running poster. `tick()` delivers what is due now (at most one per channel) and returns how many. */
export interface SlackPoster {
  tick(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

interface Row {
  id: number;
  kind: SlackOutboxKind;
  channel: string;
  ref: string | null;
  text: string;
  blocks: unknown[] | null;
  attempts: number;
}

/** Creates the poster; `intervalMs` (default 250) is how often it looks for due messages. */
export function createSlackPoster(deps: { orm: MikroORM; logger: Logger; clock: Clock; transport: SlackTransport; intervalMs?: number; channelGapMs?: number }): SlackPoster {
  const { orm, logger, clock, transport } = deps;
  const gap = deps.channelGapMs ?? CHANNEL_GAP_MS;
  const lastSent = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function deliver(em: EntityManager, row: Row): Promise<'sent' | 'wait'> {
    if (row.kind === 'post') {
      const existing = row.ref ? await postedMessage(em, row.ref) : undefined;
      if (existing) return 'sent'; // posted before a crash lost the sent_at: never post twice
      const res = await transport.post(row.channel, row.text, row.blocks ?? undefined);
      if (row.ref)
        await em
          .getConnection()
          .execute('insert into slack_messages (ref, channel, ts, posted_at) values (?, ?, ?, ?) on conflict (ref) do nothing', [row.ref, res.channel, res.ts, clock.now()]);
      return 'sent';
    }
    if (row.kind === 'dm') {
      await transport.dm(row.channel, row.text, row.blocks ?? undefined);
      return 'sent';
    }
    const target = row.ref ? await postedMessage(em, row.ref) : undefined;
    if (!target) return 'wait';
    if (row.kind === 'update') await transport.update(target.channel, target.ts, row.text, row.blocks ?? undefined);
    else await transport.post(target.channel, row.text, row.blocks ?? undefined, target.ts);
    return 'sent';
  }

  async function tickOnce(): Promise<number> {
    const now = clock.now();
    const em = orm.em.fork();
    const conn = em.getConnection();
    // the oldest due entry of each channel, claimed with a short lease (replicas never send one twice at once)
    const rows = await conn.execute<Row[]>(
      `update slack_outbox set claimed_until = ?, attempts = attempts + 1
        where id in (
          select distinct on (channel) id from slack_outbox
           where sent_at is null and attempts < ?
           order by channel, id)
          and (not_before is null or not_before <= ?)
          and (claimed_until is null or claimed_until < ?)
        returning id, kind, channel, ref, text, blocks, attempts`,
      [new Date(now.getTime() + 30_000), OUTBOX_MAX_ATTEMPTS, now, now],
    );
    let sent = 0;
    for (const row of rows) {
      const wall = Date.now();
      const last = lastSent.get(row.channel);
      if (last !== undefined && wall - last < gap) {
        await conn.execute('update slack_outbox set claimed_until = null, attempts = attempts - 1 where id = ?', [row.id]);
        continue;
      }
      try {
        const outcome = await deliver(em, row);
        if (outcome === 'wait') {
          await conn.execute('update slack_outbox set claimed_until = null, attempts = attempts - 1 where id = ?', [row.id]);
          continue;
        }
        lastSent.set(row.channel, Date.now());
        await conn.execute('update slack_outbox set sent_at = ?, claimed_until = null, last_error = null where id = ?', [clock.now(), row.id]);
        sent++;
      } catch (err) {
        const limited = err instanceof SlackRateLimited ? err : undefined;
        const notBefore = new Date(clock.now().getTime() + (limited?.retryAfterMs ?? Math.min(60_000, 1000 * 2 ** Math.min(row.attempts, 6))));
        // hold back the whole channel: later entries must not overtake this one
        await conn.execute('update slack_outbox set not_before = ? where channel = ? and sent_at is null', [notBefore, row.channel]);
        await conn.execute('update slack_outbox set claimed_until = null, last_error = ? where id = ?', [String((err as Error)?.message ?? err).slice(0, 1000), row.id]);
        if (limited) logger.warn({ channel: row.channel, retryAfterMs: limited.retryAfterMs }, 'slack rate limited; channel held back');
        else logger.error({ channel: row.channel, id: row.id, attempts: row.attempts, err: (err as Error)?.message }, 'slack outbox delivery failed; will retry');
      }
    }
    return sent;
  }

  const tick = async (): Promise<number> => {
    while (running) await running.catch(() => 0);
    running = tickOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    tick,
    start() {
      timer ??= setInterval(() => {
        if (!running) void tick().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'slack poster tick failed'));
      }, deps.intervalMs ?? 250);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running?.catch(() => 0);
      await tick().catch(() => 0);
    },
  };
}
