/**
 * Blocked float64 Cholesky factorisation in plain JavaScript: the fallback of `choleskyInPlace`
 * where its WebAssembly kernel (cholesky.c, the same algorithm with f64x2 dot products) cannot run.
 *
 * Why blocked: the row-oriented form (entry L[i][j] = dot of rows i and j of L) streams all rows
 * above i through the cache for every few rows i; at n = 1536 (18.9 MB) that is ≈ 1.2 GB of reads
 * per factorisation, and with many worker threads factorising at once the memory bus, not the
 * arithmetic, sets the pace. Here the matrix is cut into TILE×TILE tiles and computed one tile row
 * at a time (left-looking): tile (I, J) first subtracts the products L[I, K] L[J, K]ᵀ over all
 * columns left of J, in chunks of KC columns so that both operands (2 · TILE · KC doubles) stay in
 * the L2 cache while every row of J is reused by all TILE rows of I; then a triangular solve with
 * the diagonal tile L[J, J] finishes it. Memory traffic drops by ≈ TILE/4. The dot products are
 * register-blocked 4×2 (four rows of I against two of J share each load across eight sums).
 */

/** Tile size and summation chunk: both even, so column pairs never straddle a tile edge. */
const TILE = 64;
const KC = 256;

/**
 * Factorises the lower triangle of `a` into L in place: `a` is row-major [n, m], the first m
 * columns of an n×n matrix (m = n: all of it; otherwise m must be a multiple of TILE), and on
 * return holds the first m columns of L (rows i ≥ m: L[i, 0:m], the triangular solve against
 * L[0:m, 0:m]); entries above the diagonal are left unspecified. Returns −1, or the first row whose
 * pivot is ≤ 0 or NaN: that pivot is then left on the row's diagonal (the caller reports it). The
 * helpers below take the row stride as their `n`.
 */
export function choleskyLowerJs(a: Float64Array, n: number, m = n): number {
  for (let i0 = 0; i0 < n; i0 += TILE) {
    const i1 = Math.min(i0 + TILE, n);
    for (let j0 = 0; j0 < Math.min(i0, m); j0 += TILE) {
      for (let k0 = 0; k0 < j0; k0 += KC) subtractProducts(a, m, i0, i1, j0, j0 + TILE, k0, Math.min(k0 + KC, j0), false);
      solveTile(a, m, i0, i1, j0, j0 + TILE);
    }
    if (i0 >= m) continue;
    for (let k0 = 0; k0 < i0; k0 += KC) subtractProducts(a, m, i0, i1, i0, i1, k0, Math.min(k0 + KC, i0), true);
    const bad = factorDiagonal(a, m, i0, i1);
    if (bad >= 0) return bad;
  }
  return -1;
}

/** Tile size of the blocked factorisation: a partial factorisation needs m a multiple of it. */
export const CHOLESKY_TILE = TILE;

/** A[i0:i1, j0:j1] −= L[i0:i1, k0:k1] L[j0:j1, k0:k1]ᵀ; `lower` (diagonal tile): only j ≤ i is needed. */
function subtractProducts(a: Float64Array, n: number, i0: number, i1: number, j0: number, j1: number,
  k0: number, k1: number, lower: boolean): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    // On the diagonal tile the 4×2 blocks stop at column i + 3: they also update a few entries
    // above the diagonal, which are never read and are zeroed at the end.
    const jEnd = lower ? i + 4 : j1;
    for (let j = j0; j < jEnd; j += 2) subtract4x2(a, n, i, j, k0, k1);
  }
  for (; i < i1; i++) {
    const ri = i * n, jEnd = lower ? i + 1 : j1;
    for (let j = j0; j < jEnd; j++) a[ri + j]! -= dot(a, ri, j * n, k0, k1);
  }
}

/** S[2r + c] = Σ_{k0 ≤ k < k1} A[i + r][k] · A[j + c][k] (r < 4, c < 2): eight sums per pass over k. */
const S = new Float64Array(8);
function dots4x2(a: Float64Array, n: number, i: number, j: number, k0: number, k1: number): void {
  const r0 = i * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
  const rj = j * n, rj1 = rj + n;
  let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
  for (let k = k0; k < k1; k++) {
    const u = a[rj + k]!, v = a[rj1 + k]!;
    const x0 = a[r0 + k]!, x1 = a[r1 + k]!, x2 = a[r2 + k]!, x3 = a[r3 + k]!;
    s00 += x0 * u; s01 += x0 * v;
    s10 += x1 * u; s11 += x1 * v;
    s20 += x2 * u; s21 += x2 * v;
    s30 += x3 * u; s31 += x3 * v;
  }
  S[0] = s00; S[1] = s01; S[2] = s10; S[3] = s11; S[4] = s20; S[5] = s21; S[6] = s30; S[7] = s31;
}

function subtract4x2(a: Float64Array, n: number, i: number, j: number, k0: number, k1: number): void {
  dots4x2(a, n, i, j, k0, k1);
  for (let r = 0; r < 4; r++) {
    const w = (i + r) * n + j;
    a[w]! -= S[2 * r]!;
    a[w + 1]! -= S[2 * r + 1]!;
  }
}

function dot(a: Float64Array, ri: number, rj: number, k0: number, k1: number): number {
  let s = 0;
  for (let k = k0; k < k1; k++) s += a[ri + k]! * a[rj + k]!;
  return s;
}

/**
 * L[i0:i1, j0:j1] = A[i0:i1, j0:j1] L[j0:j1, j0:j1]^−ᵀ (forward substitution along each row), once A
 * holds the products over columns < j0. Blocked like subtract4x2: four rows against a column pair;
 * the pair's second column also needs the first one's new value.
 */
function solveTile(a: Float64Array, n: number, i0: number, i1: number, j0: number, j1: number): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) for (let j = j0; j < j1; j += 2) solve4x2(a, n, i, j, j0);
  for (; i < i1; i++) {
    const ri = i * n;
    for (let j = j0; j < j1; j++) a[ri + j] = (a[ri + j]! - dot(a, ri, j * n, j0, j)) / a[j * n + j]!;
  }
}

function solve4x2(a: Float64Array, n: number, i: number, j: number, k0: number): void {
  dots4x2(a, n, i, j, k0, j);
  const rj = j * n, rj1 = rj + n;
  const d = a[rj + j]!, u1 = a[rj1 + j]!, d1 = a[rj1 + j + 1]!;
  for (let r = 0; r < 4; r++) {
    const w = (i + r) * n + j;
    const l = (a[w]! - S[2 * r]!) / d;
    a[w] = l;
    a[w + 1] = (a[w + 1]! - S[2 * r + 1]! - l * u1) / d1;
  }
}

/** Unblocked factorisation of the diagonal tile (O(n · TILE²) in all). Returns the failing row or −1. */
function factorDiagonal(a: Float64Array, n: number, i0: number, i1: number): number {
  for (let i = i0; i < i1; i++) {
    const ri = i * n;
    for (let j = i0; j <= i; j++) {
      const rj = j * n;
      const s = a[ri + j]! - dot(a, ri, rj, i0, j);
      if (j < i) {
        a[ri + j] = s / a[rj + j]!;
      } else {
        a[ri + i] = s;
        if (!(s > 0)) return i;
        a[ri + i] = Math.sqrt(s);
      }
    }
  }
  return -1;
}
