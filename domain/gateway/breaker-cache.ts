/**
 * A short, process-local cache of `provider_state` rows, so the gateway's hot path (a closed breaker's permit, a
 * healthy success) needs no database round trip, with invalidation across threads, processes and replicas.
 *
 * - Entries live at most `ttlMs` (default 1 s), measured on the monotonic clock.
 * - Writes by this process drop the entry at once ({@link invalidateProviderState}, every cache of the process).
 * - Writes by anyone else arrive as PostgreSQL notifications: a trigger on `provider_state` (migration
 *   20261205160000) sends `NOTIFY lf_provider_state, '<provider>'` on every breaker or Retry-After change and `'*'`
 *   on TRUNCATE; a {@link ProviderStateListener} (one dedicated connection per process/thread, `LISTEN`) drops the
 *   entries. While the listener is not connected, the caches are bypassed (every read goes to the database), so
 *   a lost connection never serves stale state for longer than the TTL.
 */
import pg from 'pg';
import { notifyChannel } from '../queries/breakers.js';

/** The notification channel the provider_state trigger sends on. */
export const PROVIDER_STATE_CHANNEL = 'lf_provider_state';

type Listener = (provider: string) => void;
const listeners = new Set<Listener>();
/** Listeners connected in this process; caches are used only while at least one is (or none is required). */
let connected = 0;
let required = false;

/** Drops cached state of `provider` (`*` = every provider) in every cache of this process. */
export function invalidateProviderState(provider: string): void {
  for (const l of listeners) l(provider);
}

/** A TTL cache of one value per provider, dropped by {@link invalidateProviderState}. */
export class ProviderStateCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();
  private readonly onInvalidate: Listener = (p) => (p === '*' ? this.entries.clear() : void this.entries.delete(p));

  /** @param ttlMs how long an entry may be served (ms); 0 disables the cache. */
  constructor(private readonly ttlMs: number) {
    if (ttlMs > 0) listeners.add(this.onInvalidate);
  }

  /** Whether the cache may serve now: enabled, and the cross-process listener is connected when one is required. */
  get usable(): boolean {
    return this.ttlMs > 0 && (!required || connected > 0);
  }

  /** The cached value when fresh and usable, else undefined. */
  get(provider: string): V | undefined {
    if (!this.usable) return undefined;
    const e = this.entries.get(provider);
    if (!e) return undefined;
    if (performance.now() - e.at > this.ttlMs) {
      this.entries.delete(provider);
      return undefined;
    }
    return e.value;
  }

  /** Stores `value` for `provider` (fresh from now). */
  set(provider: string, value: V): void {
    if (this.ttlMs > 0) this.entries.set(provider, { value, at: performance.now() });
  }

  /** Updates a cached value in place without refreshing its age (no-op when absent). */
  patch(provider: string, fn: (v: V) => V): void {
    const e = this.entries.get(provider);
    if (e) e.value = fn(e.value);
  }

  /** Stops listening for invalidations (the cache is then empty and unused). */
  dispose(): void {
    listeners.delete(this.onInvalidate);
    this.entries.clear();
  }
}

/**
 * `LISTEN lf_provider_state` on a dedicated connection to `url`, turning notifications into
 * {@link invalidateProviderState}. Reconnects every `retryMs` after a failure; while disconnected the caches of the
 * process are bypassed and, on reconnect, every entry is dropped (notifications may have been missed).
 */
export class ProviderStateListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private up = false;

  constructor(
    private readonly url: string,
    private readonly opts: { retryMs?: number; onError?: (err: unknown) => void } = {},
  ) {
    required = true;
  }

  /** Connects and listens; resolves once listening (or after the first failure, with a retry scheduled). */
  async start(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url });
    const probe = `probe:${process.pid}:${Math.random().toString(36).slice(2)}`;
    client.on('notification', (m) => {
      if (m.payload === probe) return this.confirmed(client);
      invalidateProviderState(m.payload ?? '*');
    });
    client.on('error', (err) => this.lost(err));
    client.on('end', () => this.lost(undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${PROVIDER_STATE_CHANNEL}`);
      this.client = client;
      // The caches are used only once a notification sent from ANOTHER connection has arrived here: a server that
      // does not deliver them across connections (the embedded PGlite, one shared session) leaves them bypassed.
      void this.sendProbe(probe);
    } catch (err) {
      await client.end().catch(() => undefined);
      this.lost(err);
    }
  }

  private async sendProbe(payload: string): Promise<void> {
    const c = new pg.Client({ connectionString: this.url });
    try {
      await c.connect();
      await notifyChannel(c, PROVIDER_STATE_CHANNEL, payload);
    } catch (err) {
      this.opts.onError?.(err);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  private confirmed(client: pg.Client): void {
    if (this.up || this.client !== client || this.closed) return;
    invalidateProviderState('*');
    this.up = true;
    connected++;
  }

  /** Whether notifications from other connections are arriving (the caches are in use). */
  get listening(): boolean {
    return this.up;
  }

  private lost(err: unknown): void {
    if (this.up) {
      this.up = false;
      connected--;
    }
    this.client = undefined;
    if (err) this.opts.onError?.(err);
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, this.opts.retryMs ?? 5000);
    this.timer.unref();
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    if (this.up) {
      this.up = false;
      connected--;
    }
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
