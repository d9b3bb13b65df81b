/**
 * Attention biases from pairwise distances (model.md §5): parameter specs per group and a dense
 * evaluation with engine ops. The dense form materialises [B, H, Q, K] and serves the `dense`
 * attention path and tests; the scan path evaluates the same functions inside the BSA kernel.
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import type { ParamSpec, Params } from './params.js';
import { get } from './params.js';

export type BiasFamily = 'rbf' | 'tisa' | 'exponential' | 'scalar';
export type Distance = 'euclidean' | 'great-circle';

export interface BiasSpec {
  family: BiasFamily;
  numBasis: number;
  distance: Distance;
  /**
   * RBF only (ours): lengthscales ℓ_2..ℓ_F of basis functions 2..F. They start with a = 0 and
   * b = 1/ℓ², and basis 1 with a = F, b = 1: the same initial bias as the paper's constant init
   * (F·exp(−δ²)), but the basis functions are not tied (model.md §5.2's observation).
   */
  untie?: readonly number[];
}

/**
 * The untied layout of an RBF bias ([H, F] row-major a and b) from a tied one: per head h, the F
 * equal terms a_h·exp(−b_h·δ²) folded into basis 1 (a = F·a_h, b = b_h), basis k ≥ 2 with a = 0 and
 * b = 1/ℓ_k² (`lengthscales` = ℓ_2..ℓ_F). The bias is unchanged. Used for a fresh model's init
 * (`untie`) and for trained weights (train/untie-bias.ts).
 */
export function untiedRbf(headA: ArrayLike<number>, headB: ArrayLike<number>, F: number,
  lengthscales: readonly number[]): { a: Float32Array; b: Float32Array } {
  const H = headA.length;
  const a = new Float32Array(H * F), b = new Float32Array(H * F);
  for (let h = 0; h < H; h++) {
    a[h * F] = F * headA[h]!;
    b[h * F] = headB[h]!;
    for (let k = 1; k < F; k++) b[h * F + k] = 1 / (lengthscales[k - 1]! * lengthscales[k - 1]!);
  }
  return { a, b };
}

/**
 * The group and field of an attention-bias parameter (`….bias_G.a`, `.b` or `.c`, as nn/attention.ts
 * names them), else null. The optimiser's bias learning rate and untying trained weights find them so.
 */
export function biasParam(name: string): { group: string; field: 'a' | 'b' | 'c' } | null {
  const m = /(?:^|\.)bias_([^.]+)\.([abc])$/.exec(name);
  return m ? { group: m[1]!, field: m[2] as 'a' | 'b' | 'c' } : null;
}

/** Parameter specs of one group's bias in one block (model.md §5.2 inits; `untie` above). */
export function biasSpecs(name: string, bias: BiasSpec, heads: number): ParamSpec[] {
  const hf = heads * bias.numBasis;
  if (bias.untie !== undefined && bias.family === 'rbf') {
    const F = bias.numBasis;
    const ones = new Float32Array(heads).fill(1);
    const { a, b } = untiedRbf(ones, ones, F, bias.untie);
    return [{ name: `${name}.a`, shape: [heads, F], init: a }, { name: `${name}.b`, shape: [heads, F], init: b }];
  }
  switch (bias.family) {
    case 'scalar':
      return [{ name: `${name}.a`, shape: [heads], init: new Float32Array(heads).fill(-1) }];
    case 'tisa':
      return [
        { name: `${name}.a`, shape: [heads, bias.numBasis], init: new Float32Array(hf).fill(1) },
        { name: `${name}.b`, shape: [heads, bias.numBasis], init: new Float32Array(hf).fill(1) },
        { name: `${name}.c`, shape: [heads, bias.numBasis], init: new Float32Array(hf) },
      ];
    default:
      return [
        { name: `${name}.a`, shape: [heads, bias.numBasis], init: new Float32Array(hf).fill(1) },
        { name: `${name}.b`, shape: [heads, bias.numBasis], init: new Float32Array(hf).fill(1) },
      ];
  }
}

const DEG = Math.PI / 180;

