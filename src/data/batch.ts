/**
 * The `Batch`: one batch of meta-learning tasks, as consumed by the model, trainer and metrics.
 *
 * All arrays are flat, row-major `Float32Array`s with the shapes noted below (model.md §1):
 *
 *   s_ctx [B,Nc,Ds]  t_ctx [B,Nc,Dt]  x_ctx [B,Nc,Dx]  f_ctx [B,Nc,Df]  mask_ctx [B,Nc] (1 real, 0 pad)
 *   s_test[B,Nt,Ds]  t_test[B,Nt,Dt]  x_test[B,Nt,Dx]  f_test[B,Nt,Df]  mask_test[B,Nt] (optional)
 *
 * A group is present iff its dimension in `dims` is > 0 (`t_*` present iff Dt > 0, `x_*` iff Dx > 0;
 * `s_*` is always present in the tasks of this library, Ds ≥ 1). Padded context rows (mask 0) hold
 * ordinary-looking data (real locations, noisy values), never NaN or sentinel values. Valid context
 * rows are not necessarily a prefix (the Gneiting task pads per frame); `n_ctx[b]` counts them.
 * `mask_test` absent means every test row is valid (true for every task here).
 * For categorical tasks (SIR) `f_*` is one-hot over `Df` classes.
 */
import type { Rng } from '../engine/random.js';
import type { KernelSpec } from './kernels.js';

export interface BatchDims {
  Ds: number;
  Dt: number;
  Dx: number;
  Df: number;
}

export type Likelihood = 'gaussian' | 'categorical';

/** Ground truth of a GP batch, for the exact-posterior oracle (`gpOracle` in tasks.ts). */
export interface GpTruth {
  kernel: KernelSpec;
  /** Std of the Gaussian noise on the context values. */
  noiseStd: number;
  /** Std of the noise on the test targets (0: noiseless latent targets). */
  testNoiseStd: number;
  /** Jitter of the sampler's prior covariance K + jitter·I. */
  jitter: number;
  /** Noiseless latent values at the context rows [B, Nc] (f_ctx minus its noise). */
  latent_ctx: Float32Array;
  /**
   * Per-element ground truth [B] when each batch element has its own hyper-parameters (the
   * gp-mixture task); it overrides `kernel`, `noiseStd`, `testNoiseStd` and `jitter` (which then
   * describe element 0). A space-time kernel (`kernel.time`) reads the locations as [s…, t].
   */
  elements?: GpElementTruth[];
}

/** One batch element's GP: kernel, noise on context and test values, and prior jitter. */
export interface GpElementTruth {
  kernel: KernelSpec;
  noiseStd: number;
  testNoiseStd: number;
  jitter: number;
}

export interface Batch {
  B: number;
  Nc: number;
  Nt: number;
  dims: BatchDims;
  likelihood: Likelihood;
  s_ctx: Float32Array;
  f_ctx: Float32Array;
  mask_ctx: Float32Array;
  s_test: Float32Array;
  f_test: Float32Array;
  t_ctx?: Float32Array;
  t_test?: Float32Array;
  x_ctx?: Float32Array;
  x_test?: Float32Array;
  mask_test?: Float32Array;
  /** Number of valid context rows per element [B]. */
  n_ctx: Int32Array;
  /** The exact GP posterior's mean NLL on this batch, when a data worker computed it already. */
  oracleNll?: number;
  /** Present on GP batches: the true kernel and noise, for `gpOracle`. */
  gp?: GpTruth;
}

/** A seeded batch generator: the same `Rng` state gives the identical batch. */
export type TaskGenerator = (rng: Rng) => Batch;

/**
 * A seeded generator of one batch or a group of batches per key (the SIR task feeds ⌊T/B⌋ batches
 * from one simulation); `BatchStream` (stream.ts) turns it into one batch per step.
 */
export type GroupGenerator = (rng: Rng) => Batch | Batch[];

export class BatchShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchShapeError';
  }
}

/** Checks every array length against B, Nc, Nt and `dims`; throws `BatchShapeError` naming the field. */
export function assertBatch(b: Batch): void {
  const { B, Nc, Nt } = b;
  const { Ds, Dt, Dx, Df } = b.dims;
  const check = (name: string, arr: { length: number } | undefined, want: number, required: boolean): void => {
    if (arr === undefined) {
      if (required) throw new BatchShapeError(`batch: ${name} is missing (expected ${want} entries)`);
      return;
    }
    if (arr.length !== want) throw new BatchShapeError(`batch: ${name} expected ${want} entries, got ${arr.length}`);
  };
  check('s_ctx [B,Nc,Ds]', b.s_ctx, B * Nc * Ds, true);
  check('s_test [B,Nt,Ds]', b.s_test, B * Nt * Ds, true);
  check('f_ctx [B,Nc,Df]', b.f_ctx, B * Nc * Df, true);
  check('f_test [B,Nt,Df]', b.f_test, B * Nt * Df, true);
  check('mask_ctx [B,Nc]', b.mask_ctx, B * Nc, true);
  check('mask_test [B,Nt]', b.mask_test, B * Nt, false);
  check('t_ctx [B,Nc,Dt]', b.t_ctx, B * Nc * Dt, Dt > 0);
  check('t_test [B,Nt,Dt]', b.t_test, B * Nt * Dt, Dt > 0);
  check('x_ctx [B,Nc,Dx]', b.x_ctx, B * Nc * Dx, Dx > 0);
  check('x_test [B,Nt,Dx]', b.x_test, B * Nt * Dx, Dx > 0);
  check('n_ctx [B]', b.n_ctx, B, true);
}

/** Copies batch element `b` out as a batch of one (handy for per-task evaluation and plots). */
export function sliceBatch(batch: Batch, b: number): Batch {
  const { Nc, Nt } = batch;
  const { Ds, Dt, Dx, Df } = batch.dims;
  const part = (arr: Float32Array, rows: number, width: number): Float32Array =>
    arr.slice(b * rows * width, (b + 1) * rows * width);
  const out: Batch = {
    B: 1, Nc, Nt, dims: { ...batch.dims }, likelihood: batch.likelihood,
    s_ctx: part(batch.s_ctx, Nc, Ds), f_ctx: part(batch.f_ctx, Nc, Df), mask_ctx: part(batch.mask_ctx, Nc, 1),
    s_test: part(batch.s_test, Nt, Ds), f_test: part(batch.f_test, Nt, Df),
    n_ctx: Int32Array.of(batch.n_ctx[b]!),
  };
  if (batch.t_ctx && batch.t_test) { out.t_ctx = part(batch.t_ctx, Nc, Dt); out.t_test = part(batch.t_test, Nt, Dt); }
  if (batch.x_ctx && batch.x_test) { out.x_ctx = part(batch.x_ctx, Nc, Dx); out.x_test = part(batch.x_test, Nt, Dx); }
  if (batch.mask_test) out.mask_test = part(batch.mask_test, Nt, 1);
  if (batch.gp) {
    out.gp = { ...batch.gp, latent_ctx: part(batch.gp.latent_ctx, Nc, 1) };
    if (batch.gp.elements) out.gp.elements = [batch.gp.elements[b]!];
  }
  return out;
}
