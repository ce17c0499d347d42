/** One benchmark child process (`bench gateway`, the 2-process case): like gateway-thread.ts over IPC. */
import { hammer, loadServices } from './gateway-load.js';

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 10);
const services = await loadServices(process.env as Record<string, string>, concurrency);
process.send!({ ready: true });
const endAt = await new Promise<number>((resolve) => process.once('message', (m: { endAt: number }) => resolve(m.endAt)));
process.send!(await hammer(services, concurrency, endAt));
await services.close();
process.disconnect();
