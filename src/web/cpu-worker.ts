/**
 * The web page's WebAssembly CPU backend in a dedicated worker (cpu-worker.js beside main.js), so
 * that a prediction on the CPU does not freeze the page: the main thread keeps drawing, hovering
 * and answering while the worker computes. WebGPU stays on the main thread (its work runs on the
 * GPU and is already asynchronous). Protocol and client: cpu-client.ts. Requests are handled one
 * at a time, in order, and each gets one answer.
 */
import { CpuBackend } from '../engine/cpu/backend.js';
import { loadModel } from '../api/load-browser.js';
import type { Predictor } from '../api/predictor.js';
import { type CpuWorkerReply, type CpuWorkerRequest, errorText } from './cpu-client.js';
import { predictGrid } from './predict-grid.js';

const COMMAND = 'web';
const backend = new CpuBackend();
let predictor: Predictor | null = null;

async function handle(req: CpuWorkerRequest): Promise<{ reply: CpuWorkerReply; transfer: Transferable[] }> {
  if (req.type === 'load') {
    predictor?.dispose();
    predictor = null;
    predictor = await loadModel(req.url, { backend, command: COMMAND });
    return { reply: { type: 'loaded' }, transfer: [] };
  }
  if (!predictor) throw new Error('cpu worker: predict before a model was loaded');
  const r = await predictGrid(predictor, req.context, req.label, req.grid);
  // Copies of the two columns, so that their buffers can be handed over whole.
  const mean = Float64Array.from(r.mean), std = Float64Array.from(r.std);
  return { reply: { type: 'predicted', mean, std }, transfer: [mean.buffer, std.buffer] };
}

const scope = self as unknown as Worker;
let queue = Promise.resolve();
scope.onmessage = (ev: MessageEvent<CpuWorkerRequest>) => {
  queue = queue.then(async () => {
    try {
      const { reply, transfer } = await handle(ev.data);
      scope.postMessage(reply, transfer);
    } catch (e) {
      scope.postMessage({ type: 'error', ...errorText(e, COMMAND) } satisfies CpuWorkerReply);
    }
  });
};
