/**
 * The backend contract: the small, dumb interface every compute backend implements.
 *
 * A backend owns flat float32 storage and runs kernels on it. It knows nothing of shapes beyond
 * the integers each kernel takes, nothing of autodiff and nothing of tensors: `engine/tensor.ts`
 * and `engine/ops.ts` hold shapes, broadcasting, validation and gradients once, for every backend.
 *
 * Contracts shared by every kernel:
 * - All storage is float32, contiguous, row-major. Integers (indices, masks) travel as float32.
 * - Kernels borrow their inputs and return a newly allocated result the caller owns (except the
 *   few `*Into`/in-place kernels, which say so).
 * - Kernels never read back to the host. Only `read` (and `readSync` on the CPU) do.
 * - Every allocation and free goes through `memory` (engine/memory.ts) so tests can assert peak
 *   usage and the size of the largest buffer ever created.
 */

/** Opaque handle to a backend's buffer. Each backend brands its own. */
export interface Storage {
  /** Number of float32 elements. */
  readonly length: number;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'softplus' | 'gelu' | 'relu'
  | 'sigmoid' | 'abs' | 'square' | 'recip' | 'sin' | 'cos' | 'isfinite' | 'sign';

/**
 * Binary ops. Comparisons return 1 or 0. `geluGrad`: a = x, b = dy, result dy * gelu'(x)
 * (tanh approximation, model.md §2).
 */
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow'
  | 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne' | 'geluGrad';

export type ReduceOp = 'sum' | 'max' | 'min';

export interface MatmulArgs {
  /** Number of independent products. */
  batch: number;
  m: number;
  k: number;
  n: number;
  /** A is stored [batch][k][m] instead of [batch][m][k]. */
  transA: boolean;
  /** B is stored [batch][n][k] instead of [batch][k][n]. */
  transB: boolean;
  /** Elements between consecutive batch entries of A (0 broadcasts one A to every batch). */
  strideA: number;
  strideB: number;
  /** Optional [n] vector added to every row of every product (a dense layer's bias, fused). */
  bias?: Storage | null;
  /** Optional [batch, m, n] added to the product after the bias (a residual connection, fused). */
  residual?: Storage | null;
}

export interface AdamWArgs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** Label of the upload that carries `adamwStepScalars` in a recorded step (WebGPU StepRecording). */
export const ADAMW_STEP_LABEL = 'adamw-step';

/**
 * The step-dependent AdamW scalars as the GPU kernel reads them: [lr, 1/(1 − β1^t), 1/(1 − β2^t)]
 * (computed in float64, stored as float32). A replayed training step uploads them for its update.
 */
export function adamwStepScalars(args: AdamWArgs): Float32Array {
  return new Float32Array([args.lr, 1 / (1 - args.beta1 ** args.step), 1 / (1 - args.beta2 ** args.step)]);
}

/** A recorded run of GPU work (Backend.endCapture). */
export interface Recording {
  /** Dispatches per replay. */
  readonly dispatchCount: number;
  /** The input slot that uploaded `storage` during the capture. */
  slotOf(storage: Storage): number;
  /** The input slots uploaded with `label` during the capture (e.g. ADAMW_STEP_LABEL). */
  slotsLabelled(label: string): readonly number[];
  /** Issues the recorded work again, with new data for some input slots (same lengths). */
  replay(inputs?: ReadonlyMap<number, Float32Array>): void;
  /** Benchmarks only: later replays skip the dispatches whose kernel key matches; returns those left. */
  ablate?(skip: RegExp | null): number;
  dispose(): void;
}

export interface Backend {
  /** 'cpu' or 'webgpu'; kernels in `src/kernels` switch on it to reach backend-specific handles. */
  readonly kind: 'cpu' | 'webgpu';
  /** Human-readable device description (adapter name, thread count). */
  readonly description: string;

  // ---- memory ----
  /** New storage of n elements; contents undefined. n may be 0. */
  alloc(n: number): Storage;
  /** Storage holding a copy of `data`. */
  upload(data: Float32Array): Storage;
  /** Releases storage. Freeing twice throws. */
  free(s: Storage): void;
  /** Copies values back to the host (waits for pending GPU work). */
  read(s: Storage): Promise<Float32Array>;
  /** Synchronous read; only backends that can (the CPU) provide it. */
  readSync?(s: Storage): Float32Array;
  /** Waits until all submitted work has finished. */
  sync(): Promise<void>;
  /** Releases every resource (device, workers, pools). */
  destroy(): void;

  // ---- elementwise ----
  fill(n: number, value: number): Storage;
  unary(op: UnaryOp, x: Storage): Storage;
  /**
   * Broadcasting binary op. `aShape`, `bShape` and `outShape` have the same rank; each input dim
   * equals the output dim or is 1 (broadcast).
   */
  binary(op: BinaryOp, a: Storage, aShape: readonly number[], b: Storage, bShape: readonly number[],
    outShape: readonly number[]): Storage;
  /** out = cond != 0 ? a : b, broadcasting as `binary` (all three shapes of the output's rank). */
  where(cond: Storage, cShape: readonly number[], a: Storage, aShape: readonly number[],
    b: Storage, bShape: readonly number[], outShape: readonly number[]): Storage;

  // ---- reductions ----
  /** View x as [outer, r, inner] and reduce the middle axis: result [outer, inner]. */
  reduce(op: ReduceOp, x: Storage, outer: number, r: number, inner: number): Storage;

