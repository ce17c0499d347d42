/**
 * Runs gateway race scripts in worker threads (via entry.mjs): starts one worker per data object, waits until every
 * worker has set itself up, releases them together, and returns their results in order.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const entry = fileURLToPath(new URL('./entry.mjs', import.meta.url));

/** Starts `data.length` workers running `script` (a .ts file next to this one) and collects their results. */
export async function race<R>(script: string, data: Record<string, unknown>[], timeoutMs = 60_000): Promise<R[]> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const workers = data.map((d) => new Worker(entry, { workerData: { ...d, script: path } }));
  let ready = 0;
  const timer = setTimeout(() => workers.forEach((w) => void w.terminate()), timeoutMs);
  try {
    return await Promise.all(
      workers.map(
        (w) =>
          new Promise<R>((resolve, reject) => {
            w.on('message', (m: { type: string; result?: R; error?: string }) => {
              if (m.type === 'ready' && ++ready === workers.length) for (const x of workers) x.postMessage('go');
              else if (m.type === 'result') resolve(m.result as R);
              else if (m.type === 'failed') reject(new Error(m.error));
            });
            w.on('error', reject);
            w.on('exit', (code) => reject(new Error(`worker exited with ${code} before answering`)));
          }),
      ),
    );
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
