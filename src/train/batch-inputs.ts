/**
 * Host `Batch` (typed arrays, data/batch.ts) → model inputs (tensors on a backend) and back.
 *
 * Only the groups the model is configured with are uploaded; a batch that lacks one of them, or
 * whose widths disagree with the model (Ds vs groups.s.dims, Df vs the output), is rejected with
 * an error naming both. The returned object owns every tensor it made: call `dispose()`.
 */
import type { Backend } from '../engine/backend.js';
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import type { Batch } from '../data/batch.js';
import { GROUP_NAMES, valueDims, type GroupName, type ModelIo } from '../models/config.js';
import type { Coords, ModelInputs } from '../models/bsa-tnp.js';

export interface BatchTensors extends Disposable {
  inputs: ModelInputs;
  /** Every tensor made, in upload order: the order of `batchArrays`. */
  uploaded: readonly Tensor[];
  /** Test targets [B, Nt, Df]. */
  fTest: Tensor;
  /** [B, Nt] or undefined (all valid). */
  maskTest: Tensor | undefined;
  dispose(): void;
}

export class BatchInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchInputError';
  }
}

function groupArrays(batch: Batch, g: GroupName): { ctx: Float32Array | undefined; test: Float32Array | undefined; dims: number } {
  switch (g) {
    case 's': return { ctx: batch.s_ctx, test: batch.s_test, dims: batch.dims.Ds };
    case 't': return { ctx: batch.t_ctx, test: batch.t_test, dims: batch.dims.Dt };
    case 'x': return { ctx: batch.x_ctx, test: batch.x_test, dims: batch.dims.Dx };
  }
}

/** Checks that `batch` fits `config`; throws `BatchInputError` naming the mismatch. */
export function checkBatchForModel(batch: Batch, config: ModelIo): void {
  const df = valueDims(config);
  if (batch.dims.Df !== df) {
    throw new BatchInputError(`batch: the model expects f of width ${df} (output ${config.output.kind}), the batch has Df = ${batch.dims.Df}`);
  }
  const wantLik = config.output.kind;
  if (batch.likelihood !== wantLik) {
    throw new BatchInputError(`batch: the model has a ${wantLik} output, the batch is ${batch.likelihood}`);
  }
  for (const g of GROUP_NAMES) {
    const gc = config.groups[g];
    if (!gc) continue;
    const a = groupArrays(batch, g);
    if (a.dims !== gc.dims || !a.ctx || !a.test) {
      throw new BatchInputError(`batch: the model expects '${g}' coordinates of width ${gc.dims}, the batch has ${a.dims || 'none'}`);
    }
  }
}

/**
 * Uploads a batch as model inputs.
 *
 * **Arguments**: `batch` (host arrays); `config` the model configuration (selects the groups);
 * `backend` where the tensors go.
 * **Returns** context f [B, Nc, Df], mask [B, Nc], coords per group [B, N, dims], test coords,
 * test targets [B, Nt, Df] and the optional test mask.
 */
export function batchToTensors(batch: Batch, config: ModelIo, backend: Backend): BatchTensors {
  const arrays = batchArrays(batch, config);
  const { B, Nc, Nt } = batch;
  const Df = batch.dims.Df;
  const made: Tensor[] = [];
  let next = 0;
  const up = (shape: number[]) => {
    const t = E.tensor(arrays[next++]!, shape, backend);
    made.push(t);
    return t;
  };
  try {
    const ctxCoords: Coords = {};
    const testCoords: Coords = {};
    for (const g of GROUP_NAMES) {
      const gc = config.groups[g];
      if (!gc) continue;
      ctxCoords[g] = up([B, Nc, gc.dims]);
      testCoords[g] = up([B, Nt, gc.dims]);
    }
    const f = up([B, Nc, Df]);
    const mask = up([B, Nc]);
    const fTest = up([B, Nt, Df]);
    const maskTest = batch.mask_test ? up([B, Nt]) : undefined;
    const dispose = () => { for (const t of made) t.dispose(); };
    return {
      inputs: { ctx: { f, mask, coords: ctxCoords }, test: testCoords },
      uploaded: made, fTest, maskTest, dispose, [Symbol.dispose]: dispose,
    };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

/**
 * The host arrays `batchToTensors` uploads, in its order: per configured group (s, t, x) context
 * then test coordinates, context f, context mask, test f, test mask if any. Checks the batch first.
 */
export function batchArrays(batch: Batch, config: ModelIo): Float32Array[] {
  checkBatchForModel(batch, config);
  const out: Float32Array[] = [];
  for (const g of GROUP_NAMES) {
    if (!config.groups[g]) continue;
    const a = groupArrays(batch, g);
    out.push(a.ctx!, a.test!);
  }
  out.push(batch.f_ctx, batch.mask_ctx, batch.f_test);
  if (batch.mask_test) out.push(batch.mask_test);
  return out;
}
