// The marginal GP sampler's WebAssembly path (cholesky.ts `columnsFactorTimes`, `separableColumns3d`)
// against independent expectations: the separable space-time kernel written out here with Math.exp,
// the three-call chain it replaces (kernel columns → choleskyColumnsInPlace → lowerTimes), and the
// former all-JavaScript sampler (kernelColumnsLower's closures, Math.exp) on fixed seeds.
import { describe, expect, it } from 'vitest';
import { familyReference as family } from '../helpers/kernel-families.js';
import { Rng } from '../../src/engine/random.js';
import { CholeskyError, choleskyColumnsInPlace, columnsFactorTimes, lowerTimes, separableColumns3d } from '../../src/data/cholesky.js';
import { sampleGpFunctionsMarginal } from '../../src/data/gp.js';
import { type KernelSpec, type SeparableFamily, kernelColumnsLower, wasmColumns } from '../../src/data/kernels.js';

const FAMILIES = ['rbf', 'exponential', 'matern32', 'matern52'] as const;


/** |exponent| of one family at distance d. */
function exponent(kind: SeparableFamily, d: number, l: number): number {
  const r = d / l;
  return kind === 'rbf' ? 0.5 * r * r : kind === 'exponential' ? r : kind === 'matern32' ? Math.sqrt(3) * r : Math.sqrt(5) * r;
}

/** Points [s0, s1, t] in [−2, 2]² × [0, 4]; `slices` > 0 puts the times on that many values (equal times: Δt = 0). */
function points(r: Rng, n: number, slices: number): Float64Array {
  const p = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    p[3 * i] = 4 * r.uniform() - 2;
    p[3 * i + 1] = 4 * r.uniform() - 2;
    p[3 * i + 2] = slices > 0 ? r.int(0, slices) : 4 * r.uniform();
  }
  return p;
}

describe('separable space-time kernel columns in WebAssembly', () => {
  it('match σ² k_s(‖Δs‖) k_t(|Δt|) written out with Math.exp to 4e-15·(1 + |exponent|) (relative), zero above the diagonal, for all 16 family pairs', () => {
    const r = Rng.fromSeed(21);
    const n = 131, m = 64;
    for (const fs of FAMILIES) {
      for (const ft of FAMILIES) {
        for (const [ls, lt, slices] of [[0.05, 400, 0], [0.7, 0.04, 3], [3, 1.3, 0]] as const) {
          const p = points(r, n, slices);
          const spec: KernelSpec = { kind: fs, variance: 0.37, lengthscale: ls, time: { kind: ft, lengthscale: lt } };
          const cols = wasmColumns(spec, 3);
          expect(cols?.kind).toBe('separable');
          const w = separableColumns3d(cols as Extract<typeof cols, { kind: 'separable' }>, p, n, m);
          expect(w).not.toBeNull();
          let worst = 0;
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < m; j++) {
              const got = w![i * m + j]!;
              if (j > i) { expect(got).toBe(0); continue; }
              const ds = Math.hypot(p[3 * i]! - p[3 * j]!, p[3 * i + 1]! - p[3 * j + 1]!);
              const dt = Math.abs(p[3 * i + 2]! - p[3 * j + 2]!);
              const want = 0.37 * family(fs, ds, ls) * family(ft, dt, lt);
              // exp's condition number is its argument: relative error ≈ ε·|exponent| from rounding it alone.
              const x = exponent(fs, ds, ls) + exponent(ft, dt, lt);
              const err = want < 1e-290 ? Math.abs(got - want) / 1e-290 : Math.abs(got - want) / want;
              worst = Math.max(worst, err / (1 + x));
            }
          }
          expect(worst, `${fs} × ${ft}, ℓ_s ${ls}, ℓ_t ${lt}`).toBeLessThan(4e-15);
        }
      }
    }
  });

  it('other kernels and dimensions are left to JavaScript', () => {
    expect(wasmColumns({ kind: 'periodic', variance: 1, lengthscale: 1 }, 2)).toBeNull();
    expect(wasmColumns({ kind: 'rbf', variance: 1, lengthscale: 1 }, 3)).toBeNull();
    expect(wasmColumns({ kind: 'rbf', variance: 1, lengthscale: 1, time: { kind: 'rbf', lengthscale: 1 } }, 2)).toBeNull();
    expect(wasmColumns({ kind: 'rbf', variance: 2, lengthscale: 0.5 }, 2)).toEqual({ kind: 'rbf2d', c: -2, v: 2 });
  });
});

