/**
 * Issue #16 point 6: every log line of a run's work carries its run id. A pipeline run against the sandbox with a
 * provider retrying (Yelp answering 503 once) logs from the run, the stages, the gateway and the leases; each line
 * written between "pipeline run started" and "pipeline run finished" must name the run (`runId` = its job_runs id),
 * including the lines of modules that never see the run (the gateway's retry line).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { createLogger } from '../../domain/logger.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Line = { msg: string; runId?: number | string; job?: string; level: number };
type Ctx = { db: Database; services: Services; lines: Line[] };
const t = suite<Ctx>(`a run's log lines carry its run id (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.lines = [];
  ctx.db = await freshDatabase();
  const capture = { write: (chunk: string) => ctx.lines.push(JSON.parse(chunk) as Line) };
  ctx.services = await testServices(ctx.db, { YELP_BATCH_SIZE: '5' }, { logger: createLogger('debug', {}, undefined, capture) });
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});
t.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});

t('every line from start to finish names the run, the gateway retry line included', async (ctx) => {
  await sandboxAdmin(ctx.services.sandboxUrl!).setFault('yelp', { fault: 'server_error', count: 1 });
  try {
    const summary = await runPipeline(pipelineDeps(ctx.services), { trigger: 'test' });
    assert.is(summary.status, 'succeeded', summary.error);
    const start = ctx.lines.findIndex((l) => l.msg === 'pipeline run started');
    const end = ctx.lines.findIndex((l) => l.msg === 'pipeline run finished');
    assert.ok(start >= 0 && end > start, `start ${start}, end ${end}`);
    const during = ctx.lines.slice(start, end + 1);
    assert.ok(during.length >= 5, `${during.length} lines`);
    const without = during.filter((l) => l.runId !== summary.runId);
    assert.equal(without.map((l) => l.msg), [], 'lines without the run id');
    // a line from a module that only knows its own work (the gateway) is among them
    const fromOthers = during.filter((l) => !/^pipeline /.test(l.msg));
    assert.ok(fromOthers.length > 0, during.map((l) => l.msg).join(' | '));
  } finally {
    await sandboxAdmin(ctx.services.sandboxUrl!).clearFaults();
  }
});

t.run();
