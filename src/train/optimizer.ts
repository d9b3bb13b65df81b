/**
 * The optimiser of model.md §7 / experiments.md §1: clip the gradient to a global L2 norm, then
 * AdamW with decoupled weight decay on every parameter.
 *
 * Clipping stays on the device: ‖g‖ = sqrt(Σ_i sum(g_i²)) is a 1-element tensor and the scale
 * min(1, maxNorm / (‖g‖ + tiny)) is handed to `backend.adamw` as `gScale`, so a training step
 * never waits for the device. The same scale is the guard against a non-finite step: NaN when ‖g‖
 * (or the loss) is not finite, and the backend then leaves parameters and moments unchanged.
 * The first and second moments `m`, `v` are tensors beside the parameters (same order, same
 * shapes); `step` counts completed updates (bias correction uses step + 1 for the update in
 * progress).
 */
import type { AdamWArgs, Backend } from '../engine/backend.js';
import * as E from '../engine/ops.js';
import { keep, Tensor, tidy } from '../engine/tensor.js';
import { learningRate, type TrainConfig } from '../models/config.js';
import { biasParam } from '../nn/bias.js';

/** Added to the norm before dividing, so an all-zero gradient gives scale 1, not NaN. */
export const CLIP_TINY = 1e-12;

export interface AdamWConfig {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Global L2 norm the gradient is clipped to (Infinity: no clipping). */
  readonly clipNorm: number;
  /**
   * Optional learning-rate multiplier per parameter (same order as the parameters; absent: all 1).
   * Parameters of one multiplier are updated together, with lr × multiplier.
   */
  readonly lrScales?: readonly number[];
}

/**
 * The optimiser fields of a training configuration. With `names` (the parameters' names, in order)
 * and a `biasLrScale` other than 1, the attention-bias parameters (a, b, c of every block; nn/bias.ts
 * `biasParam`) get that learning-rate multiplier.
 */
export function adamWConfig(c: TrainConfig, names?: readonly string[]): AdamWConfig {
  const base = { beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay, clipNorm: c.clipNorm };
  const k = c.biasLrScale ?? 1;
  if (k === 1 || names === undefined) return base;
  return { ...base, lrScales: names.map((n) => (biasParam(n) !== null ? k : 1)) };
}

/**
 * Global L2 norm of a list of tensors, on the device.
 *
 * **Returns** a tensor of shape [1]: sqrt(Σ_i Σ_j g_ij²).
 */
export function globalNorm(grads: readonly Tensor[]): Tensor {
  if (grads.length === 0) throw new RangeError('globalNorm: expected at least one tensor, got none');
  const b = grads[0]!.backend;
  for (const g of grads) {
    if (g.backend !== b) throw new RangeError('globalNorm: expected every tensor on one backend');
  }
  // One sum-of-squares kernel per tensor into one [n] vector (backend.sumSquares), then one sum.
  return tidy(() => {
    const parts = Tensor.fromStorage(b, b.sumSquares(grads.map((g) => g.storage('globalNorm')), grads.map((g) => g.size)), [grads.length]);
    return E.sqrt(E.reshape(E.sum(parts), [1]));
  });
}

/**
 * Clipping factor min(1, maxNorm / (‖g‖ + tiny)) as a [1] tensor on the device (1 when `maxNorm` is
 * Infinity); multiplying every gradient by it gives a global norm of at most `maxNorm`. It is NaN
 * when ‖g‖ is not finite (a NaN or ±∞ gradient entry, or Σg² past float32's range) or when the
 * optional `loss` ([1] or scalar) is not finite: `backend.adamw` then skips the update.
 */
export function clipScale(grads: readonly Tensor[], maxNorm: number, loss?: Tensor): Tensor {
  return tidy(() => {
    const norm = globalNorm(grads);
    let ok = E.isfinite(norm);
    if (loss) ok = E.mul(ok, E.isfinite(E.reshape(loss, [1])));
    const scale = Number.isFinite(maxNorm) ? E.minimum(E.div(maxNorm, E.add(norm, CLIP_TINY)), 1) : E.onesLike(norm);
    return E.where(ok, scale, NaN);
  });
}

/** Moments of one optimiser, as host arrays (for checkpoints). */
export interface AdamWState {
  /** Completed updates. */
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class OptimizerStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptimizerStateError';
  }
}

/**
 * AdamW over a fixed list of parameter tensors, updated in place.
 *
 * Update for step t = step + 1 (per element, g already scaled by the clip factor c):
 *   m ← β1·m + (1 − β1)·c·g;   v ← β2·v + (1 − β2)·(c·g)²
 *   p ← p − lr·( (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε) + λ·p )
 */
export class AdamW implements Disposable {
  readonly config: AdamWConfig;
  readonly m: Tensor[];
  readonly v: Tensor[];
  private steps: number;
  private readonly backend: Backend;

  /** Parameter indices per learning-rate multiplier, in the order the updates run. */
  private readonly groups: { scale: number; idx: number[] }[];

  private constructor(config: AdamWConfig, backend: Backend, m: Tensor[], v: Tensor[], step: number) {
    const scales = config.lrScales;
    if (scales !== undefined && (scales.length !== m.length || scales.some((x) => !(x > 0 && Number.isFinite(x))))) {
      throw new OptimizerStateError(`AdamW: expected ${m.length} positive finite lrScales, got ${scales.length}`);
    }
    const groups: { scale: number; idx: number[] }[] = [];
    for (let i = 0; i < m.length; i++) {
      const sc = scales?.[i] ?? 1;
      let g = groups.find((x) => x.scale === sc);
      if (!g) groups.push(g = { scale: sc, idx: [] });
      g.idx.push(i);
    }
    this.groups = groups;
    this.config = config;
    this.backend = backend;
    this.m = m;
    this.v = v;
    this.steps = step;
  }

