/**
 * Scalar samplers on top of the project RNG (`src/engine/random.ts`): the hyper-priors of the data
 * simulators (experiments.md §2, §5, §6, §8) need Gamma, Beta, log-uniform and permutations.
 * Everything is float64 and consumes the given `Rng`, so a generator is reproducible from its seed.
 */
import type { Rng } from '../engine/random.js';

/** Uniform on [lo, hi). */
export function uniformIn(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

/** Log-uniform on [lo, hi] ("LogU" of the spec): exp(U[log lo, log hi]). */
export function logUniform(rng: Rng, lo: number, hi: number): number {
  if (!(lo > 0 && hi >= lo)) throw new RangeError(`logUniform: expected 0 < lo <= hi, got [${lo}, ${hi}]`);
  return Math.exp(uniformIn(rng, Math.log(lo), Math.log(hi)));
}

/**
 * Gamma(shape, rate) by Marsaglia & Tsang (2000), "A simple method for generating gamma variables".
 * For shape < 1 uses the boost Gamma(a) = Gamma(a + 1) · U^(1/a). Mean = shape / rate.
 */
export function gamma(rng: Rng, shape: number, rate = 1): number {
  if (!(shape > 0 && rate > 0)) throw new RangeError(`gamma: expected shape > 0 and rate > 0, got ${shape}, ${rate}`);
  if (shape < 1) return gamma(rng, shape + 1, rate) * Math.pow(rng.uniform(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x) return (d * v) / rate;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return (d * v) / rate;
  }
}

/** Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). Mean a / (a + b). */
export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  const y = gamma(rng, b);
  return x / (x + y);
}

/** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
export function permutation(rng: Rng, n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** `k` distinct integers from 0..n−1, uniformly without replacement (partial Fisher–Yates). */
export function choose(rng: Rng, n: number, k: number): Int32Array {
  if (k > n) throw new RangeError(`choose: cannot pick ${k} distinct items from ${n}`);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = 0; i < k; i++) {
    const j = rng.int(i, n);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p.slice(0, k);
}

/** Hyper-prior of a lengthscale: a Beta draw, 1/Gamma draw (inverse-gamma), or a fixed value. */
export type LengthscalePrior =
  | { kind: 'beta'; a: number; b: number }
  | { kind: 'inverse-gamma'; shape: number; rate: number }
  | { kind: 'fixed'; value: number };

export function sampleLengthscale(rng: Rng, prior: LengthscalePrior): number {
  switch (prior.kind) {
    case 'beta': return beta(rng, prior.a, prior.b);
    case 'inverse-gamma': return 1 / gamma(rng, prior.shape, prior.rate);
    case 'fixed': return prior.value;
  }
}