/** Pairwise distances [B, Q, K] between cq [B, Q, M] and ck [B, K, M]. */
export function pairwiseDistance(distance: Distance, cq: Tensor, ck: Tensor): Tensor {
  return E.tidy(() => {
    const [B, Q, M] = cq.shape as [number, number, number];
    const K = ck.shape[1]!;
    const a = E.reshape(cq, [B, Q, 1, M]);
    const b = E.reshape(ck, [B, 1, K, M]);
    if (distance === 'euclidean') return E.sqrt(E.sum(E.square(E.sub(a, b)), -1));
    if (M !== 2) throw new E.ShapeError(`great-circle distance: expected (lon, lat) coordinates, got ${M} dims`);
    const lon1 = E.mul(E.slice(a, [0, 0, 0, 0], [B, Q, 1, 1]), DEG);
    const lat1 = E.mul(E.slice(a, [0, 0, 0, 1], [B, Q, 1, 1]), DEG);
    const lon2 = E.mul(E.slice(b, [0, 0, 0, 0], [B, 1, K, 1]), DEG);
    const lat2 = E.mul(E.slice(b, [0, 0, 0, 1], [B, 1, K, 1]), DEG);
    const dl = E.abs(E.sub(lon1, lon2));
    const y1 = E.mul(E.cos(lat2), E.sin(dl));
    const y2 = E.sub(E.mul(E.cos(lat1), E.sin(lat2)), E.mul(E.mul(E.sin(lat1), E.cos(lat2)), E.cos(dl)));
    const y = E.sqrt(E.add(E.square(y1), E.square(y2)));
    const x = E.add(E.mul(E.sin(lat1), E.sin(lat2)), E.mul(E.mul(E.cos(lat1), E.cos(lat2)), E.cos(dl)));
    // atan2(y, x) with y ≥ 0 from engine ops: 2·atan(y / (sqrt(x² + y²) + x)) has no atan; use
    // acos of the normalised x instead (exact for y ≥ 0).
    const r = E.sqrt(E.add(E.square(x), E.square(y)));
    return E.reshape(E.div(acos(E.div(x, r)), DEG), [B, Q, K]);
  });
}

/** acos on [-1, 1] from engine ops (Newton-free closed form via atan-like series is avoided). */
function acos(x: Tensor): Tensor {
  // acos(x) = 2·atan2(sqrt(1−x), sqrt(1+x)); with t = sqrt((1−x)/(1+x)) ∈ [0, ∞), acos = 2·atan(t).
  // atan via the identity atan(t) = asin(t/sqrt(1+t²)) is circular, so we evaluate acos by a
  // minimax polynomial (Abramowitz–Stegun 4.4.45 refined, |error| < 2e-8 rad in float64).
  return E.tidy(() => {
    const ax = E.minimum(E.abs(x), 1);
    let p = E.scalar(-0.0012624911, x.backend);
    for (const c of [0.0066700901, -0.0170881256, 0.0308918810, -0.0501743046, 0.0889789874, -0.2145988016, 1.5707963050]) {
      p = E.add(E.mul(p, ax), c);
    }
    const r = E.mul(E.sqrt(E.sub(1, ax)), p);
    // acos(−|x|) = π − acos(|x|)
    return E.where(E.lt(x, 0), E.sub(Math.PI, r), r);
  });
}

/**
 * Dense bias [B, H, Q, K] of one group, with −∞ where the distance is not finite (safe-δ rule:
 * the formula is evaluated at δ = 0 there so no NaN reaches the parameter gradients).
 */
export function denseBias(p: Params, name: string, bias: BiasSpec, heads: number, cq: Tensor, ck: Tensor): Tensor {
  return E.tidy(() => {
    const delta = pairwiseDistance(bias.distance, cq, ck);
    const [B, Q, K] = delta.shape as [number, number, number];
    const valid = E.isfinite(delta);
    const d = E.reshape(E.where(valid, delta, 0), [B, 1, Q, K, 1]);
    const F = bias.family === 'scalar' ? 1 : bias.numBasis;
    const par = (k: string) => E.reshape(get(p, `${name}.${k}`), [1, heads, 1, 1, F]);
    let phi: Tensor;
    switch (bias.family) {
      case 'rbf': phi = E.mul(par('a'), E.exp(E.neg(E.mul(par('b'), E.square(d))))); break;
      case 'exponential': phi = E.mul(par('a'), E.exp(E.neg(E.mul(par('b'), d)))); break;
      case 'tisa': phi = E.mul(par('a'), E.exp(E.neg(E.mul(par('b'), E.square(E.sub(d, par('c'))))))); break;
      case 'scalar': phi = E.mul(par('a'), d); break;
    }
    const beta = E.sum(phi, -1);
    return E.where(E.reshape(valid, [B, 1, Q, K]), beta, -Infinity);
  });
}
