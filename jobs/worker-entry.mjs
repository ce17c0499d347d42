// Plain-JS entry for every Bree worker thread. Node 20 does not apply loader hooks (tsx) to worker threads, so
// this file registers tsx itself when the job is TypeScript, then imports the job module.
// A job module exports `default async (data, report) => result`; `report(obj)` sends `{ type: 'status', ...obj }`.
import { parentPort, workerData } from 'node:worker_threads';

const { jobFile } = workerData;
let cancelled = false;
parentPort.on('message', (m) => {
  // Answer Bree's graceful stop at once so bree.stop() never waits forever; the main thread marks the run.
  if (m === 'cancel') {
    cancelled = true;
    parentPort.postMessage('cancelled');
  }
});
try {
  if (jobFile.endsWith('.ts')) (await import('tsx/esm/api')).register();
  // the same module the job's loggers read (domain/log-context): every line of the run carries its job and run id
  const { withLogContext } = await import(new URL(`../domain/log-context.${jobFile.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url).href);
  const mod = await import(jobFile);
  const context = { job: workerData.job?.name, runId: workerData.runId };
  const result = await withLogContext(context, () =>
    mod.default(workerData, (status) => parentPort.postMessage({ type: 'status', ...status })),
  );
  if (!cancelled) {
    parentPort.postMessage({ type: 'result', result });
    parentPort.postMessage('done');
  }
} catch (e) {
  parentPort.postMessage({ type: 'failed', error: String(e?.stack ?? e) });
  process.exit(1);
}