  /** Fresh optimiser: zero moments shaped like `params`. */
  static create(params: readonly Tensor[], config: AdamWConfig): AdamW {
    const backend = sameBackend(params);
    const m = params.map((p) => keep(E.zerosLike(p)));
    const v = params.map((p) => keep(E.zerosLike(p)));
    return new AdamW(config, backend, m, v, 0);
  }

  /** Restores moments saved by `state()`; shapes must match `params`. */
  static fromState(params: readonly Tensor[], config: AdamWConfig, state: AdamWState): AdamW {
    const backend = sameBackend(params);
    if (state.m.length !== params.length || state.v.length !== params.length) {
      throw new OptimizerStateError(`AdamW.fromState: expected ${params.length} moment pairs, got m ${state.m.length}, v ${state.v.length}`);
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new OptimizerStateError(`AdamW.fromState: expected a non-negative integer step, got ${state.step}`);
    }
    const up = (a: Float32Array, p: Tensor, what: string, i: number) => {
      if (a.length !== p.size) throw new OptimizerStateError(`AdamW.fromState: ${what}[${i}] has ${a.length} values, parameter has ${p.size}`);
      return keep(E.tensor(a, p.shape, backend));
    };
    return new AdamW(config, backend, state.m.map((a, i) => up(a, params[i]!, 'm', i)),
      state.v.map((a, i) => up(a, params[i]!, 'v', i)), state.step);
  }

  /** Completed updates. */
  get step(): number {
    return this.steps;
  }

  /**
   * One update of every parameter, in place: clip (device-side), then AdamW with learning rate `lr`.
   * `grads` are borrowed (the caller disposes them). When the gradient (or the optional `loss`) is
   * not finite the update is skipped on the device: parameters and moments stay as they were (the
   * step still counts, so the schedule moves on). Nothing is read back.
   */
  update(params: readonly Tensor[], grads: readonly Tensor[], lr: number, loss?: Tensor): void {
    this.guardedUpdate(params, grads, lr, loss).dispose();
  }

  /**
   * `update`, returning (owned by the caller) a [1] tensor on the device: 1 when the update was
   * applied, 0 when it was skipped because the gradient or `loss` was not finite.
   */
  guardedUpdate(params: readonly Tensor[], grads: readonly Tensor[], lr: number, loss?: Tensor): Tensor {
    if (grads.length !== params.length || params.length !== this.m.length) {
      throw new OptimizerStateError(`AdamW.update: expected ${this.m.length} params and grads, got ${params.length} and ${grads.length}`);
    }
    for (let i = 0; i < params.length; i++) {
      if (grads[i]!.shape.join() !== params[i]!.shape.join()) {
        throw new OptimizerStateError(`AdamW.update: grads[${i}] has shape [${grads[i]!.shape.join(', ')}], param has [${params[i]!.shape.join(', ')}]`);
      }
    }
    const scale = keep(clipScale(grads, this.config.clipNorm, loss));
    let applied: Tensor;
    try {
      const args = this.nextArgs(lr);
      for (const { scale: k, idx } of this.groups) {
        const pick = (ts: readonly Tensor[]) => idx.map((i) => ts[i]!.storage('adamw'));
        this.backend.adamwMany(pick(params), pick(grads), pick(this.m), pick(this.v), scale.storage('adamw'),
          k === 1 ? args : { ...args, lr: lr * k });
      }
      applied = E.isfinite(scale);
    } finally {
      scale.dispose();
    }
    this.steps++;
    return applied;
  }

  /** The kernel arguments of the next update with learning rate `lr` (step = completed + 1). */
  nextArgs(lr: number): AdamWArgs {
    return { lr, beta1: this.config.beta1, beta2: this.config.beta2, eps: this.config.eps, weightDecay: this.config.weightDecay, step: this.steps + 1 };
  }

  /** The learning-rate multiplier of each backend update of one step, in order (one adamwMany each). */
  get updateScales(): number[] {
    return this.groups.map((g) => g.scale);
  }

  /** Counts an update that ran without `update` (a replayed training step, see Trainer). */
  countReplayedUpdate(): void {
    this.steps++;
  }

  /** Copies the moments to the host. */
  async state(): Promise<AdamWState> {
    return {
      step: this.steps,
      m: await Promise.all(this.m.map((t) => t.data())),
      v: await Promise.all(this.v.map((t) => t.data())),
    };
  }

  dispose(): void {
    for (const t of this.m) t.dispose();
    for (const t of this.v) t.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function sameBackend(params: readonly Tensor[]): Backend {
  const b = params[0]?.backend;
  if (!b) throw new OptimizerStateError('AdamW: expected at least one parameter, got none');
  for (const p of params) if (p.backend !== b) throw new OptimizerStateError('AdamW: every parameter must live on one backend');
  return b;
}

/** Learning rate for the update that follows `completedSteps` updates (experiments.md §1). */
export function scheduledLr(config: TrainConfig, completedSteps: number): number {
  return learningRate(config, completedSteps);
}
