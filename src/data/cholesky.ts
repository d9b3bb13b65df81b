/**
 * Dense float64 Cholesky factorisation and triangular solves, for the GP sampler (experiments.md §2)
 * and the exact GP posterior (the oracle). Matrices are row-major `Float64Array`s of n·n entries.
 *
 * The factorisation is blocked (tiles of 64, see cholesky-js.ts for why) and runs as a small
 * WebAssembly SIMD module (cholesky.c, f64x2) on a copy of the matrix in the module's own memory;
 * the same algorithm in plain JavaScript is the fallback where WebAssembly is unavailable or the
 * matrix does not fit a wasm32 memory. CPU time per factorisation on a shared 2-core Xeon
 * (Sapphire Rapids, Node 20, `npm run bench -- cholesky`): n = 1536 0.23 s, n = 6144 13 s, against
 * 0.87 s and 53 s for the former row-oriented JavaScript version (≈ 3.8× and 4.0×); the fallback
 * is about as fast as that former version on one thread but reads ≈ 16× less memory (by count).
 */
import { CHOLESKY_TILE, choleskyLowerJs } from './cholesky-js.js';
import { CHOLESKY_WASM } from './cholesky-wasm.js';

/** Thrown when a matrix is not (numerically) positive definite. */
export class CholeskyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CholeskyError';
  }
}

function pivotError(n: number, row: number, value: number, jitter: number): CholeskyError {
  return new CholeskyError(
    `cholesky: matrix of size ${n}×${n} is not positive definite: pivot at row ${row} is ${value} ` +
    `(jitter ${jitter} added to the diagonal); increase the jitter or check the kernel hyper-parameters`);
}

const PAGE = 65536;
/** Byte address of the matrix in the wasm memory: not 0 (C's null), 16-byte aligned. */
const BASE = 16;
/**
 * A thread keeps its wasm memory for the next call up to this size (n ≤ 2896: every training
 * batch reuses it); larger matrices (evaluation, n = 6144: 302 MB) get a memory of their own that
 * is released with the call instead of being held by every worker thread.
 */
const KEEP_BYTES = 64 << 20;

type Kernel = {
  memory: WebAssembly.Memory;
  cholesky: (a: number, n: number, m: number) => number;
  lowerTimes: (a: number, n: number, m: number, B: number, out: number, sq: number) => void;
  rbfColumns: (p: number, n: number, m: number, c: number, v: number, out: number) => void;
  separableColumns: (x: number, y: number, t: number, n: number, m: number, fs: number, cs: number, ft: number, ct: number,
    v: number, out: number) => void;
};
/** The compiled module (null: WebAssembly unavailable here), and this thread's kept instance. */
let wasmModule: WebAssembly.Module | null | undefined;
let kept: Kernel | undefined;

function instantiate(bytes: number): Kernel {
  const memory = new WebAssembly.Memory({ initial: Math.max(2, Math.ceil(bytes / PAGE)) });
  const inst = new WebAssembly.Instance(wasmModule!, { env: { memory } });
  return { memory, cholesky: inst.exports.cholesky as Kernel['cholesky'], lowerTimes: inst.exports.lower_times as Kernel['lowerTimes'],
    rbfColumns: inst.exports.rbf_columns as Kernel['rbfColumns'], separableColumns: inst.exports.separable_columns as Kernel['separableColumns'] };
}

/** A wasm instance whose memory holds `bytes`, or null to use the JavaScript fallback. */
function kernel(bytes: number): Kernel | null {
  if (wasmModule === undefined) {
    try {
      const s = atob(CHOLESKY_WASM);
      const code = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) code[i] = s.charCodeAt(i);
      wasmModule = new WebAssembly.Module(code);
    } catch {
      wasmModule = null;
    }
  }
  if (wasmModule === null || bytes > 2 ** 32 - PAGE) return null;
  try {
    if (bytes > KEEP_BYTES) return instantiate(bytes);
    kept ??= instantiate(bytes);
    const missing = bytes - kept.memory.buffer.byteLength;
    if (missing > 0) kept.memory.grow(Math.ceil(missing / PAGE));
    return kept;
  } catch {
    return null; // out of memory for a wasm memory: the JavaScript version works on `a` directly
  }
}

