/*
 * Blocked float64 Cholesky factorisation for WebAssembly SIMD (f64x2), built by
 * src/data/cholesky-build.ts into cholesky-wasm.ts. The algorithm (tiles, chunks, summation order
 * within each chunk) is the one of cholesky-js.ts, the JavaScript fallback; see there for the
 * reasoning. Only the inner dot products differ: two interleaved partial sums per f64x2 lane.
 *
 * The matrix is row-major at byte address `a` of the imported memory, with rows of m entries (the
 * first m columns, see `cholesky`); only its lower triangle is read and written. No C stack and no static data (checked by the build): the module owns no
 * memory of its own. Indices are int: a wasm32 memory holds at most 2^29 doubles.
 */
#include <wasm_simd128.h>

/* Tile rows/columns, and the chunk of the summation index k processed per pass. TILE and KC must be
 * even: then every vectorised dot product below has an even length. */
#define TILE 64
#define KC 256

typedef v128_t V;

static inline V madd(V s, V x, V y) { return wasm_f64x2_add(s, wasm_f64x2_mul(x, y)); }
static inline double hsum(V v) { return wasm_f64x2_extract_lane(v, 0) + wasm_f64x2_extract_lane(v, 1); }

/* s[2r + c] = Σ_{k0 ≤ k < k1} A[i + r][k] · A[j + c][k] for r < 4, c < 2; k1 − k0 even. Every load
 * feeds two (x) or four (y) products, eight accumulators stay in registers. */
static inline void dots4x2(const double *a, int ld, int i, int j, int k0, int k1, double *s) {
  const double *x0 = a + i * ld, *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld;
  const double *y0 = a + j * ld, *y1 = y0 + ld;
  V s00 = wasm_f64x2_splat(0), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
  for (int k = k0; k < k1; k += 2) {
    V u = wasm_v128_load(y0 + k), v = wasm_v128_load(y1 + k), x;
    x = wasm_v128_load(x0 + k); s00 = madd(s00, x, u); s01 = madd(s01, x, v);
    x = wasm_v128_load(x1 + k); s10 = madd(s10, x, u); s11 = madd(s11, x, v);
    x = wasm_v128_load(x2 + k); s20 = madd(s20, x, u); s21 = madd(s21, x, v);
    x = wasm_v128_load(x3 + k); s30 = madd(s30, x, u); s31 = madd(s31, x, v);
  }
  s[0] = hsum(s00); s[1] = hsum(s01); s[2] = hsum(s10); s[3] = hsum(s11);
  s[4] = hsum(s20); s[5] = hsum(s21); s[6] = hsum(s30); s[7] = hsum(s31);
}

static double dot(const double *x, const double *y, int k0, int k1) {
  double s = 0;
  for (int k = k0; k < k1; k++) s += x[k] * y[k];
  return s;
}

/* A[i0:i1, j0:j1] −= L[i0:i1, k0:k1] · L[j0:j1, k0:k1]ᵀ; `lower`: diagonal tile, only j ≤ i is needed.
 * Not inlined so that V8 tiers it up (optimised code is used from its next call on; a single long
 * call would run entirely in the baseline compiler). */
__attribute__((noinline)) static void subtract_products(double *a, int ld, int i0, int i1, int j0, int j1,
                                                         int k0, int k1, int lower) {
  double s[8];
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    int jend = lower ? i + 4 : j1;
    for (int j = j0; j < jend; j += 2) {
      dots4x2(a, ld, i, j, k0, k1, s);
      for (int r = 0; r < 4; r++) {
        double *w = a + (i + r) * ld + j;
        w[0] -= s[2 * r];
        w[1] -= s[2 * r + 1];
      }
    }
  }
  for (; i < i1; i++) {
    double *ri = a + i * ld;
    int jend = lower ? i + 1 : j1;
    for (int j = j0; j < jend; j++) ri[j] -= dot(ri, a + j * ld, k0, k1);
  }
}

/* L[i0:i1, j0:j1] = A[i0:i1, j0:j1] · L[j0:j1, j0:j1]^−ᵀ (forward substitution along each row), once
 * A holds the products over k < j0. Column pairs as in dots4x2; the pair's second column also
 * needs the first one's new value. */
