// Plain-JS entry for every Bree worker thread. Node 20 does not apply loader hooks (tsx) to worker threads, so
// this file registers tsx itself when the job is TypeScript, then imports the job module.
// A job module exports `default async (ctx, signal) => result` (jobs/job-types.ts JobFn) and optionally
// `needs = 'database' | 'services'`; this entry runs it with jobs/job-context.ts `runJobModule`, its context built
// from `data.env` by `buildWorkerJobContext` (closed after the run). `ctx.report(obj)` sends `{ type: 'status', ...obj }`.
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
  const { buildWorkerJobContext, runJobModule } = await import(new URL(`./job-context.${ext}`, import.meta.url).href);
  const mod = await import(jobFile);
  const data = { ...workerData, ...(await started) };
  const report = (status) => parentPort.postMessage({ type: 'status', ...status });
  const result = await runJobModule(mod, workerData.job?.name, data, report, buildWorkerJobContext, aborter.signal);
  if (!cancelled) {
    parentPort.postMessage({ type: 'result', result });
    parentPort.postMessage('done');
  }
} catch (e) {
  parentPort.postMessage({ type: 'failed', error: String(e?.stack ?? e) });
  process.exit(1);
}
