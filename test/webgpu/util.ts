/**
 * Helpers for the WebGPU kernel tests: the backend (or a visible skip; CI=true makes a missing
 * adapter an error, see test/helpers/backends.ts), seeded inputs and a float64-reference check
 * in the style of llm.c's validate_result (tol + |ref|·rtol, first mismatches with their index).
 */
import { expect } from 'vitest';
import { webgpuBackend } from '../helpers/backends.js';
import type { WebGPUBackend } from '../../src/engine/webgpu/backend.js';
import { Rng } from '../../src/engine/random.js';

export async function gpu(): Promise<WebGPUBackend | null> {
  // Lavapipe's worker threads make a test run 10× slower or worse when the cores are
  // oversubscribed (parallel vitest forks, other jobs): run it single-threaded. Must be set before
  // Dawn loads the Vulkan driver (the first create()).
  process.env.LP_NUM_THREADS ??= '1';
  return (await webgpuBackend()) as WebGPUBackend | null;
}

/** Uniform values in [lo, hi), rounded to float32. */
export function rand(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.uniform();
  return out;
}

/** Small integers in [lo, hi) as float32 (exact comparisons, indices). */
export function ints(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(lo, hi);
  return out;
}

/** Asserts |got − ref| ≤ atol + rtol·|ref| elementwise (NaN matches NaN, ±inf must match). */
export function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, rtol = 1e-5, atol = 1e-6,
  what = ''): void {
  expect(got.length, `${what}: length`).toBe(ref.length);
  const bad: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    if (Number.isNaN(r) && Number.isNaN(g)) continue;
    if (!Number.isFinite(r) && g === r) continue;
    if (!(Math.abs(g - r) <= atol + rtol * Math.abs(r))) {
      bad.push(`[${i}] got ${g}, expected ${r}`);
      if (bad.length >= 10) break;
    }
  }
  expect(bad, `${what}: mismatches`).toEqual([]);
}

export function prod(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Contiguous row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) st[d] = st[d + 1]! * shape[d + 1]!;
  return st;
}

/** Float64 broadcasting map over inputs of the output's rank. */
export function broadcastRef(inputs: readonly Float32Array[], shapes: readonly (readonly number[])[],
  outShape: readonly number[], f: (...v: number[]) => number): Float64Array {
  const n = prod(outShape);
  const out = new Float64Array(n);
  const R = outShape.length;
  const st = shapes.map((s) => stridesOf(s).map((v, d) => (s[d] === 1 ? 0 : v)));
  const idx = new Array<number>(R).fill(0);
  for (let i = 0; i < n; i++) {
    let rem = i;
    for (let d = R - 1; d >= 0; d--) {
      idx[d] = rem % outShape[d]!;
      rem = Math.floor(rem / outShape[d]!);
    }
    const vals = inputs.map((x, k) => x[idx.reduce((acc, c, d) => acc + c * st[k]![d]!, 0)]!);
    out[i] = f(...vals);
  }
  return out;
}

/** A random output shape of the given rank and a broadcast-compatible input shape. */
export function randomShapes(rng: Rng, rank: number, maxDim = 7): { out: number[]; bcast: () => number[] } {
  const out = Array.from({ length: rank }, () => rng.int(1, maxDim + 1));
  return { out, bcast: () => out.map((d) => (rng.uniform() < 0.35 ? 1 : d)) };
}