__attribute__((noinline)) static void solve_tile(double *a, int ld, int i0, int i1, int j0, int j1) {
  double s[8];
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    for (int j = j0; j < j1; j += 2) {
      dots4x2(a, ld, i, j, j0, j, s);
      const double *rj = a + j * ld, *rj1 = rj + ld;
      for (int r = 0; r < 4; r++) {
        double *ri = a + (i + r) * ld;
        double l = (ri[j] - s[2 * r]) / rj[j];
        ri[j] = l;
        ri[j + 1] = (ri[j + 1] - s[2 * r + 1] - l * rj1[j]) / rj1[j + 1];
      }
    }
  }
  for (; i < i1; i++) {
    double *ri = a + i * ld;
    for (int j = j0; j < j1; j++) {
      const double *rj = a + j * ld;
      ri[j] = (ri[j] - dot(ri, rj, j0, j)) / rj[j];
    }
  }
}

/* Unblocked factorisation of the diagonal tile (O(n·TILE²) in all, so scalar). Returns the failing
 * row with its pivot left on the diagonal, or −1. */
static int factor_diagonal(double *a, int ld, int i0, int i1) {
  for (int i = i0; i < i1; i++) {
    double *ri = a + i * ld;
    for (int j = i0; j <= i; j++) {
      const double *rj = a + j * ld;
      double s = ri[j] - dot(ri, rj, i0, j);
      if (j < i) {
        ri[j] = s / rj[j];
      } else {
        ri[i] = s;
        if (!(s > 0)) return i;
        ri[i] = __builtin_sqrt(s);
      }
    }
  }
  return -1;
}

/* The first m columns of the Cholesky factor of the n×n matrix A = L Lᵀ, in place: `a` holds rows
 * of m entries (row-major [n, m], the lower triangle of A's first m columns; m = n: the whole
 * factorisation). Needs m = n or m a multiple of TILE. Rows i ≥ m then hold L[i, 0:m] = A[i, 0:m]
 * L[0:m, 0:m]^−ᵀ, the rows of the triangular solve, and no entry of A beyond column m is read.
 * Returns −1, or the row whose pivot is ≤ 0 or NaN (the pivot is then on that row's diagonal). */
int cholesky(double *a, int n, int m) {
  for (int i0 = 0; i0 < n; i0 += TILE) {
    int i1 = i0 + TILE < n ? i0 + TILE : n;
    int jend = i0 < m ? i0 : m;
    for (int j0 = 0; j0 < jend; j0 += TILE) {
      for (int k0 = 0; k0 < j0; k0 += KC) subtract_products(a, m, i0, i1, j0, j0 + TILE, k0, k0 + KC < j0 ? k0 + KC : j0, 0);
      solve_tile(a, m, i0, i1, j0, j0 + TILE);
    }
    if (i0 >= m) continue;
    for (int k0 = 0; k0 < i0; k0 += KC) subtract_products(a, m, i0, i1, i0, i1, k0, k0 + KC < i0 ? k0 + KC : i0, 1);
    int bad = factor_diagonal(a, m, i0, i1);
    if (bad >= 0) return bad;
  }
  return -1;
}

/* Products with the factor, for the GP sampler: with L = a[0 : n·m] (row-major [n, m]) followed in
 * memory by Z = a[n·m : (n + B)·m] ([B, m], one row per function), writes
 *   out[b·n + i] = Σ_{k<m} L[i][k] · Z[b][k]   (i < n, b < B), and
 *   sq[i − m]   = Σ_{k<m} L[i][k]²             (m ≤ i < n).
 * m even. Z's rows are rows n … n + B − 1 of the same [·, m] array, so dots4x2 serves both. */
void lower_times(double *a, int n, int m, int B, double *out, double *sq) {
  double s[8];
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    int b = 0;
    for (; b + 2 <= B; b += 2) {
      dots4x2(a, m, i, n + b, 0, m, s);
      for (int r = 0; r < 4; r++) {
        out[b * n + i + r] = s[2 * r];
        out[(b + 1) * n + i + r] = s[2 * r + 1];
      }
    }
    for (; b < B; b++) for (int r = 0; r < 4; r++) out[b * n + i + r] = dot(a + (i + r) * m, a + (n + b) * m, 0, m);
  }
  for (; i < n; i++) for (int b = 0; b < B; b++) out[b * n + i] = dot(a + i * m, a + (n + b) * m, 0, m);
  for (i = m; i < n; i++) sq[i - m] = dot(a + i * m, a + i * m, 0, m);
}

