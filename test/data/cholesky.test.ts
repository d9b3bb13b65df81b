// Cholesky and triangular solves against independent expectations: L Lᵀ reconstructs A; both
// blocked factorisations (wasm and its JavaScript fallback) agree with an unblocked reference;
// solves satisfy A x = b; a non-PD matrix fails with a message naming its size and row.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import {
  CholeskyError, cholesky, choleskyColumnsInPlace, choleskyInPlace, logDetFromCholesky, lowerTimes, solveLowerInPlace, solveLowerTransposeInPlace,
} from '../../src/data/cholesky.js';
import { choleskyLowerJs } from '../../src/data/cholesky-js.js';
import { CHOLESKY_WASM } from '../../src/data/cholesky-wasm.js';
import { hasClang } from '../helpers/clang.js';

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

/** Unblocked Cholesky–Banachiewicz, row by row: the reference (throws on a pivot ≤ 0). */
function referenceCholesky(a: Float64Array, n: number, jitter: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]! + (i === j ? jitter : 0);
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i > j) l[i * n + j] = s / l[j * n + j]!;
      else if (s > 0) l[i * n + i] = Math.sqrt(s);
      else throw new Error(`reference: pivot ${s} at row ${i}`);
    }
  }
  return l;
}

/** The JavaScript fallback with the public function's contract (jitter, zero upper triangle). */
function choleskyJs(a: Float64Array, n: number, jitter: number): Float64Array {
  const l = Float64Array.from(a);
  for (let i = 0; i < n; i++) l[i * n + i]! += jitter;
  const bad = choleskyLowerJs(l, n);
  if (bad >= 0) throw new Error(`js: pivot ${l[bad * n + bad]} at row ${bad}`);
  for (let r = 0; r < n; r++) l.fill(0, r * n + r + 1, (r + 1) * n);
  return l;
}


