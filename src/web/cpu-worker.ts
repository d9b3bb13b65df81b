/**
 * The web page's WebAssembly CPU backend in a dedicated worker (cpu-worker.js beside main.js), so
 * that a prediction on the CPU does not freeze the page: the main thread keeps drawing, hovering
 * and answering while the worker computes. WebGPU stays on the main thread (its work runs on the
 * GPU and is already asynchronous). Protocol and client: cpu-client.ts. Requests are handled one
 * at a time, in order, and each gets one answer.
 */
import { CpuBackend } from '../engine/cpu/backend.js';
import { loadModel } from '../api/load-browser.js';
import { predictTargets, setContextTable } from '../api/predict-table.js';
import type { Predictor } from '../api/predictor.js';
import { makeTable, numericColumn } from '../data/table.js';
import { type CpuWorkerReply, type CpuWorkerRequest, errorText } from './cpu-client.js';

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
  const p = predictor;
  if (!p) throw new Error('cpu worker: predict before a model was loaded');
  const [sx, sy] = p.layout.coordinates;
  const f = p.layout.values[0]!;
  setContextTable(p, req.context, req.label);
  const grid = makeTable([sx!, sy!], [{ kind: 'number', values: req.grid.x }, { kind: 'number', values: req.grid.y }], 'grid');
  const out = await predictTargets(p, grid, {}, 'grid');
  const mean = Float64Array.from(numericColumn(out, `${f}_mean`));
  const std = Float64Array.from(numericColumn(out, `${f}_std`));
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