describe('columnsFactorTimes (kernel, factor and products in wasm memory)', () => {
  it('equals kernel columns → choleskyColumnsInPlace → lowerTimes bit for bit (separable and 2-D RBF; m < n and m = n)', () => {
    const r = Rng.fromSeed(22);
    for (const [n, m, B] of [[200, 128, 1], [150, 64, 3], [128, 128, 2]] as const) {
      const p3 = points(r, n, 0);
      const sep: KernelSpec = { kind: 'matern52', variance: 0.8, lengthscale: 0.9, time: { kind: 'exponential', lengthscale: 2 } };
      const cols = wasmColumns(sep, 3) as Extract<ReturnType<typeof wasmColumns>, { kind: 'separable' }>;
      const p2 = Float64Array.from({ length: 2 * n }, () => 4 * r.uniform() - 2);
      const rbf: KernelSpec = { kind: 'rbf', variance: 1.3, lengthscale: 0.4 };
      const z = Float64Array.from({ length: B * m }, () => r.normal());
      for (const [p, l] of [[p3, separableColumns3d(cols, p3, n, m)!], [p2, kernelColumnsLower(rbf, p2, n, m, 2)]] as const) {
        const fused = columnsFactorTimes(p === p3 ? cols : wasmColumns(rbf, 2)!, p, n, m, 1e-5, z, B);
        choleskyColumnsInPlace(l, n, m, 1e-5);
        const want = lowerTimes(l, n, m, z, B);
        expect(Array.from(fused!.f)).toEqual(Array.from(want.f));
        expect(Array.from(fused!.sq)).toEqual(Array.from(want.sq));
      }
    }
  });

  it('throws CholeskyError naming the size and row when the leading block is singular', () => {
    const p = new Float64Array(3 * 80); // every point the same: rank 1
    const cols = wasmColumns({ kind: 'rbf', variance: 1, lengthscale: 1, time: { kind: 'rbf', lengthscale: 1 } }, 3)!;
    expect(() => columnsFactorTimes(cols, p, 80, 64, 0, new Float64Array(64), 1)).toThrow(CholeskyError);
    expect(() => columnsFactorTimes(cols, p, 80, 64, 0, new Float64Array(64), 1)).toThrow(/cholesky: matrix of size 80×80 is not positive definite: pivot at row 1/);
  });
});

describe('sampleGpFunctionsMarginal on the wasm path = the former JavaScript sampler', () => {
  /** The former sampler: JavaScript kernel columns (Math.exp per factor), then the same factor, products and noise. */
  function former(rng: Rng, spec: KernelSpec, locs: Float64Array, n: number, m: number, B: number, jitter: number): Float64Array {
    const l = kernelColumnsLower(spec, locs, n, m, 3);
    choleskyColumnsInPlace(l, n, m, jitter);
    const z = Float64Array.from({ length: B * m }, () => rng.normal());
    const { f, sq } = lowerTimes(l, n, m, z, B);
    for (let b = 0; b < B; b++) for (let i = m; i < n; i++) f[b * n + i]! += Math.sqrt(Math.max(spec.variance + jitter - sq[i - m]!, 0)) * rng.normal();
    return f;
  }

  it('same seed, same draws to 1e-9 (float64) for every family pair, with time slices and continuous times', () => {
    const r = Rng.fromSeed(23);
    let worst = 0;
    for (const fs of FAMILIES) {
      for (const ft of FAMILIES) {
        const n = 320, m = 128, B = 2;
        const locs = points(r, n, ft === 'rbf' ? 4 : 0);
        const spec: KernelSpec = { kind: fs, variance: 0.5, lengthscale: 0.2 + r.uniform(), time: { kind: ft, lengthscale: 0.1 + 3 * r.uniform() } };
        const got = sampleGpFunctionsMarginal(Rng.fromSeed(5), spec, locs, n, 3, m, B, 1e-5 * 0.5);
        const want = former(Rng.fromSeed(5), spec, locs, n, m, B, 1e-5 * 0.5);
        for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      }
    }
    expect(worst).toBeLessThan(1e-9);
  });
});