describe('cholesky', () => {
  // Sizes cover tiny matrices, the 4-row blocks and their 1–3 remainder rows, and 64-tiles with
  // partial last tiles (63, 65, 130, 200) and a partial summation chunk (≥ 257 columns left of a tile).
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 33, 63, 64, 65, 67, 130, 200, 330]) {
    for (const [impl, factor] of [['wasm', (a: Float64Array, m: number) => cholesky(a, m, 0.5)],
      ['js fallback', (a: Float64Array, m: number) => choleskyJs(a, m, 0.5)]] as const) {
      it(`${impl} matches the unblocked reference for n = ${n} (random SPD, jitter 0.5)`, () => {
        const a = randomSpd(Rng.fromSeed(1000 + n), n);
        const ref = referenceCholesky(a, n, 0.5);
        const l = factor(a, n);
        let worst = 0;
        for (let i = 0; i < n * n; i++) worst = Math.max(worst, Math.abs(l[i]! - ref[i]!) / Math.sqrt(n));
        // Entries of L are O(√n); only the summation order differs.
        expect(worst).toBeLessThan(1e-13);
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(l[i * n + j]).toBe(0);
      });
    }
  }

  // The first m columns only (the GP sampler's marginal mode): equal to those columns of the full
  // reference factor, for m a multiple of the tile, ragged n, and a summation chunk boundary (m > 256).
  for (const [n, m] of [[64, 64], [65, 64], [130, 64], [200, 128], [330, 320], [400, 320]] as const) {
    for (const [impl, factor] of [
      ['wasm', (a: Float64Array) => { choleskyColumnsInPlace(a, n, m, 0.5); return a; }],
      ['js fallback', (a: Float64Array) => {
        for (let i = 0; i < m; i++) a[i * m + i]! += 0.5;
        const bad = choleskyLowerJs(a, n, m);
        if (bad >= 0) throw new Error(`js: pivot at row ${bad}`);
        for (let r = 0; r < m; r++) a.fill(0, r * m + r + 1, (r + 1) * m);
        return a;
      }]] as const) {
      it(`${impl}: the first ${m} columns of the factor of an n = ${n} matrix match the reference`, () => {
        const full = randomSpd(Rng.fromSeed(3000 + n + m), n);
        const ref = referenceCholesky(full, n, 0.5);
        // Only A[:, 0:m] goes in; the columns beyond m are never needed.
        const a = new Float64Array(n * m);
        for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) a[i * m + j] = full[i * n + j]!;
        const l = factor(a);
        let worst = 0;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < m; j++) worst = Math.max(worst, Math.abs(l[i * m + j]! - ref[i * n + j]!) / Math.sqrt(n));
        }
        expect(worst).toBeLessThan(1e-13);
      });
    }
  }

  // lowerTimes: the GP sampler's products L·z_b and row norms; wasm (m even) and the JS fallback
  // (m odd) against a plain loop, with ragged row counts and an odd number of vectors.
  for (const [n, m, B] of [[7, 4, 3], [130, 64, 8], [203, 128, 5], [9, 3, 2]] as const) {
    it(`lowerTimes n = ${n}, m = ${m}, B = ${B} matches a plain loop`, () => {
      const rng = Rng.fromSeed(n * 31 + m + B);
      const l = Float64Array.from({ length: n * m }, () => rng.normal());
      const z = Float64Array.from({ length: B * m }, () => rng.normal());
      const { f, sq } = lowerTimes(l, n, m, z, B);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < n; i++) {
          let e = 0;
          for (let k = 0; k < m; k++) e += l[i * m + k]! * z[b * m + k]!;
          expect(Math.abs(f[b * n + i]! - e)).toBeLessThan(1e-12 * m);
        }
      }
      for (let i = m; i < n; i++) {
        let e = 0;
        for (let k = 0; k < m; k++) e += l[i * m + k]! ** 2;
        expect(Math.abs(sq[i - m]! - e)).toBeLessThan(1e-12 * e);
      }
    });
  }

  it('a partial factorisation checks its sizes and reports a failing pivot in the first m rows', () => {
    expect(() => choleskyColumnsInPlace(new Float64Array(100 * 50), 100, 50)).toThrow(/multiple of 64/);
    expect(() => choleskyColumnsInPlace(new Float64Array(10), 100, 64)).toThrow(/expected 100×64 = 6400 entries, got 10/);
    const a = new Float64Array(130 * 64);
    for (let i = 0; i < 64; i++) a[i * 64 + i] = 1;
    a[70 * 64 + 70 % 64] = 0; // rows ≥ m hold no pivots: only the solve reads them
    a[5 * 64 + 5] = -1;
    expect(() => choleskyColumnsInPlace(a, 130, 64)).toThrow(/pivot at row 5 is -1/);
  });

  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 33, 64, 67, 200]) {
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

  it('names the failing row and its pivot inside a later tile (wasm and js fallback)', () => {
    // A = M Mᵀ with M lower triangular, positive diagonal (small off-diagonal entries keep M well
    // conditioned, so the factor is M up to rounding); lowering A[r][r] by M[r][r]² + 1 makes
    // the pivot of row r exactly −1 (up to rounding) while rows < r stay positive definite.
    const n = 150, r = 97;
    const rng = Rng.fromSeed(5);
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) m[i * n + j] = i === j ? 1 + rng.uniform() : rng.normal() / Math.sqrt(n);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k <= Math.min(i, j); k++) s += m[i * n + k]! * m[j * n + k]!;
      a[i * n + j] = s;
    }
    a[r * n + r]! -= m[r * n + r]! ** 2 + 1;
    let err: unknown;
    try { choleskyInPlace(Float64Array.from(a), n, 0); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(CholeskyError);
    const match = /matrix of size 150×150 is not positive definite: pivot at row 97 is (\S+) /.exec((err as Error).message);
    expect(match, (err as Error).message).not.toBeNull();
    expect(Number(match![1])).toBeCloseTo(-1, 8);
    const l = Float64Array.from(a);
    const bad = choleskyLowerJs(l, n);
    expect(bad).toBe(r);
    expect(l[r * n + r]).toBeCloseTo(-1, 8);
  });

  it('a NaN entry fails as a non-positive pivot, not silently', () => {
    const a = randomSpd(Rng.fromSeed(9), 70);
    a[68 * 70 + 3] = NaN;
    expect(() => cholesky(a, 70, 0)).toThrowError(/pivot at row 68 is NaN/);
  });

  it('runs the wasm kernel in Node (not the silent JavaScript fallback)', () => {
    const n = 200;
    const a = randomSpd(Rng.fromSeed(11), n);
    const memory = new WebAssembly.Memory({ initial: Math.ceil((16 + 8 * n * n) / 65536) });
    const wasm = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(CHOLESKY_WASM, 'base64')), { env: { memory } });
    const m = new Float64Array(memory.buffer, 16, n * n);
    m.set(a);
    expect((wasm.exports.cholesky as (p: number, n: number, m: number) => number)(16, n, n)).toBe(-1);
    const l = cholesky(a, n, 0);
    const js = choleskyJs(a, n, 0);
    let sameAsWasm = true, sameAsJs = true;
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
      sameAsWasm &&= l[i * n + j] === m[i * n + j];
      sameAsJs &&= l[i * n + j] === js[i * n + j];
    }
    expect(sameAsWasm).toBe(true);
    expect(sameAsJs).toBe(false); // f64x2 lanes sum in another order than the JavaScript loops
  });

  it.skipIf(!hasClang())('committed wasm module matches src/data/cholesky-build.ts output', () => {
    expect(() => execFileSync('node', ['--import', 'tsx', 'src/data/cholesky-build.ts', '--check'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).not.toThrow();
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
    // Measured ≈ 0.2 s on a loaded 2-core machine (≈ 0.85 s before blocking + wasm): the bound only
    // catches regressions of an order of magnitude on a shared machine.
    expect(ms).toBeLessThan(10000);
  });
});