/**
 * Factorise A = L Lᵀ in place: on return the lower triangle of `a` holds L and the strict upper
 * triangle is zero. `jitter` is added to the diagonal first. On a throw, `a`'s contents are unspecified.
 *
 * **Arguments**: `a` [n, n] symmetric (only the lower triangle is read), `n`, `jitter` (≥ 0).
 * **Throws** `CholeskyError` naming the matrix size and the failing row if a pivot is ≤ 0 or NaN.
 */
export function choleskyInPlace(a: Float64Array, n: number, jitter = 0): void {
  if (a.length !== n * n) throw new RangeError(`cholesky: expected ${n}×${n} = ${n * n} entries, got ${a.length}`);
  choleskyColumnsInPlace(a, n, n, jitter);
}

/**
 * The first m columns of the Cholesky factor of an n×n matrix A, in place (A's first m columns
 * suffice; the rest of A is never needed). `a` is row-major [n, m]: rows i < m hold the leading
 * m×m block, rows i ≥ m the entries A[i, 0:m]. On return rows i < m hold L[0:m, 0:m] (strict upper
 * triangle zero) and rows i ≥ m hold L[i, 0:m] = A[i, 0:m] L[0:m, 0:m]^−ᵀ, so Σ_k L[i, k]² is the
 * part of A[i, i] that the first m variables explain (the Schur complement's diagonal is the rest).
 * `jitter` is added to the diagonal of the first m rows. Costs m²(n − m)/2 + m³/3 multiply-adds
 * instead of n³/3. Needs m = n or m a multiple of `CHOLESKY_TILE` (64).
 *
 * **Throws** `RangeError` on sizes, `CholeskyError` naming the failing row if a pivot is ≤ 0 or NaN.
 */
export function choleskyColumnsInPlace(a: Float64Array, n: number, m: number, jitter = 0): void {
  if (!(Number.isInteger(m) && m >= 1 && m <= n && (m === n || m % CHOLESKY_TILE === 0))) {
    throw new RangeError(`cholesky: expected m = n (${n}) or a multiple of ${CHOLESKY_TILE} below it, got m = ${m}`);
  }
  if (a.length !== n * m) throw new RangeError(`cholesky: expected ${n}×${m} = ${n * m} entries, got ${a.length}`);
  if (jitter !== 0) for (let i = 0; i < m; i++) a[i * m + i]! += jitter;
  const k = kernel(BASE + 8 * n * m);
  let bad: number;
  if (k) {
    const w = new Float64Array(k.memory.buffer, BASE, n * m);
    w.set(a);
    bad = k.cholesky(BASE, n, m);
    a.set(w);
  } else {
    bad = choleskyLowerJs(a, n, m);
  }
  if (bad >= 0) throw pivotError(n, bad, a[bad * m + bad]!, jitter);
  for (let r = 0; r < m; r++) a.fill(0, r * m + r + 1, (r + 1) * m);
}

/**
 * Products with the first m columns of a factor (`choleskyColumnsInPlace`'s output `l`, [n, m]):
 * `f[b·n + i] = Σ_k l[i, k] · z[b, k]` for B vectors z ([B, m], row-major), and for the rows
 * i ≥ m the squared norms `sq[i − m] = Σ_k l[i, k]²`. WebAssembly SIMD where available.
 */
export function lowerTimes(l: Float64Array, n: number, m: number, z: Float64Array, B: number): { f: Float64Array; sq: Float64Array } {
  if (l.length !== n * m || z.length !== B * m) {
    throw new RangeError(`lowerTimes: expected l of ${n}×${m} and z of ${B}×${m} entries, got ${l.length} and ${z.length}`);
  }
  const f = new Float64Array(B * n);
  const sq = new Float64Array(n - m);
  const words = (n + B) * m + B * n + (n - m);
  const k = m % 2 === 0 ? kernel(BASE + 8 * words) : null;
  if (k) {
    const w = new Float64Array(k.memory.buffer, BASE, words);
    w.set(l);
    w.set(z, n * m);
    const out = (n + B) * m;
    k.lowerTimes(BASE, n, m, B, BASE + 8 * out, BASE + 8 * (out + B * n));
    f.set(w.subarray(out, out + B * n));
    sq.set(w.subarray(out + B * n, words));
    return { f, sq };
  }
  for (let i = 0; i < n; i++) {
    const o = i * m;
    for (let b = 0; b < B; b++) {
      let s = 0;
      for (let c = 0; c < m; c++) s += l[o + c]! * z[b * m + c]!;
      f[b * n + i] = s;
    }
    if (i >= m) {
      let s = 0;
      for (let c = 0; c < m; c++) s += l[o + c]! * l[o + c]!;
      sq[i - m] = s;
    }
  }
  return { f, sq };
}

