// Cholesky and triangular solves against independent expectations: L Lᵀ reconstructs A; solves
// satisfy A x = b; a non-PD matrix fails with a message naming its size.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { CholeskyError, cholesky, logDetFromCholesky, solveLowerInPlace, solveLowerTransposeInPlace } from '../../src/data/cholesky.js';

function randomSpd(rng: Rng, n: number): Float64Array {
  // A = M Mᵀ + n·I is symmetric positive definite.
  const m = Float64Array.from({ length: n * n }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = i === j ? n : 0;
    for (let k = 0; k < n; k++) s += m[i * n + k]! * m[j * n + k]!;
    a[i * n + j] = s;
  }
  return a;
}

describe('cholesky', () => {
  // Sizes cover the 4-row blocks, the 1–3 remainder rows and tiny matrices.
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 33, 64, 67]) {
    it(`reconstructs A = L Lᵀ for n = ${n}`, () => {
      const a = randomSpd(Rng.fromSeed(n), n);
      const l = cholesky(a, n, 0);
      let maxErr = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        if (j > i) expect(l[i * n + j]).toBe(0);
        let s = 0;
        for (let k = 0; k < n; k++) s += l[i * n + k]! * l[j * n + k]!;
        maxErr = Math.max(maxErr, Math.abs(s - a[i * n + j]!) / n);
      }
      expect(maxErr).toBeLessThan(1e-12);
    });
  }

  it('adds the jitter to the diagonal', () => {
    const l = cholesky(new Float64Array([1, 0, 0, 1]), 2, 3);
    expect(l[0]).toBeCloseTo(2, 14);
    expect(l[3]).toBeCloseTo(2, 14);
  });

  it('fails clearly on a non-positive-definite matrix', () => {
    // Eigenvalues 3 and −1.
    const a = new Float64Array([1, 2, 0, 2, 1, 0, 0, 0, 1]);
    expect(() => cholesky(a, 3, 1e-5)).toThrowError(CholeskyError);
    expect(() => cholesky(a, 3, 1e-5)).toThrowError(/cholesky: matrix of size 3×3 is not positive definite: pivot at row 1/);
  });

  it('solves A X = B with forward and back substitution, and log det matches a 2×2 by hand', () => {
    const n = 9, m = 3;
    const rng = Rng.fromSeed(7);
    const a = randomSpd(rng, n);
    const b = Float64Array.from({ length: n * m }, () => rng.normal());
    const l = cholesky(a, n, 0);
    const x = Float64Array.from(b);
    solveLowerInPlace(l, n, x, m);
    solveLowerTransposeInPlace(l, n, x, m);
    for (let i = 0; i < n; i++) for (let c = 0; c < m; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k]! * x[k * m + c]!;
      expect(s).toBeCloseTo(b[i * m + c]!, 10);
    }
    const l2 = cholesky(new Float64Array([4, 2, 2, 3]), 2, 0);
    expect(logDetFromCholesky(l2, 2)).toBeCloseTo(Math.log(4 * 3 - 2 * 2), 12);
  });

  it('factorises a 1536×1536 RBF matrix (training-task size): smoke bound 10 s', () => {
    const n = 1536;
    const rng = Rng.fromSeed(3);
    const p = Float64Array.from({ length: 2 * n }, () => 4 * rng.uniform() - 2);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const dx = p[2 * i]! - p[2 * j]!, dy = p[2 * i + 1]! - p[2 * j + 1]!;
      a[i * n + j] = Math.exp(-(dx * dx + dy * dy) / (2 * 0.3 * 0.3));
    }
    const t0 = performance.now();
    const l = cholesky(a, n, 1e-5);
    const ms = performance.now() - t0;
    expect(Number.isFinite(l[n * n - 1]!)).toBe(true);
    // Measured ≈ 0.45 s idle, ≈ 2 s at load average 5 on 2 cores: the bound only catches regressions
    // of an order of magnitude on a shared machine.
    expect(ms).toBeLessThan(10000);
  });
});