  // ---- movement ----
  /**
   * Gathers a strided view into a new contiguous buffer:
   * out[i0..] = x[offset + Σ_d i_d·strides[d]] for the index space `shape`. Strides may be 0
   * (broadcast). Covers permute, slice and expand.
   */
  strided(x: Storage, shape: readonly number[], strides: readonly number[], offset: number): Storage;
  /**
   * In place: writes contiguous `src` (of size prod(shape)) into `dst` at the strided view
   * (shape, strides, offset). Views written must not overlap themselves. Used by concat and by
   * slice's gradient.
   */
  stridedWrite(dst: Storage, src: Storage, shape: readonly number[], strides: readonly number[],
    offset: number): void;
  /** Rows of a [V, D] table: out[i] = table[idx[i]] for idx of length n (float-coded ints). */
  gather(table: Storage, V: number, D: number, idx: Storage, n: number): Storage;
  /** Gradient of gather: out [V, D] with out[v] = Σ_{i: idx[i] = v} g[i]. */
  scatterAdd(g: Storage, idx: Storage, n: number, V: number, D: number): Storage;

  // ---- linear algebra ----
  /** C[batch, m, n] = op(A) · op(B). */
  matmul(a: Storage, b: Storage, args: MatmulArgs): Storage;
  /**
   * Optional: the product (batch 1, no bias) and the column sums of op(B), Σ_k op(B)[k][n], from one
   * pass over B where the backend can (a dense layer's weight and bias gradients, xᵀ·g and Σ_rows g).
   */
  matmulColSums?(a: Storage, b: Storage, args: MatmulArgs): { c: Storage; sums: Storage };
  /**
   * Optional: z = op(A)·op(B) (+ bias, no residual) and y = gelu(z) (tanh form) from one kernel
   * where the backend can (a dense layer with its activation; z is what the backward needs).
   */
  matmulGelu?(a: Storage, b: Storage, args: MatmulArgs): { z: Storage; y: Storage };

  // ---- fused rows ----
  /**
   * Layer norm over the last axis of x [rows, cols]: y = (x − mean)·rstd·gamma + beta,
   * rstd = 1/sqrt(var + eps) (biased variance). Also returns mean and rstd [rows] for backward.
   */
  layerNorm(x: Storage, gamma: Storage, beta: Storage, rows: number, cols: number, eps: number):
    { y: Storage; mean: Storage; rstd: Storage };
  /**
   * Gradients of layerNorm: dx [rows, cols] (plus `acc` [rows, cols] when given: a gradient of x
   * collected elsewhere, summed in the same pass), dgamma [cols], dbeta [cols].
   */
  layerNormBackward(dy: Storage, x: Storage, gamma: Storage, mean: Storage, rstd: Storage,
    rows: number, cols: number, acc?: Storage | null): { dx: Storage; dgamma: Storage; dbeta: Storage };
  /** Softmax over the last axis of x [rows, cols]. */
  softmax(x: Storage, rows: number, cols: number): Storage;
  /** Log-softmax over the last axis of x [rows, cols]. */
  logSoftmax(x: Storage, rows: number, cols: number): Storage;

  // ---- random ----
  /**
   * Counter-based random numbers (engine/random.ts defines the exact algorithm, Threefry-2x32-20
   * keyed by `key`, counters offset..offset+n−1): every backend gives the same values.
   */
  random(dist: 'uniform' | 'normal', n: number, key: readonly [number, number], offset: number): Storage;

  // ---- optimiser ----
  /**
   * In place AdamW (decoupled weight decay) on n elements of p, m, v with gradient g scaled by
   * gScale[0] (global-norm clipping factor computed on the device; null = 1). A gScale[0] that is
   * not finite (NaN, ±∞) skips the update: p, m and v are left unchanged (the trainer's guard
   * against a non-finite gradient, train/optimizer.ts `clipScale`).
   */
  adamw(p: Storage, g: Storage, m: Storage, v: Storage, gScale: Storage | null, args: AdamWArgs): void;
  /** `adamw` on every (ps[i], gs[i], ms[i], vs[i]) with one gScale: a few kernels for all of them. */
  adamwMany(ps: readonly Storage[], gs: readonly Storage[], ms: readonly Storage[], vs: readonly Storage[],
    gScale: Storage | null, args: AdamWArgs): void;
  /**
   * Optional (WebGPU): record the GPU work of some code and replay it without the code. See
   * `Recording` and webgpu/recording.ts. `endCapture(external)`: the storages the recording uses
   * in place (they must stay alive); every other buffer it touched is its own until `dispose`.
   */
  beginCapture?(): void;
  abortCapture?(): void;
  endCapture?(external: readonly Storage[]): Recording;
  /**
   * Sum of squares of the first `ns[i]` elements of each `xs[i]` (borrowed): a new [xs.length]
   * storage, with no intermediate tensors (global-norm clipping of every gradient at once; the
   * WebGPU backend reduces several tensors per kernel).
   */
  sumSquares(xs: readonly Storage[], ns: readonly number[]): Storage;
}

/** Thrown when a backend cannot run a requested kernel. */
export class UnsupportedKernelError extends Error {
  constructor(backend: string, kernel: string) {
    super(`${kernel}: not supported by the ${backend} backend`);
    this.name = 'UnsupportedKernelError';
  }
}
