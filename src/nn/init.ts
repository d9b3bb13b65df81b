/**
 * Parameter initialisers (model.md §2), computed on the host in float64 from the project's
 * counter-based generator so that every backend starts from identical weights.
 */
import { Rng } from '../engine/random.js';

/**
 * Orthogonal [rows, cols] matrix (scale 1): orthonormal columns when rows ≥ cols, orthonormal
 * rows otherwise. QR of a Gaussian matrix by modified Gram–Schmidt, with the sign of each column
 * fixed by the sign of R's diagonal so the distribution is uniform (Haar).
 */
export function orthogonal(rows: number, cols: number, rng: Rng): Float32Array {
  const tall = rows >= cols;
  const n = tall ? rows : cols; // long side
  const m = tall ? cols : rows; // number of orthonormal vectors
  const v: Float64Array[] = [];
  for (let j = 0; j < m; j++) {
    const col = new Float64Array(n);
    for (let i = 0; i < n; i++) col[i] = rng.normal();
    for (const u of v) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += u[i]! * col[i]!;
      for (let i = 0; i < n; i++) col[i]! -= dot * u[i]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += col[i]! * col[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) col[i]! /= norm;
    v.push(col);
  }
  const out = new Float32Array(rows * cols);
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) {
      if (tall) out[i * cols + j] = v[j]![i]!;
      else out[j * cols + i] = v[j]![i]!;
    }
  }
  return out;
}

export function normal(n: number, std: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}
