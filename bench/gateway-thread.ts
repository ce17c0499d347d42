/**
 * One benchmark worker thread (or child process, see gateway-proc.ts): runs {@link hammer} when told the window's
 * end time, reports its counts, then closes its services.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hammer, loadServices } from './gateway-load.js';

const { env, concurrency } = workerData as { env: Record<string, string>; concurrency: number };
const services = await loadServices(env, concurrency);
parentPort!.postMessage({ ready: true });
const endAt = await new Promise<number>((resolve) => parentPort!.once('message', (m: { endAt: number }) => resolve(m.endAt)));
parentPort!.postMessage(await hammer(services, concurrency, endAt));
await services.close();