/* e^x for x ≤ 0, two lanes: x = k·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series to r^12
 * (relative truncation error < 3e-15 on that interval) in Horner form, then 2^k through the exponent
 * bits. x < −708 (where 2^k would leave the normal range) gives 0: kernel entries that small are 0
 * to float64 anyway. */
static inline V exp_neg(V x) {
  const V ln2_hi = wasm_f64x2_splat(6.93147180369123816490e-01);
  const V ln2_lo = wasm_f64x2_splat(1.90821492927058770002e-10);
  V k = wasm_f64x2_nearest(wasm_f64x2_mul(x, wasm_f64x2_splat(1.44269504088896338700)));
  V r = wasm_f64x2_sub(wasm_f64x2_sub(x, wasm_f64x2_mul(k, ln2_hi)), wasm_f64x2_mul(k, ln2_lo));
  V p = wasm_f64x2_splat(1.0 / 479001600.0);
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 39916800.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 3628800.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 362880.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 40320.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 5040.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 720.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 120.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 24.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0 / 6.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(0.5));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0));
  p = wasm_f64x2_add(wasm_f64x2_mul(p, r), wasm_f64x2_splat(1.0));
  /* 2^k: k + 1023 in the exponent field (k ≥ −1022 here). */
  V ki = wasm_i64x2_extend_low_i32x4(wasm_i32x4_trunc_sat_f64x2_zero(k));
  V scale = wasm_i64x2_shl(wasm_i64x2_add(ki, wasm_i64x2_splat(1023)), 52);
  V y = wasm_f64x2_mul(p, scale);
  return wasm_v128_and(y, wasm_f64x2_ge(x, wasm_f64x2_splat(-708.0)));
}

/* The lower triangle of the first m columns of the 2-D RBF kernel matrix, for choleskyColumns:
 * out[i·m + j] = v · e^{c·‖p_i − p_j‖²} for j ≤ min(i, m − 1) (c = −1/(2ℓ²) < 0), zero above; p is
 * [n, 2] at `p`. m even. */
void rbf_columns(const double *p, int n, int m, double c, double v, double *out) {
  const V cv = wasm_f64x2_splat(c), vv = wasm_f64x2_splat(v);
  for (int i = 0; i < n; i++) {
    const V xi = wasm_f64x2_splat(p[2 * i]), yi = wasm_f64x2_splat(p[2 * i + 1]);
    int jend = i + 1 < m ? i + 1 : m;
    double *row = out + i * m;
    int j = 0;
    for (; j + 2 <= jend; j += 2) {
      /* Two points (x_j, y_j), (x_{j+1}, y_{j+1}): deinterleave into x and y lanes. */
      V a = wasm_v128_load(p + 2 * j), b = wasm_v128_load(p + 2 * j + 2);
      V dx = wasm_f64x2_sub(xi, wasm_i64x2_shuffle(a, b, 0, 2));
      V dy = wasm_f64x2_sub(yi, wasm_i64x2_shuffle(a, b, 1, 3));
      V d2 = wasm_f64x2_add(wasm_f64x2_mul(dx, dx), wasm_f64x2_mul(dy, dy));
      wasm_v128_store(row + j, wasm_f64x2_mul(vv, exp_neg(wasm_f64x2_mul(cv, d2))));
    }
    for (; j < m; j++) {
      if (j < jend) {
        double dx = p[2 * i] - p[2 * j], dy = p[2 * i + 1] - p[2 * j + 1];
        V e = exp_neg(wasm_f64x2_splat(c * (dx * dx + dy * dy)));
        row[j] = v * wasm_f64x2_extract_lane(e, 0);
      } else {
        row[j] = 0;
      }
    }
  }
}

/* One factor of a separable kernel for two pairs at once: family `fam` (0 RBF, 1 Matérn 1/2, 2
 * Matérn 3/2, 3 Matérn 5/2) with constant c (RBF: c = −1/(2ℓ²); Matérn ν: c = √(2ν)/ℓ), at distance
 * d (Matérn) or squared distance d2 (RBF; the other is not read). Adds its exponent to *e (the
 * factor is poly · e^{e}) and returns the polynomial (RBF and Matérn 1/2: 1; 3/2: 1 + r; 5/2:
 * 1 + r + r²/3, r = c·d). */
