// Plain-JS entry for the gateway race tests' worker threads. Node 20 does not apply tsx's loader to worker threads,
// so register it here, then run the TypeScript script named in workerData.script: `default(workerData, signal)`.
// Protocol: the worker posts { type: 'ready' } once set up, waits for 'go', then posts { type: 'result', result }.
import { parentPort, workerData } from 'node:worker_threads';

try {
  (await import('tsx/esm/api')).register();
  const mod = await import(workerData.script);
  const go = new Promise((resolve) => parentPort.once('message', resolve));
  const result = await mod.default(workerData, async () => {
    parentPort.postMessage({ type: 'ready' });
    await go;
  });
  parentPort.postMessage({ type: 'result', result });
} catch (e) {
  parentPort.postMessage({ type: 'failed', error: String(e?.stack ?? e) });
}
