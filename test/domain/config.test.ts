import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEV_SIGNING_SECRET, loadConfig } from '../../domain/config.js';
import { deadlineMsOf } from '../../domain/gateway/config.js';
import { ConfigError } from '../../domain/errors.js';

const config = suite('config');

config('an empty environment gives the embedded, sandboxed development defaults', () => {
  const c = loadConfig({});
  assert.is(c.env, 'development');
  assert.is(c.port, 3000);
  assert.is(c.db.url, undefined);
  assert.is(c.db.dataDir, '.data');
  assert.is(c.slack.signingSecret, DEV_SIGNING_SECRET);
  assert.is(c.pipeline.yelpBatchSize, 50);
  assert.is(c.pipeline.cron, '0 2 * * *');
  assert.is(c.pipeline.runOnStart, true);
  assert.ok(c.usesSandbox);
  assert.ok(Object.values(c.providers).every((p) => p.sandbox));
});

config('every malformed value is reported at once, by name', () => {
  let err: unknown;
  try {
    loadConfig({ PORT: 'abc', YELP_BATCH_SIZE: '0', DATABASE_URL: 'not a url', RUN_ON_START: 'maybe' });
  } catch (e) {
    err = e;
  }
  assert.instance(err, ConfigError);
  const text = (err as ConfigError).message;
  for (const name of ['PORT', 'YELP_BATCH_SIZE', 'DATABASE_URL', 'RUN_ON_START']) assert.match(text, name);
  assert.is((err as ConfigError).problems.length, 4);
});

config('production refuses the sandbox and the development signing secret', () => {
  let err: unknown;
  try {
    loadConfig({ NODE_ENV: 'production', YELP_API_KEY: 'k' });
  } catch (e) {
    err = e;
  }
  assert.instance(err, ConfigError);
  const text = (err as ConfigError).message;
  assert.match(text, 'SLACK_SIGNING_SECRET');
  assert.match(text, 'PAGESPEED_API_KEY');
  assert.match(text, 'STRIPE_SECRET_KEY');
  assert.match(text, 'UNSUBSCRIBE_SECRET');
  assert.match(text, 'STRIPE_WEBHOOK_SECRET');
  assert.match(text, 'REPORT_LINK_SECRET');
  assert.not.match(text, 'YELP_API_KEY');
});

config('a provider with a key is not sandboxed and run-on-start is off in production', () => {
  const c = loadConfig({
    NODE_ENV: 'production',
    SLACK_SIGNING_SECRET: 's',
    YELP_API_KEY: 'y',
    PAGESPEED_API_KEY: 'p',
    OPENAI_API_KEY: 'o',
    SENDGRID_API_KEY: 'sg',
    STRIPE_SECRET_KEY: 'sk',
    UNSUBSCRIBE_SECRET: 'u',
    SENDGRID_WEBHOOK_PUBLIC_KEY: 'k',
    STRIPE_WEBHOOK_SECRET: 'whsec_x',
    REPORT_LINK_SECRET: 'r',
  });
  assert.not.ok(c.usesSandbox);
  assert.is(c.pipeline.runOnStart, false);
});

config('PageSpeed has its own attempt timeout and deadline (Lighthouse runs take up to a minute); the others keep theirs', () => {
  const c = loadConfig({});
  assert.equal(c.providerTimeouts, { yelp: 30_000, pagespeed: 90_000, openai: 30_000, sendgrid: 30_000, stripe: 30_000 });
  assert.is(deadlineMsOf(c.gateway, 'pagespeed'), 180_000, 'twice its attempt timeout: a timed-out attempt can be retried once');
  assert.is(deadlineMsOf(c.gateway, 'yelp'), 60_000);
  assert.is(c.stages.pagespeedTimeoutMs, 180_000, 'the assessor waits as long as the gateway may');
  const set = loadConfig({ PAGESPEED_TIMEOUT_MS: '20000', GATEWAY_DEADLINE_MS: '50000', PROVIDER_TIMEOUT_MS: '5000' });
  assert.is(set.providerTimeouts.pagespeed, 20_000);
  assert.is(set.providerTimeouts.openai, 5_000);
  assert.is(deadlineMsOf(set.gateway, 'pagespeed'), 50_000, 'never below GATEWAY_DEADLINE_MS');
  assert.is(deadlineMsOf(loadConfig({ PAGESPEED_DEADLINE_MS: '100000' }).gateway, 'pagespeed'), 100_000);
  assert.is(deadlineMsOf(loadConfig({ PAGESPEED_DEADLINE_MS: '' }).gateway, 'pagespeed'), 180_000, 'empty = the default');
});

config.run();
