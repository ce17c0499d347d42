/**
 * A run that finished with failures is posted as a warning (issue #14 point 5): SendGrid refusing its key during a
 * run → `pipeline.run_finished` with severity `warning`, the failures in its payload, and a status text that says so.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventText, formatOpsEvent } from '../../alerts/format.js';
import type { IOpsEvent } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services };
const t = suite<Ctx>(`a run with failures is a warning (${DB_KIND})`);
t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { YELP_BATCH_SIZE: '7' });
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});
t.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});

t('SendGrid answering 401 during a run: the run finishes, posted as a warning naming the send failures', async (ctx) => {
  await sandboxAdmin(ctx.services.sandboxUrl!).setFault('sendgrid', { fault: 'invalid_key' });
  try {
    const summary = await runPipeline(pipelineDeps(ctx.services), { trigger: 'test' });
    assert.is(summary.status, 'succeeded', summary.error);
    assert.ok(summary.counts.send_failed > 0 && summary.counts.emailed === 0, JSON.stringify(summary.counts));
    const [ev] = await ctx.db.orm.em
      .getConnection()
      .execute<IOpsEvent[]>("select type, severity, payload, created_at as \"createdAt\" from ops_events where type = 'pipeline.run_finished'");
    assert.is(ev!.severity, 'warning');
    assert.equal((ev!.payload as { failures: unknown }).failures, { send_failed: summary.counts.send_failed });
    assert.match(eventText(ev!), new RegExp(`finished WITH FAILURES \\(${summary.counts.send_failed} send failures\\)`));
    assert.match(formatOpsEvent({ ...ev!, createdAt: new Date(ev!.createdAt) }).text, /^:warning: /);
  } finally {
    await sandboxAdmin(ctx.services.sandboxUrl!).clearFaults();
  }
});

t.run();
