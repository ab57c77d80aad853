import { parentPort, workerData } from 'node:worker_threads';
import {
  batchBuffers,
  gatherBatch,
  makeSampler,
  openForWorker,
  type PrefetchInit,
  type PrefetchReply,
  type PrefetchRequest,
} from './prefetch.js';

// BatchPrefetcher's worker: one store and one sampler of its own, batches in request order;
// a failure comes back as a message naming it, never as an uncaught throw.
const init = workerData as PrefetchInit;
type Ready = { store: ReturnType<typeof openForWorker>; sampler: ReturnType<typeof makeSampler> };
// Opened at once (its content check overlaps the trainer's own setup); a failure is kept and
// reported with the first request.
let ready: Ready | null = null;
let failed: Error | null = null;
try {
  const store = openForWorker(init);
  ready = { store, sampler: makeSampler(store, init.spec) };
} catch (err) {
  failed = err as Error;
}

parentPort!.on('message', (m: PrefetchRequest) => {
  if (m.type === 'close') {
    ready?.store.close();
    parentPort!.close();
    return;
  }
  try {
    if (!ready) throw failed!;
    const batch = gatherBatch(ready.store, ready.sampler, m.epoch, m.b);
    parentPort!.postMessage({ type: 'batch', batch } satisfies PrefetchReply, batchBuffers(batch));
  } catch (err) {
    parentPort!.postMessage({ type: 'error', message: (err as Error).message } satisfies PrefetchReply);
  }
});