/**
 * The lower triangle of the first m columns of a 2-D RBF kernel matrix, v·exp(c·‖p_i − p_j‖²)
 * (c < 0), as `kernelColumnsLower` computes it, with a vectorised exp in WebAssembly (relative
 * error ≤ ~4e-15 against Math.exp). Returns null where the module cannot run it (no WebAssembly,
 * m odd); callers then use the JavaScript version.
 */
export function rbfColumns2d(p: Float64Array, n: number, m: number, c: number, v: number): Float64Array | null {
  if (m % 2 !== 0 || p.length !== 2 * n || !(c <= 0)) return null;
  const words = 2 * n + n * m;
  const k = kernel(BASE + 8 * words);
  if (!k) return null;
  const w = new Float64Array(k.memory.buffer, BASE, words);
  w.set(p);
  k.rbfColumns(BASE, n, m, c, v, BASE + 16 * n);
  return w.slice(2 * n, words);
}

/**
 * Kernel columns the WebAssembly module builds itself: the 2-D RBF v·exp(c·‖Δs‖²), or the
 * separable space-time kernel v · k_s(‖Δs‖) · k_t(|Δt|) of points [s0, s1, t] (families 0 RBF,
 * 1 Matérn 1/2, 2 Matérn 3/2, 3 Matérn 5/2 with constants c: RBF −1/(2ℓ²), Matérn ν √(2ν)/ℓ; both
 * factors share one exponential, relative error ≤ ~1e-14 against Math.exp). kernels.ts maps a
 * `KernelSpec` to this (`wasmColumns`).
 */
export type WasmColumns =
  | { kind: 'rbf2d'; c: number; v: number }
  | { kind: 'separable'; fs: number; cs: number; ft: number; ct: number; v: number };

/** Writes the lower triangle of the first m columns at byte `out`, using `words(n)` doubles at byte `scratch` for the points. */
function buildColumns(k: Kernel, cols: WasmColumns, p: ArrayLike<number>, n: number, m: number, out: number, scratch: number): void {
  const w = new Float64Array(k.memory.buffer, scratch, pointWords(cols, n));
  if (cols.kind === 'rbf2d') {
    for (let i = 0; i < 2 * n; i++) w[i] = p[i]!;
    k.rbfColumns(scratch, n, m, cols.c, cols.v, out);
    return;
  }
  for (let i = 0; i < n; i++) { w[i] = p[3 * i]!; w[n + i] = p[3 * i + 1]!; w[2 * n + i] = p[3 * i + 2]!; }
  k.separableColumns(scratch, scratch + 8 * n, scratch + 16 * n, n, m, cols.fs, cols.cs, cols.ft, cols.ct, cols.v, out);
}

const pointWords = (cols: WasmColumns, n: number): number => (cols.kind === 'rbf2d' ? 2 * n : 3 * n);

/**
 * The separable space-time kernel's columns as `kernelColumnsLower` returns them ([n, m], zero
 * above the diagonal), built in WebAssembly; `p` is [n, 3]. Null where WebAssembly cannot run.
 */
export function separableColumns3d(cols: WasmColumns & { kind: 'separable' }, p: ArrayLike<number>, n: number, m: number): Float64Array | null {
  if (p.length !== 3 * n) return null;
  const k = kernel(BASE + 8 * (n * m + 3 * n));
  if (!k) return null;
  buildColumns(k, cols, p, n, m, BASE, BASE + 8 * n * m);
  return new Float64Array(k.memory.buffer, BASE, n * m).slice();
}

