/** The CPU backend's GELU and GELU gradient (wasm SIMD, wasm/elementwise.c) against float64. */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import { createHeap } from '../../src/engine/cpu/heap.js';
import { Rng } from '../../src/engine/random.js';

const C = Math.sqrt(2 / Math.PI);
const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));
const geluGrad = (x: number): number => {
  const t = Math.tanh(C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x);
};

/** Inputs over [−12, 12] (odd count, so the scalar tail runs too), then tails and special values. */
function inputs(): Float32Array {
  const r = Rng.fromSeed(77);
  const x = Float32Array.from({ length: 4099 }, () => 24 * r.uniform() - 12);
  x.set([0, -0, 1e-30, -1e-30, 1e-4, -3e-3, 0.2, -0.26, -5, -9, -20, -60, 20, 60, 3e38, -3e38], 0);
  return x;
}

describe('cpu gelu kernels', () => {
  for (const [name, be] of [['wasm', new CpuBackend()], ['plain JS', new CpuBackend({ heap: createHeap({ plain: true }) })]] as const) {
    it(`gelu and dy·gelu'(x) match float64 within 2e-6 relative (+ 1e-7·|dy|, + 2e-14) (${name} heap)`, async () => {
      if (name === 'wasm') expect(be.heap.memory).not.toBeNull(); // the kernels' path is the one tested
      const x = inputs();
      const dy = Float32Array.from(x, (_, i) => (i % 3) - 1.25);
      const y = await be.read(be.unary('gelu', be.upload(x)));
      const g = await be.read(be.binary('geluGrad', be.upload(x), [x.length], be.upload(dy), [x.length], [x.length]));
      let worst = 0;
      for (let i = 0; i < x.length; i++) {
        // The gradient crosses zero near x = −0.75 (the minimum of gelu): there float32 keeps an
        // absolute error of ~1e-8·|dy|, so the bound has a term in |dy| (1e-7·|dy|).
        for (const [got, want, scale] of [[y[i]!, gelu(x[i]!), 0], [g[i]!, dy[i]! * geluGrad(x[i]!), 0.05 * Math.abs(dy[i]!)]]) {
          const ref = Number.isNaN(want!) ? 0 : want!; // −3e38: 0.5·x·(1 + tanh) is −inf·0 in float64
          // Left tail: float64's 1 + tanh u cancels to ~1e-16 (0 below x ≈ −9), so the reference
          // itself is only good to ~1e-15 absolute there.
          const err = Math.abs(got! - ref) / (Math.abs(ref) + scale! + 2e-14 / 2e-6);
          if (!(err <= worst)) worst = err;
        }
      }
      expect(worst).toBeLessThan(2e-6);
      // NaN propagates.
      const nan = await be.read(be.unary('gelu', be.upload(new Float32Array([NaN, 1, NaN, 2, NaN]))));
      expect([0, 2, 4].every((i) => Number.isNaN(nan[i]))).toBe(true);
    });
  }
});
