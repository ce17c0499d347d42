// Plain-JS worker entry for benchmark threads: Node 20 applies no loader hooks to workers, so register tsx here.
import { workerData } from 'node:worker_threads';

(await import('tsx/esm/api')).register();
await import(workerData.script);
