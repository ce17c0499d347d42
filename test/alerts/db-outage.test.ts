/**
 * The notification path survives the outage it reports (issue 13, point 3, Slack side): the service's pool and the
 * database watch reach PostgreSQL through a TCP proxy; the proxy cuts every connection. DatabaseUnavailable reaches
 * the fake Slack while the database is still away, as does a critical ops event whose insert failed (a breaker
 * trip); when the proxy lets connections through again both are written to the outbox once, as sent (not posted
 * again), the outage post gets one thread reply and one edit, and no alert or incident is made for an outage that
 * is over.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { webApi } from '@slack/bolt';
import { openDatabase, type Database } from '../../db/orm.js';
import { systemClock } from '../../domain/clock.js';
import { loadConfig } from '../../domain/config.js';
import { recordOpsEvent, setOpsEventFallback } from '../../domain/events.js';
import { createLogger } from '../../domain/logger.js';
import { createDbWatch, pgPing } from '../../alerts/db-watch.js';
import { spoolOpsEvents } from '../../alerts/notifier.js';
import { createOpsSpool } from '../../alerts/ops-spool.js';
import { createSlackPoster, webClientTransport } from '../../alerts/slack-outbox.js';
import { renderSlackMessage } from '../../bot/render/slack-messages.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { startFakeSlackApi } from '../helpers/slack.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const test = suite(`database outage: ops posts from the spool (${DB_KIND})`);
const logger = createLogger('silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('DatabaseUnavailable and a breaker trip reach Slack during the outage, are written to the outbox once after it', async () => {
  const db: Database = await freshDatabase();
  const proxy = await startTcpProxy(db.url);
  const proxied = await openDatabase({ url: proxy.url, dataDir: ':memory:', poolMax: 3 });
  const fake = await startFakeSlackApi();
  const client = new webApi.WebClient('xoxb-test', { slackApiUrl: fake.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 }, timeout: 2000 });
  const transport = webClientTransport(client);
  const spool = createOpsSpool({ transport, logger, clock: systemClock, render: renderSlackMessage });
  setOpsEventFallback(spoolOpsEvents(spool, loadConfig({ SLACK_STATUS_CHANNEL: '#status', SLACK_ALERTS_CHANNEL: '#alerts' })));
  const watch = createDbWatch({ ping: () => pgPing(proxy.url, 1000), em: () => proxied.orm.em.fork(), spool, logger, clock: systemClock, channel: '#alerts', intervalMs: 200 });
  const poster = createSlackPoster({ orm: proxied.orm, logger, clock: systemClock, transport, render: renderSlackMessage, intervalMs: 100, channelGapMs: 0 });
  try {
    spool.start();
    watch.start();
    poster.start();
    await proxied.orm.em.getConnection().execute('select 1');
    proxy.cut();
    const cutAt = Date.now();
    const trip = { type: 'breaker.opened', severity: 'critical' as const, dedupKey: 'breaker.opened:yelp:7', payload: { provider: 'yelp', reason: '5 consecutive failures', lastError: 'HTTP 503' } };
    await recordOpsEvent(proxied.orm.em.fork(), trip, new Date()).then(
      () => assert.unreachable('the insert cannot succeed through a cut proxy'),
      () => undefined,
    );
    const down = await fake.waitFor((c) => c.method === 'chat.postMessage' && /DatabaseUnavailable/.test(String(c.body.text)), 60_000);
    const tripPost = await fake.waitFor((c) => c.method === 'chat.postMessage' && /yelp OPENED|Circuit breaker for yelp/.test(String(c.body.text)), 10_000);
    assert.ok(proxy.isCut(), 'both reached Slack while the database was still away');
    console.log(`  DatabaseUnavailable reached the fake Slack ${down.at - cutAt} ms after the cut; the breaker trip ${tripPost.at - cutAt} ms`);
    assert.ok(down.at - cutAt <= 60_000);

    proxy.restore();
    for (let i = 0; i < 100 && (await watch.check()) !== 'up'; i++) await sleep(100);
    const edit = await fake.waitFor((c) => c.method === 'chat.update' && /RESOLVED/.test(String(c.body.text)), 15_000);
    const reply = await fake.waitFor((c) => c.method === 'chat.postMessage' && /Database back/.test(String(c.body.text)), 15_000);
    const conn = db.orm.em.getConnection();
    // the poster marks a row sent right after Slack's answer
    for (let i = 0; i < 50 && (await conn.execute<{ n: number }[]>('select count(*)::int as n from slack_outbox where sent_at is null'))[0]!.n > 0; i++) await sleep(100);
    const rows = await conn.execute<{ dedup_key: string; kind: string; origin: string | null; sent_at: Date | null }[]>(`select dedup_key, kind, origin, sent_at from slack_outbox order by id`);
    const spooled = rows.filter((r) => r.origin === 'spool');
    assert.is(spooled.length, 2, 'the outage post and the trip, once each');
    assert.ok(spooled.every((r) => r.sent_at), 'written as sent');
    assert.ok(rows.every((r) => r.sent_at), 'the reply and the edit were delivered too');
    const posted = await conn.execute<{ ts: string }[]>(`select ts from slack_messages where ref like 'db-outage:%'`);
    assert.is(reply.body.thread_ts, posted[0]!.ts, 'the reply is in the thread of the spooled post');
    assert.is(edit.body.ts, posted[0]!.ts, 'the edit is of the spooled post');
    const events = await conn.execute<{ posted_at: Date | null }[]>(`select posted_at from ops_events where dedup_key = 'breaker.opened:yelp:7'`);
    assert.ok(events[0]?.posted_at, 'the trip is stored as already posted: the notifier will not post it again');
    assert.is(fake.calls.filter((c) => c.method === 'chat.postMessage' && /DatabaseUnavailable|Circuit breaker for yelp/.test(String(c.body.text))).length, 2, 'nothing re-posted');
    const [counts] = await conn.execute<{ alerts: number; incidents: number }[]>(`select (select count(*) from alerts)::int as alerts, (select count(*) from incidents)::int as incidents`);
    assert.equal(counts, { alerts: 0, incidents: 0 }, 'no alert, no SEV2 for an outage that is over');
  } finally {
    setOpsEventFallback(undefined);
    watch.stop();
    spool.stop();
    await poster.stop().catch(() => undefined);
    await fake.close();
    await proxied.close();
    await proxy.close();
    await db.close();
  }
});

test.run();
