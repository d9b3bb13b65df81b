/** Shared helpers for the BSA tests: seeded problems and error measures. */
import type { BsaData, BsaDesc, BsaGroup } from '../../src/kernels/bsa/desc.js';
import { familyParams, paramSize } from '../../src/kernels/bsa/desc.js';

/** mulberry32: small seeded generator for test data (tests only). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ProblemOptions {
  B?: number; H?: number; Q: number; K: number; d?: number; dv?: number;
  groups?: BsaGroup[];
  /** Fraction of keys masked out (random), or null for no mask. */
  maskFrac?: number | null;
  tileQ?: number; tileK?: number;
  seed?: number;
}

export const S2_RBF5: BsaGroup = { M: 2, distance: 'euclidean', family: 'rbf', F: 5 };
export const T1_RBF3: BsaGroup = { M: 1, distance: 'euclidean', family: 'rbf', F: 3 };

export function makeProblem(o: ProblemOptions): { desc: BsaDesc; data: BsaData } {
  const r = rng(o.seed ?? 1);
  const B = o.B ?? 1, H = o.H ?? 2, d = o.d ?? 8, dv = o.dv ?? 8;
  const groups = o.groups ?? [S2_RBF5];
  const hasMask = o.maskFrac !== undefined && o.maskFrac !== null;
  const desc: BsaDesc = { B, H, Q: o.Q, K: o.K, d, dv, hasMask, groups, tileQ: o.tileQ, tileK: o.tileK };
  const rand = (n: number, lo: number, hi: number): Float32Array =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const q = rand(B * H * o.Q * d, -1.5, 1.5);
  const k = rand(B * H * o.K * d, -1.5, 1.5);
  const v = rand(B * H * o.K * dv, -1, 1);
  const mask = hasMask ? Float32Array.from({ length: B * o.K }, () => (r() < o.maskFrac! ? 0 : 1)) : null;
  const gdata = groups.map((g) => {
    const n = paramSize(desc, g);
    const coords = (m: number): Float32Array => g.distance === 'greatCircle'
      ? Float32Array.from({ length: m * 2 }, (_, i) => (i % 2 === 0 ? -180 + 360 * r() : -85 + 170 * r()))
      : rand(m * g.M, 0, 2);
    const ps = familyParams(g.family);
    // Rates scaled so great-circle degrees (up to 180) still give non-negligible biases.
    const bScale = g.distance === 'greatCircle' ? (g.family === 'exp' ? 0.02 : 1e-3) : 1;
    return {
      cq: coords(B * o.Q),
      ck: coords(B * o.K),
      a: rand(n, -1.5, 1.5),
      b: ps.includes('b') ? rand(n, 0.2 * bScale, 1.5 * bScale) : undefined,
      c: ps.includes('c') ? rand(n, 0, 1.5) : undefined,
    };
  });
  return { desc, data: { q, k, v, mask, groups: gdata } };
}

/** max |a − e| / max |e| (0/0 = 0). */
export function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  if (a.length !== e.length) throw new Error(`relErr: length ${a.length} vs ${e.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - e[i]!));
    den = Math.max(den, Math.abs(e[i]!));
  }
  if (Number.isNaN(num)) return Infinity;
  return den === 0 ? num : num / den;
}

export function randomF32(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

/** Float64 copy of a problem's data (for finite differences). */
export function toF64(data: BsaData): BsaData<Float64Array> {
  const c = (x: Float32Array | undefined | null): Float64Array | undefined =>
    (x ? Float64Array.from(x) : undefined);
  return {
    q: c(data.q)!, k: c(data.k)!, v: c(data.v)!, mask: c(data.mask) ?? null,
    groups: data.groups.map((g) => ({ cq: c(g.cq)!, ck: c(g.ck)!, a: c(g.a)!, b: c(g.b), c: c(g.c) })),
  };
}
