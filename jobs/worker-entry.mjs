// Plain-JS entry for every Bree worker thread. Node 20 does not apply loader hooks (tsx) to worker threads, so
// this file registers tsx itself when the job is TypeScript, then imports the job module.
// A job module exports `default async (ctx, signal) => result` (jobs/job-types.ts JobFn) and optionally
// `needs = 'database' | 'services'`; this entry builds the run's context from `data.env` with
// jobs/job-context.ts `buildWorkerJobContext` (closed after the run). `ctx.report(obj)` sends `{ type: 'status', ...obj }`.
// The run's data (trigger, busy jobs, log run id, env) arrives as the scheduler's first message `{ type: 'start', data }`,
// posted when Bree created the worker (jobs/scheduler.ts); Bree's own `workerData` carries the job and `jobFile`.
import { parentPort, workerData } from 'node:worker_threads';

const { jobFile } = workerData;
const aborter = new AbortController();
let cancelled = false;
const started = new Promise((resolve) => {
  parentPort.on('message', (m) => {
    // Answer Bree's graceful stop at once so bree.stop() never waits forever; the main thread marks the run.
    if (m === 'cancel') {
      cancelled = true;
      aborter.abort(new Error('cancelled'));
      parentPort.postMessage('cancelled');
    } else if (m && typeof m === 'object' && m.type === 'start') resolve(m.data);
  });
});
try {
  const ext = jobFile.endsWith('.ts') ? 'ts' : 'js';
  if (ext === 'ts') (await import('tsx/esm/api')).register();
  // the same module the job's loggers read (domain/log-context): every line of the run carries its job and run id
  const { withLogContext } = await import(new URL(`../domain/log-context.${ext}`, import.meta.url).href);
  const { buildWorkerJobContext } = await import(new URL(`./job-context.${ext}`, import.meta.url).href);
  const mod = await import(jobFile);
  const data = { ...workerData, ...(await started) };
  const name = workerData.job?.name;
  const report = (status) => parentPort.postMessage({ type: 'status', ...status });
  const result = await withLogContext({ job: name, runId: data.runId }, async () => {
    const { ctx, close } = await buildWorkerJobContext(name, data, report, mod.needs ?? 'database');
    try {
      return await mod.default(ctx, aborter.signal);
    } finally {
      await close();
    }
  });
  if (!cancelled) {
    parentPort.postMessage({ type: 'result', result });
    parentPort.postMessage('done');
  }
} catch (e) {
  parentPort.postMessage({ type: 'failed', error: String(e?.stack ?? e) });
  process.exit(1);
}
