/**
 * CPU matmul: C[batch, m, n] = op(A) · op(B) (MatmulArgs in engine/backend.ts).
 *
 * Naive reference body for now; the WebAssembly SIMD kernel replaces it.
 */
import type { MatmulArgs } from '../backend.js';
import type { ThreadPool } from './threads.js';

/**
 * Writes op(A)·op(B) into `out` ([batch, m, n], preallocated, overwritten).
 *
 * **Arguments**
 * - `a`: [batch][m][k], or [batch][k][m] when `transA`; batch entries `strideA` apart (0 = shared).
 * - `b`: [batch][k][n], or [batch][n][k] when `transB`; batch entries `strideB` apart.
 * - `pool`: optional thread pool; used when the operands live in `pool.memory`.
 */
export function matmul(a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs,
  pool?: ThreadPool): void {
  void pool;
  matmulReference(a, b, out, args);
}

/** Plain JS reference (float32 accumulation in a JS number, i.e. float64). */
export function matmulReference(a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs): void {
  const { batch, m, k, n, transA, transB, strideA, strideB } = args;
  for (let p = 0; p < batch; p++) {
    const oa = p * strideA;
    const ob = p * strideB;
    const oc = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let l = 0; l < k; l++) {
          s += a[oa + (transA ? l * m + i : i * k + l)]! * b[ob + (transB ? j * k + l : l * n + j)]!;
        }
        out[oc + i * n + j] = s;
      }
    }
  }
}