static inline __attribute__((always_inline)) V factor(int fam, V d, V d2, V c, V *e) {
  const V one = wasm_f64x2_splat(1.0);
  if (fam == 0) { *e = wasm_f64x2_add(*e, wasm_f64x2_mul(c, d2)); return one; }
  V r = wasm_f64x2_mul(c, d);
  *e = wasm_f64x2_sub(*e, r);
  if (fam == 1) return one;
  if (fam == 2) return wasm_f64x2_add(one, r);
  return wasm_f64x2_add(wasm_f64x2_add(one, r), wasm_f64x2_mul(wasm_f64x2_mul(r, r), wasm_f64x2_splat(1.0 / 3.0)));
}

/* v · k_s · k_t at points i (splatted xi, yi, ti) and the two points of x, y, t (lanes). Only the
 * distances a family needs are computed (the compiler drops the unused ones). */
static inline __attribute__((always_inline)) V separable_pair(int fs, int ft, V xi, V yi, V ti, V x, V y, V t, V cs, V ct, V vv) {
  V dx = wasm_f64x2_sub(xi, x), dy = wasm_f64x2_sub(yi, y), dt = wasm_f64x2_sub(ti, t);
  V e = wasm_f64x2_splat(0.0);
  V ds2 = wasm_f64x2_add(wasm_f64x2_mul(dx, dx), wasm_f64x2_mul(dy, dy));
  V ps = factor(fs, wasm_f64x2_sqrt(ds2), ds2, cs, &e);
  V pt = factor(ft, wasm_f64x2_abs(dt), wasm_f64x2_mul(dt, dt), ct, &e);
  return wasm_f64x2_mul(wasm_f64x2_mul(wasm_f64x2_mul(vv, ps), pt), exp_neg(e));
}

static inline __attribute__((always_inline)) void separable_rows(int fs, int ft, const double *x, const double *y, const double *t,
                                                                 int n, int m, double cs, double ct, double v, double *out) {
  const V csv = wasm_f64x2_splat(cs), ctv = wasm_f64x2_splat(ct), vv = wasm_f64x2_splat(v);
  for (int i = 0; i < n; i++) {
    const V xi = wasm_f64x2_splat(x[i]), yi = wasm_f64x2_splat(y[i]), ti = wasm_f64x2_splat(t[i]);
    int jend = i + 1 < m ? i + 1 : m;
    double *row = out + i * m;
    int j = 0;
    for (; j + 2 <= jend; j += 2) {
      wasm_v128_store(row + j, separable_pair(fs, ft, xi, yi, ti, wasm_v128_load(x + j), wasm_v128_load(y + j), wasm_v128_load(t + j), csv, ctv, vv));
    }
    if (j < jend) {
      V k = separable_pair(fs, ft, xi, yi, ti, wasm_f64x2_splat(x[j]), wasm_f64x2_splat(y[j]), wasm_f64x2_splat(t[j]), csv, ctv, vv);
      row[j++] = wasm_f64x2_extract_lane(k, 0);
    }
    for (; j < m; j++) row[j] = 0;
  }
}

/* The lower triangle of the first m columns of the separable space-time kernel matrix
 * v · k_s(‖Δs‖) · k_t(|Δt|) (the gp-mixture task), zero above: out[i·m + j] for j ≤ min(i, m − 1).
 * Points are x, y, t [n] each (structure of arrays); fs, ft the families (see `factor`) with their
 * constants cs, ct. Both factors share one exponential: k = v · P_s · P_t · e^{e_s + e_t}. */
void separable_columns(const double *x, const double *y, const double *t, int n, int m,
                       int fs, double cs, int ft, double ct, double v, double *out) {
  /* Specialised on the space family (the time family is a well-predicted branch in the loop):
   * four copies of the loop instead of sixteen keep the module small. */
  switch (fs) {
    case 0: separable_rows(0, ft, x, y, t, n, m, cs, ct, v, out); return;
    case 1: separable_rows(1, ft, x, y, t, n, m, cs, ct, v, out); return;
    case 2: separable_rows(2, ft, x, y, t, n, m, cs, ct, v, out); return;
    default: separable_rows(3, ft, x, y, t, n, m, cs, ct, v, out); return;
  }
}