/**
 * The marginal GP sampler's whole numeric core in WebAssembly memory, without moving the n×m
 * matrix in or out: the kernel columns (`cols` at points `p`, [n, D]), `jitter` on the first m
 * diagonal entries, `choleskyColumnsInPlace`, then `lowerTimes` with the B normal vectors `z`
 * ([B, m]). Same results as those three calls in turn (bit for bit, given the same columns).
 * Returns null where WebAssembly cannot run it (no WebAssembly, m odd, too large for a wasm32
 * memory); the caller then takes those calls.
 *
 * **Throws** `CholeskyError` as `choleskyColumnsInPlace`.
 */
export function columnsFactorTimes(cols: WasmColumns, p: ArrayLike<number>, n: number, m: number, jitter: number,
  z: Float64Array, B: number): { f: Float64Array; sq: Float64Array } | null {
  if (!(Number.isInteger(m) && m >= 1 && m <= n && (m === n || m % CHOLESKY_TILE === 0)) || m % 2 !== 0) return null;
  if (z.length !== B * m || p.length !== (cols.kind === 'rbf2d' ? 2 : 3) * n) return null;
  // [L: n·m][Z: B·m][f: B·n][sq: n − m][points]: Z follows L as lower_times expects.
  const zAt = n * m, fAt = zAt + B * m, sqAt = fAt + B * n, pAt = sqAt + (n - m);
  const k = kernel(BASE + 8 * (pAt + pointWords(cols, n)));
  if (!k) return null;
  buildColumns(k, cols, p, n, m, BASE, BASE + 8 * pAt);
  const a = new Float64Array(k.memory.buffer, BASE, n * m);
  if (jitter !== 0) for (let i = 0; i < m; i++) a[i * m + i]! += jitter;
  const bad = k.cholesky(BASE, n, m);
  if (bad >= 0) throw pivotError(n, bad, a[bad * m + bad]!, jitter);
  for (let r = 0; r < m; r++) a.fill(0, r * m + r + 1, (r + 1) * m);
  new Float64Array(k.memory.buffer, BASE + 8 * zAt, B * m).set(z);
  k.lowerTimes(BASE, n, m, B, BASE + 8 * fAt, BASE + 8 * sqAt);
  return { f: new Float64Array(k.memory.buffer, BASE + 8 * fAt, B * n).slice(), sq: new Float64Array(k.memory.buffer, BASE + 8 * sqAt, n - m).slice() };
}

/** Returns L with A + jitter·I = L Lᵀ, leaving `a` untouched. Default jitter 1e-5 (experiments.md §2). */
export function cholesky(a: Float64Array, n: number, jitter = 1e-5): Float64Array {
  const l = Float64Array.from(a);
  choleskyInPlace(l, n, jitter);
  return l;
}

/** Solves L Y = B in place (forward substitution). `b` is [n, m] row-major (m right-hand sides). */
export function solveLowerInPlace(l: Float64Array, n: number, b: Float64Array, m: number): void {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const bi = i * m;
    for (let k = 0; k < i; k++) {
      const lik = l[ri + k]!;
      if (lik === 0) continue;
      const bk = k * m;
      for (let c = 0; c < m; c++) b[bi + c]! -= lik * b[bk + c]!;
    }
    const inv = 1 / l[ri + i]!;
    for (let c = 0; c < m; c++) b[bi + c]! *= inv;
  }
}

/** Solves Lᵀ X = B in place (back substitution). `b` is [n, m] row-major. */
export function solveLowerTransposeInPlace(l: Float64Array, n: number, b: Float64Array, m: number): void {
  for (let i = n - 1; i >= 0; i--) {
    const bi = i * m;
    const inv = 1 / l[i * n + i]!;
    for (let c = 0; c < m; c++) b[bi + c]! *= inv;
    // Row i of X is final: subtract L[i][k] · X[i] from rows k < i.
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const lik = l[ri + k]!;
      if (lik === 0) continue;
      const bk = k * m;
      for (let c = 0; c < m; c++) b[bk + c]! -= lik * b[bi + c]!;
    }
  }
}

/** out = L z for lower-triangular L [n, n] and z [n]. */
export function lowerMatVec(l: Float64Array, n: number, z: ArrayLike<number>, out: Float64Array): Float64Array {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = 0;
    for (let k = 0; k <= i; k++) s += l[ri + k]! * z[k]!;
    out[i] = s;
  }
  return out;
}

/** log det(L Lᵀ) = 2 Σ log L_ii. */
export function logDetFromCholesky(l: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(l[i * n + i]!);
  return 2 * s;
}
