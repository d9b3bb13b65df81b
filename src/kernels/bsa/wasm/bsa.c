/*
 * Biased Scan Attention, CPU kernels in WebAssembly SIMD (simd128), float32.
 * Spec: shared/spec/bsa.md §2 (forward), §5.2 (Flash-style backward and bias-parameter gradients),
 * model.md §5 (distances, families, safe-δ rule). Driven by src/kernels/bsa/cpu.ts; built by
 * src/kernels/bsa/wasm/build.ts into bsa-wasm.ts (base64) with clang -O3 -msimd128, in two variants
 * that import their memory: `shared` (threads: every pool worker instantiates it on the CPU heap's
 * shared memory, next to the matmul module) and `plain` (a private ordinary memory).
 *
 * Nothing here uses the C stack or static data (the build checks for global.get/set), so any number
 * of instances can run on one memory at once: all per-thread state lives in a scratch block at
 * PSCRATCH + tid·SCRATCH_STRIDE, the Ctx struct included.
 *
 * Everything is described by a header of int32 slots (HDR_* below) written by cpu.ts. Tiles are
 * zero padded: query rows to a multiple of 2, keys to a multiple of 16, head widths d and dv to a
 * multiple of 16, so the register-blocked micro-kernels (2 rows × 16 columns = 8 f32x4
 * accumulators) never need edge code. Padded keys are invalid (masked); padded rows are ignored.
 *
 * Bias: the host merges basis functions with identical parameters (bsa.md §3, model.md §5.2: tied
 * bases) into a list of *unique bases* u (family, group, b, c), shared by all heads, plus per head
 * a list of entries (u, amplitude A = Σ of the tied a's). Per tile each unique basis is evaluated
 * once (E_u, one exp per pair), and head h's bias is Σ_entries A·E_u. The backward accumulates per
 * entry the raw sums sA = Σ dS·E, sB = Σ dS·x·E (x = δ², (δ−c)², δ) and sC = Σ dS·(δ−c)·E; the host
 * turns them into ∂a = sA, ∂b = −a·sB, ∂c = 2ab·sC for every tied basis function.
 *
 * bsa_forward(hdr, tid, s, e): units [s,e) of B × query tiles -> O rows and L = m + log l.
 * bsa_backward(hdr, tid, s, e): slices [s,e); slice σ covers a fixed contiguous range of the
 *   B × key-tile units: writes dK, dV rows of its tiles, adds into its own dQ buffer (DQTAB[σ],
 *   zeroed here) and its θ block (THETA + σ·3·NENTRIES doubles, zeroed here).
 * bsa_sum_dq(hdr, tid, s, e): rows [s,e) of dQ: DQTAB[0] += DQTAB[1] + … in slice order.
 * No libm: exp, log and atan are implemented here (float32 accuracy, rel. err ≲ 2e-7).
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

enum {
  HDR_B, HDR_H, HDR_Q, HDR_K, HDR_D, HDR_DV, HDR_TQ, HDR_TK, HDR_G, HDR_SCALE,
  HDR_PQ, HDR_PK, HDR_PV, HDR_PMASK, HDR_PO, HDR_PLSE, HDR_PDO, HDR_PDQTAB, HDR_PDK, HDR_PDV,
  HDR_PROWDELTA, HDR_PTHETA, HDR_PSCRATCH, HDR_SCRATCH_STRIDE, HDR_NU, HDR_PBASES, HDR_PHEADS,
  HDR_NENTRIES, HDR_SLICES,
  HDR_GROUPS = 40, /* per group: GRP_SLOTS slots */
};
enum { G_M, G_DIST, G_PCQ, G_PCK, GRP_SLOTS };
enum { FAM_RBF, FAM_TISA, FAM_EXP, FAM_SCALAR };
/* bases: int32 [NU][4] = family, group, b (f32 bits), c (f32 bits).
 * heads: int32 [H+1] entry offsets, then entries [NENTRIES][2] = basis u, A (f32 bits). */

typedef struct {
  int B, H, Q, K, d, dv, tq, tk, G, nu, nentries, slices;
  int dP, dvP; /* padded widths */
  int nI, nJ;
  float scale;
  const int *hdr;
  const float *q, *k, *v, *mask;
  float *o, *lse;
  const float *dO;
  const int *dqtab;
  float *dk, *dv_, *rowdelta;
  double *theta;
  const int *bases, *heads;
  /* scratch */
  float *qs, *kr, *kt, *vr, *vt, *S, *dPt, *E, *delta, *madd, *acc, *m, *l, *dkt, *dvt, *dqt, *dot;
  float *ckt; /* key coordinates of one tile, transposed [M][tk] */
} Ctx;

#define CTX_BYTES 512

static inline int ceil2(int n) { return (n + 1) & ~1; }
static inline int ceil16(int n) { return (n + 15) & ~15; }
static inline float *fptr(int p) { return (float *)(long)p; }
static inline float bitsf(int x) { return __builtin_bit_cast(float, x); }

static inline v128_t splat(float x) { return wasm_f32x4_splat(x); }

/* vexp: e^x for float32 lanes, exactly 0 below −87.3 or for NaN (shared with the CPU backend). */
#include "../../../engine/cpu/wasm/vexp.h"
static inline float sexp(float x) { return wasm_f32x4_extract_lane(vexp(splat(x)), 0); }

/* Natural log for x > 0 (double precision series; called once per row). */
static double slog(double x) {
  int e = 0;
  while (x > 2.0) { x *= 0.5; e++; }
  while (x < 1.0) { x *= 2.0; e--; }
  /* x in [1,2]: log x = 2 atanh((x-1)/(x+1)) */
  double t = (x - 1) / (x + 1), t2 = t * t, s = 0, pw = t;
  for (int k = 1; k < 40; k += 2) { s += pw / k; pw *= t2; }
  return 2 * s + e * 0.69314718055994530942;
}

/* atan(x) for x >= 0 (Cephes atanf scheme). */
static inline float satan(float x) {
  float y = 0, z;
  if (x > 2.414213562373095f) { y = 1.5707963267948966f; x = -1.0f / x; }
  else if (x > 0.41421356237309503f) { y = 0.7853981633974483f; x = (x - 1.0f) / (x + 1.0f); }
  z = x * x;
  return y + ((((8.05374449538e-2f * z - 1.38776856032e-1f) * z + 1.99777106478e-1f) * z
    - 3.33329491539e-1f) * z * x + x);
}
/* atan2(y, x) for y >= 0, in radians; NaN in, NaN out. */
static inline float satan2(float y, float x) {
  if (x != x || y != y) return x + y;
  if (x > 0) return satan(y / x);
  if (x < 0) return 3.14159265358979f - satan(y / -x);
  return 1.5707963267948966f;
}

static int scratch_floats(int H, int tq, int tk, int d, int dv, int G, int nu, int sumM) {
  int dP = ceil16(d), dvP = ceil16(dv);
  return H * tq * dP + 2 * H * tk * dP + 2 * H * tk * dvP + 2 * tq * tk + (nu > 0 ? nu : 1) * tq * tk
    + (G > 0 ? G : 1) * tq * tk + tq * tk + H * tq * dvP + 2 * H * tq + H * tk * dP + H * tk * dvP
    + tq * dP + tq * dvP + sumM * tk + 64;
}

/* Bytes of one thread's scratch block (Ctx + floats), a multiple of 64. */
EXPORT(bsa_scratch_bytes)
int bsa_scratch_bytes(int H, int tq, int tk, int d, int dv, int G, int nu, int sumM) {
  return (CTX_BYTES + 4 * scratch_floats(H, tq, tk, d, dv, G, nu, sumM) + 63) & ~63;
}

static Ctx *load_ctx(const int *h, int tid) {
  Ctx *c = (Ctx *)(long)(h[HDR_PSCRATCH] + tid * h[HDR_SCRATCH_STRIDE]);
  c->hdr = h;
  c->B = h[HDR_B]; c->H = h[HDR_H]; c->Q = h[HDR_Q]; c->K = h[HDR_K]; c->d = h[HDR_D]; c->dv = h[HDR_DV];
  c->tq = h[HDR_TQ]; c->tk = h[HDR_TK]; c->G = h[HDR_G]; c->nu = h[HDR_NU]; c->nentries = h[HDR_NENTRIES];
  c->slices = h[HDR_SLICES];
  c->dP = ceil16(c->d); c->dvP = ceil16(c->dv);
  c->nI = (c->Q + c->tq - 1) / c->tq; c->nJ = (c->K + c->tk - 1) / c->tk;
  c->scale = ((const float *)h)[HDR_SCALE];
  c->q = fptr(h[HDR_PQ]); c->k = fptr(h[HDR_PK]); c->v = fptr(h[HDR_PV]);
  c->mask = h[HDR_PMASK] ? fptr(h[HDR_PMASK]) : 0;
  c->o = fptr(h[HDR_PO]); c->lse = fptr(h[HDR_PLSE]); c->dO = fptr(h[HDR_PDO]);
  c->dqtab = (const int *)(long)h[HDR_PDQTAB]; c->dk = fptr(h[HDR_PDK]); c->dv_ = fptr(h[HDR_PDV]);
  c->rowdelta = fptr(h[HDR_PROWDELTA]);
  c->theta = (double *)(long)h[HDR_PTHETA];
  c->bases = (const int *)(long)h[HDR_PBASES]; c->heads = (const int *)(long)h[HDR_PHEADS];
  int tq = c->tq, tk = c->tk, H = c->H, dP = c->dP, dvP = c->dvP;
  float *p = (float *)((char *)c + CTX_BYTES);
#define TAKE(field, n) do { c->field = p; p += (n); } while (0)
  TAKE(qs, H * tq * dP); TAKE(kr, H * tk * dP); TAKE(kt, H * dP * tk); TAKE(vr, H * tk * dvP);
  TAKE(vt, H * dvP * tk); TAKE(S, tq * tk); TAKE(dPt, tq * tk);
  TAKE(E, (c->nu > 0 ? c->nu : 1) * tq * tk); TAKE(delta, (c->G > 0 ? c->G : 1) * tq * tk);
  TAKE(madd, tq * tk); TAKE(acc, H * tq * dvP); TAKE(m, H * tq); TAKE(l, H * tq);
  TAKE(dkt, H * tk * dP); TAKE(dvt, H * tk * dvP); TAKE(dqt, tq * dP); TAKE(dot, tq * dvP);
  TAKE(ckt, 0);
#undef TAKE
  return c;
}

/* ---- micro-kernels (2 rows × 16 columns) --------------------------------------------------- */

/* C[i][j] = Σ_c A[i][c] · Bt[c][j];  A [ni][w], Bt [w][nj], C [ni][nj]; ni%2 = nj%16 = 0. */
static void mm_abt(const float *A, const float *Bt, float *C, int ni, int nj, int w) {
  for (int i = 0; i < ni; i += 2) {
    const float *a0 = A + i * w, *a1 = a0 + w;
    for (int j = 0; j < nj; j += 16) {
      v128_t c00 = splat(0), c01 = splat(0), c02 = splat(0), c03 = splat(0);
      v128_t c10 = splat(0), c11 = splat(0), c12 = splat(0), c13 = splat(0);
      const float *bp = Bt + j;
      for (int c = 0; c < w; c++, bp += nj) {
        v128_t x0 = splat(a0[c]), x1 = splat(a1[c]);
        v128_t y0 = wasm_v128_load(bp), y1 = wasm_v128_load(bp + 4);
        v128_t y2 = wasm_v128_load(bp + 8), y3 = wasm_v128_load(bp + 12);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, y0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, y1));
        c02 = wasm_f32x4_add(c02, wasm_f32x4_mul(x0, y2)); c03 = wasm_f32x4_add(c03, wasm_f32x4_mul(x0, y3));
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, y0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, y1));
        c12 = wasm_f32x4_add(c12, wasm_f32x4_mul(x1, y2)); c13 = wasm_f32x4_add(c13, wasm_f32x4_mul(x1, y3));
      }
      float *o0 = C + i * nj + j, *o1 = o0 + nj;
      wasm_v128_store(o0, c00); wasm_v128_store(o0 + 4, c01); wasm_v128_store(o0 + 8, c02); wasm_v128_store(o0 + 12, c03);
      wasm_v128_store(o1, c10); wasm_v128_store(o1 + 4, c11); wasm_v128_store(o1 + 8, c12); wasm_v128_store(o1 + 12, c13);
    }
  }
}

/* C[i][:] += Σ_j A[i][j] · B[j][:];  A [ni][nj], B [nj][w], C [ni][w]; ni%2 = w%16 = 0. */
static void mm_acc_ab(const float *A, const float *B, float *C, int ni, int nj, int w) {
  for (int i = 0; i < ni; i += 2) {
    const float *a0 = A + i * nj, *a1 = a0 + nj;
    for (int c = 0; c < w; c += 16) {
      float *o0 = C + i * w + c, *o1 = o0 + w;
      v128_t c00 = wasm_v128_load(o0), c01 = wasm_v128_load(o0 + 4), c02 = wasm_v128_load(o0 + 8), c03 = wasm_v128_load(o0 + 12);
      v128_t c10 = wasm_v128_load(o1), c11 = wasm_v128_load(o1 + 4), c12 = wasm_v128_load(o1 + 8), c13 = wasm_v128_load(o1 + 12);
      const float *bp = B + c;
      for (int j = 0; j < nj; j++, bp += w) {
        v128_t x0 = splat(a0[j]), x1 = splat(a1[j]);
        v128_t y0 = wasm_v128_load(bp), y1 = wasm_v128_load(bp + 4);
        v128_t y2 = wasm_v128_load(bp + 8), y3 = wasm_v128_load(bp + 12);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, y0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, y1));
        c02 = wasm_f32x4_add(c02, wasm_f32x4_mul(x0, y2)); c03 = wasm_f32x4_add(c03, wasm_f32x4_mul(x0, y3));
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, y0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, y1));
        c12 = wasm_f32x4_add(c12, wasm_f32x4_mul(x1, y2)); c13 = wasm_f32x4_add(c13, wasm_f32x4_mul(x1, y3));
      }
      wasm_v128_store(o0, c00); wasm_v128_store(o0 + 4, c01); wasm_v128_store(o0 + 8, c02); wasm_v128_store(o0 + 12, c03);
      wasm_v128_store(o1, c10); wasm_v128_store(o1 + 4, c11); wasm_v128_store(o1 + 8, c12); wasm_v128_store(o1 + 12, c13);
    }
  }
}

/* C[j][:] += Σ_i A[i][j] · B[i][:];  A [ni][nj], B [ni][w], C [nj][w]; nj%2 = w%16 = 0. */
static void mm_acc_atb(const float *A, const float *B, float *C, int ni, int nj, int w) {
  for (int j = 0; j < nj; j += 2) {
    for (int c = 0; c < w; c += 16) {
      float *o0 = C + j * w + c, *o1 = o0 + w;
      v128_t c00 = wasm_v128_load(o0), c01 = wasm_v128_load(o0 + 4), c02 = wasm_v128_load(o0 + 8), c03 = wasm_v128_load(o0 + 12);
      v128_t c10 = wasm_v128_load(o1), c11 = wasm_v128_load(o1 + 4), c12 = wasm_v128_load(o1 + 8), c13 = wasm_v128_load(o1 + 12);
      for (int i = 0; i < ni; i++) {
        v128_t x0 = splat(A[i * nj + j]), x1 = splat(A[i * nj + j + 1]);
        const float *bp = B + i * w + c;
        v128_t y0 = wasm_v128_load(bp), y1 = wasm_v128_load(bp + 4);
        v128_t y2 = wasm_v128_load(bp + 8), y3 = wasm_v128_load(bp + 12);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, y0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, y1));
        c02 = wasm_f32x4_add(c02, wasm_f32x4_mul(x0, y2)); c03 = wasm_f32x4_add(c03, wasm_f32x4_mul(x0, y3));
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, y0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, y1));
        c12 = wasm_f32x4_add(c12, wasm_f32x4_mul(x1, y2)); c13 = wasm_f32x4_add(c13, wasm_f32x4_mul(x1, y3));
      }
      wasm_v128_store(o0, c00); wasm_v128_store(o0 + 4, c01); wasm_v128_store(o0 + 8, c02); wasm_v128_store(o0 + 12, c03);
      wasm_v128_store(o1, c10); wasm_v128_store(o1 + 4, c11); wasm_v128_store(o1 + 8, c12); wasm_v128_store(o1 + 12, c13);
    }
  }
}

/* ---- tile loads ---------------------------------------------------------------------------- */

/* dst[r][0..wP) = s·src[r][0..w) for r < nr, zero elsewhere up to nrP rows. */
static void load_rows(const float *src, int nr, int nrP, int w, int wP, float *dst, float s) {
  for (int r = 0; r < nrP; r++) {
    for (int c = 0; c < wP; c++) dst[r * wP + c] = (r < nr && c < w) ? s * src[r * w + c] : 0.0f;
  }
}
/* dst[c][r] = src[r][c] (transposed, [wP][nrP]), zero padded. */
static void load_rows_t(const float *src, int nr, int nrP, int w, int wP, float *dst) {
  for (int c = 0; c < wP; c++) {
    for (int r = 0; r < nrP; r++) dst[c * nrP + r] = (r < nr && c < w) ? src[r * w + c] : 0.0f;
  }
}

/* ---- distances and biases ------------------------------------------------------------------ */

/* Fills delta[g] (safe δ) and madd (0 valid / −∞ invalid) for rows [i0,i0+ni) × keys [j0,j0+nj). */
static void tile_distances(Ctx *c, int b, int i0, int ni, int niP, int j0, int nj, int njP) {
  int tn = c->tq * c->tk;
  float ninf = -__builtin_inff();
  for (int jj = 0; jj < njP; jj++) {
    float ok = (jj < nj && (!c->mask || c->mask[b * c->K + j0 + jj] != 0.0f)) ? 0.0f : ninf;
    for (int ii = 0; ii < niP; ii++) c->madd[ii * njP + jj] = ii < ni ? ok : ninf;
  }
  for (int g = 0; g < c->G; g++) {
    const int *gs = c->hdr + HDR_GROUPS + g * GRP_SLOTS;
    int M = gs[G_M];
    const float *cq = fptr(gs[G_PCQ]), *ck = fptr(gs[G_PCK]);
    float *D = c->delta + g * tn;
    if (gs[G_DIST] == 0) {
      /* Euclidean, vectorised over keys: transpose the key coordinates of the tile. */
      float *kt = c->ckt;
      for (int mm = 0; mm < M; mm++) {
        for (int jj = 0; jj < njP; jj++) kt[mm * njP + jj] = jj < nj ? ck[(b * c->K + j0 + jj) * M + mm] : 0.0f;
      }
      for (int ii = 0; ii < niP; ii++) {
        float *Dr = D + ii * njP;
        float *vr = c->madd + ii * njP;
        if (ii >= ni) { for (int jj = 0; jj < njP; jj++) Dr[jj] = 0; continue; }
        const float *qc = cq + (b * c->Q + i0 + ii) * M;
        for (int jj = 0; jj < njP; jj += 4) {
          v128_t s = splat(0);
          for (int mm = 0; mm < M; mm++) {
            v128_t t = wasm_f32x4_sub(splat(qc[mm]), wasm_v128_load(kt + mm * njP + jj));
            s = wasm_f32x4_add(s, wasm_f32x4_mul(t, t));
          }
          v128_t dl = wasm_f32x4_sqrt(s);
          v128_t fin = wasm_f32x4_eq(wasm_f32x4_sub(dl, dl), splat(0)); /* finite lanes */
          wasm_v128_store(Dr + jj, wasm_v128_and(dl, fin));
          wasm_v128_store(vr + jj, wasm_v128_bitselect(wasm_v128_load(vr + jj), splat(ninf), fin));
        }
      }
    } else {
      /* Great circle: cq/ck hold per-point [sinφ, cosφ, sinλ, cosλ] (cpu.ts); result in degrees. */
      for (int ii = 0; ii < niP; ii++) {
        float *Dr = D + ii * njP;
        if (ii >= ni) { for (int jj = 0; jj < njP; jj++) Dr[jj] = 0; continue; }
        const float *tq = cq + (b * c->Q + i0 + ii) * 4;
        float sp = tq[0], cp = tq[1], sl = tq[2], cl = tq[3];
        for (int jj = 0; jj < njP; jj++) {
          float dl = 0;
          if (jj < nj) {
            const float *tk = ck + (b * c->K + j0 + jj) * 4;
            float sp2 = tk[0], cp2 = tk[1], sl2 = tk[2], cl2 = tk[3];
            float sdl = sl * cl2 - cl * sl2, cdl = cl * cl2 + sl * sl2;
            float x = cp2 * sdl, y = cp * sp2 - sp * cp2 * cdl, z = sp * sp2 + cp * cp2 * cdl;
            dl = satan2(__builtin_sqrtf(x * x + y * y), z) * 57.29577951308232f;
            if (dl - dl != 0.0f) { dl = 0; c->madd[ii * njP + jj] = ninf; }
          }
          Dr[jj] = dl;
        }
      }
    }
  }
}

/* E_u over n tile entries for every unique basis u (one exp per pair and basis, shared by heads). */
static void tile_bases(Ctx *c, int n) {
  int tn = c->tq * c->tk;
  for (int u = 0; u < c->nu; u++) {
    const int *bs = c->bases + 4 * u;
    int fam = bs[0];
    const float *D = c->delta + bs[1] * tn;
    float *Ep = c->E + u * tn;
    v128_t nb = splat(-bitsf(bs[2])), cc = splat(bitsf(bs[3]));
    if (fam == FAM_SCALAR) {
      for (int p = 0; p < n; p += 4) wasm_v128_store(Ep + p, wasm_v128_load(D + p));
    } else if (fam == FAM_RBF) {
      for (int p = 0; p < n; p += 4) {
        v128_t x = wasm_v128_load(D + p);
        wasm_v128_store(Ep + p, vexp(wasm_f32x4_mul(nb, wasm_f32x4_mul(x, x))));
      }
    } else if (fam == FAM_TISA) {
      for (int p = 0; p < n; p += 4) {
        v128_t x = wasm_f32x4_sub(wasm_v128_load(D + p), cc);
        wasm_v128_store(Ep + p, vexp(wasm_f32x4_mul(nb, wasm_f32x4_mul(x, x))));
      }
    } else {
      for (int p = 0; p < n; p += 4) wasm_v128_store(Ep + p, vexp(wasm_f32x4_mul(nb, wasm_v128_load(D + p))));
    }
  }
}

/* S += madd + head h's bias Σ A·E_u over n entries (invalid -> −∞). */
static void add_bias(Ctx *c, int h, int n) {
  int tn = c->tq * c->tk;
  int e0 = c->heads[h], e1 = c->heads[h + 1];
  const int *ent = c->heads + c->H + 1;
  float *S = c->S;
  const float *M = c->madd;
  if (e1 - e0 == 1) {
    const float *E0 = c->E + ent[2 * e0] * tn;
    v128_t a0 = splat(bitsf(ent[2 * e0 + 1]));
    for (int p = 0; p < n; p += 4) {
      v128_t s = wasm_f32x4_add(wasm_v128_load(S + p), wasm_v128_load(M + p));
      wasm_v128_store(S + p, wasm_f32x4_add(s, wasm_f32x4_mul(a0, wasm_v128_load(E0 + p))));
    }
    return;
  }
  for (int p = 0; p < n; p += 4) wasm_v128_store(S + p, wasm_f32x4_add(wasm_v128_load(S + p), wasm_v128_load(M + p)));
  for (int e = e0; e < e1; e++) {
    const float *Ep = c->E + ent[2 * e] * tn;
    v128_t a = splat(bitsf(ent[2 * e + 1]));
    for (int p = 0; p < n; p += 4) {
      wasm_v128_store(S + p, wasm_f32x4_add(wasm_v128_load(S + p), wasm_f32x4_mul(a, wasm_v128_load(Ep + p))));
    }
  }
}

static inline float hmax(v128_t v) {
  v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}
static inline float hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2)
    + wasm_f32x4_extract_lane(v, 3);
}

/* ---- forward ------------------------------------------------------------------------------- */

/* Index of batch element b's last unmasked key + 1 (K without a mask). The key tiles after it hold
   only masked keys, whose terms are exact zeros, so the loops over key tiles stop there: a padded
   training batch (contexts of Nc ∈ [128, 512) in 512 slots, valid slots first) skips its padding. */
static int key_end(const Ctx *c, int b) {
  if (!c->mask) return c->K;
  const float *m = c->mask + b * c->K;
  int e = c->K;
  while (e > 0 && m[e - 1] == 0.0f) e--;
  return e;
}

/* Whether any of query rows [i0, i0 + ni) of batch element b has finite coordinates in every group.
   A tile without one (padded context rows given no coordinates, nn/krblock.ts) has no valid pair:
   its rows get O = 0 and L = −∞ and add nothing to the gradients, so its key loop is skipped. */
static int rows_valid(const Ctx *c, int b, int i0, int ni) {
  if (c->G == 0) return 1;
  for (int ii = 0; ii < ni; ii++) {
    int ok = 1;
    for (int g = 0; g < c->G && ok; g++) {
      const int *gs = c->hdr + HDR_GROUPS + g * GRP_SLOTS;
      int w = gs[G_DIST] == 0 ? gs[G_M] : 4;
      const float *qc = fptr(gs[G_PCQ]) + (b * c->Q + i0 + ii) * w;
      for (int mm = 0; mm < w; mm++) if (qc[mm] - qc[mm] != 0.0f) { ok = 0; break; }
    }
    if (ok) return 1;
  }
  return 0;
}

EXPORT(bsa_forward)
void bsa_forward(const int *hdr, int tid, int s, int e) {
  Ctx *c = load_ctx(hdr, tid);
  int H = c->H, Q = c->Q, K = c->K, d = c->d, dv = c->dv, dP = c->dP, dvP = c->dvP, tq = c->tq, tk = c->tk;
  for (int unit = s; unit < e; unit++) {
    int b = unit / c->nI, t = unit % c->nI;
    int i0 = t * tq, ni = Q - i0 < tq ? Q - i0 : tq, niP = ceil2(ni);
    for (int h = 0; h < H; h++) {
      load_rows(c->q + ((b * H + h) * Q + i0) * d, ni, niP, d, dP, c->qs + h * tq * dP, c->scale);
      for (int i = 0; i < tq; i++) { c->m[h * tq + i] = -__builtin_inff(); c->l[h * tq + i] = 0; }
      for (int x = 0; x < tq * dvP; x++) c->acc[h * tq * dvP + x] = 0;
    }
    int nJb = rows_valid(c, b, i0, ni) ? (key_end(c, b) + tk - 1) / tk : 0;
    for (int jt = 0; jt < nJb; jt++) {
      int j0 = jt * tk, nj = K - j0 < tk ? K - j0 : tk, njP = ceil16(nj);
      tile_distances(c, b, i0, ni, niP, j0, nj, njP);
      int n = niP * njP;
      tile_bases(c, n);
      for (int h = 0; h < H; h++) {
        load_rows_t(c->k + ((b * H + h) * K + j0) * d, nj, njP, d, dP, c->kt);
        load_rows(c->v + ((b * H + h) * K + j0) * dv, nj, njP, dv, dvP, c->vr, 1.0f);
        mm_abt(c->qs + h * tq * dP, c->kt, c->S, niP, njP, dP);
        add_bias(c, h, n);
        float *acc = c->acc + h * tq * dvP;
        for (int i = 0; i < niP; i++) {
          float *Sr = c->S + i * njP;
          v128_t mv = splat(-__builtin_inff());
          for (int j = 0; j < njP; j += 4) mv = wasm_f32x4_max(mv, wasm_v128_load(Sr + j));
          float mx = hmax(mv), mOld = c->m[h * tq + i], mNew = mx > mOld ? mx : mOld;
          if (mNew == -__builtin_inff()) {
            for (int j = 0; j < njP; j++) Sr[j] = 0;
            continue;
          }
          v128_t sv = splat(0), mn = splat(mNew);
          for (int j = 0; j < njP; j += 4) {
            v128_t p = vexp(wasm_f32x4_sub(wasm_v128_load(Sr + j), mn));
            wasm_v128_store(Sr + j, p);
            sv = wasm_f32x4_add(sv, p);
          }
          float sum = hsum(sv);
          if (mNew != mOld) {
            float cf = mOld == -__builtin_inff() ? 0.0f : sexp(mOld - mNew);
            c->l[h * tq + i] = c->l[h * tq + i] * cf + sum;
            v128_t cv = splat(cf);
            for (int x = 0; x < dvP; x += 4) wasm_v128_store(acc + i * dvP + x, wasm_f32x4_mul(wasm_v128_load(acc + i * dvP + x), cv));
            c->m[h * tq + i] = mNew;
          } else {
            c->l[h * tq + i] += sum;
          }
        }
        mm_acc_ab(c->S, c->vr, acc, niP, njP, dvP);
      }
    }
    for (int h = 0; h < H; h++) {
      for (int i = 0; i < ni; i++) {
        int row = (b * H + h) * Q + i0 + i;
        float l = c->l[h * tq + i];
        const float *a = c->acc + (h * tq + i) * dvP;
        if (l == 0) {
          c->lse[row] = -__builtin_inff();
          for (int x = 0; x < dv; x++) c->o[row * dv + x] = 0;
        } else {
          c->lse[row] = (float)(c->m[h * tq + i] + slog(l));
          float r = 1.0f / l;
          for (int x = 0; x < dv; x++) c->o[row * dv + x] = a[x] * r;
        }
      }
    }
  }
}

/* ---- backward ------------------------------------------------------------------------------ */

/* Raw θ sums of head h's entries over the tile: th[3e] += Σ dS·E, th[3e+1] += Σ dS·x·E, th[3e+2] += Σ dS·(δ−c)·E. */
static void theta_tile(Ctx *c, double *th, int h, int n) {
  int tn = c->tq * c->tk;
  int e0 = c->heads[h], e1 = c->heads[h + 1];
  const int *ent = c->heads + c->H + 1;
  for (int e = e0; e < e1; e++) {
    int u = ent[2 * e];
    const int *bs = c->bases + 4 * u;
    int fam = bs[0];
    const float *D = c->delta + bs[1] * tn, *Ep = c->E + u * tn, *dS = c->dPt;
    v128_t sA = splat(0), sB = splat(0), sC = splat(0);
    if (fam == FAM_SCALAR) {
      for (int p = 0; p < n; p += 4) sA = wasm_f32x4_add(sA, wasm_f32x4_mul(wasm_v128_load(dS + p), wasm_v128_load(Ep + p)));
    } else if (fam == FAM_RBF) {
      for (int p = 0; p < n; p += 4) {
        v128_t t = wasm_f32x4_mul(wasm_v128_load(dS + p), wasm_v128_load(Ep + p)), x = wasm_v128_load(D + p);
        sA = wasm_f32x4_add(sA, t);
        sB = wasm_f32x4_add(sB, wasm_f32x4_mul(t, wasm_f32x4_mul(x, x)));
      }
    } else if (fam == FAM_EXP) {
      for (int p = 0; p < n; p += 4) {
        v128_t t = wasm_f32x4_mul(wasm_v128_load(dS + p), wasm_v128_load(Ep + p));
        sA = wasm_f32x4_add(sA, t);
        sB = wasm_f32x4_add(sB, wasm_f32x4_mul(t, wasm_v128_load(D + p)));
      }
    } else {
      v128_t cc = splat(bitsf(bs[3]));
      for (int p = 0; p < n; p += 4) {
        v128_t t = wasm_f32x4_mul(wasm_v128_load(dS + p), wasm_v128_load(Ep + p));
        v128_t u4 = wasm_f32x4_sub(wasm_v128_load(D + p), cc), tu = wasm_f32x4_mul(t, u4);
        sA = wasm_f32x4_add(sA, t);
        sB = wasm_f32x4_add(sB, wasm_f32x4_mul(tu, u4));
        sC = wasm_f32x4_add(sC, tu);
      }
    }
    th[3 * e] += hsum(sA);
    th[3 * e + 1] += hsum(sB);
    th[3 * e + 2] += hsum(sC);
  }
}

static void backward_tile(Ctx *c, float *dqs, double *th, int b, int jt) {
  int H = c->H, Q = c->Q, K = c->K, d = c->d, dv = c->dv, dP = c->dP, dvP = c->dvP, tq = c->tq, tk = c->tk;
  int j0 = jt * tk, nj = K - j0 < tk ? K - j0 : tk, njP = ceil16(nj);
  if (j0 >= key_end(c, b)) {
    /* Only masked keys: dK = dV = 0, and nothing reaches dQ or the bias parameters. */
    for (int h = 0; h < H; h++) {
      int ko = (b * H + h) * K + j0;
      for (int x = 0; x < nj * d; x++) c->dk[ko * d + x] = 0;
      for (int x = 0; x < nj * dv; x++) c->dv_[ko * dv + x] = 0;
    }
    return;
  }
  for (int h = 0; h < H; h++) {
    const float *kh = c->k + ((b * H + h) * K + j0) * d, *vh = c->v + ((b * H + h) * K + j0) * dv;
    load_rows(kh, nj, njP, d, dP, c->kr + h * tk * dP, 1.0f);
    load_rows_t(kh, nj, njP, d, dP, c->kt + h * dP * tk);
    load_rows_t(vh, nj, njP, dv, dvP, c->vt + h * dvP * tk);
  }
  for (int x = 0; x < H * tk * dP; x++) c->dkt[x] = 0;
  for (int x = 0; x < H * tk * dvP; x++) c->dvt[x] = 0;
  for (int it = 0; it < c->nI; it++) {
    int i0 = it * tq, ni = Q - i0 < tq ? Q - i0 : tq, niP = ceil2(ni);
    if (!rows_valid(c, b, i0, ni)) continue;
    tile_distances(c, b, i0, ni, niP, j0, nj, njP);
    int n = niP * njP;
    tile_bases(c, n);
    for (int h = 0; h < H; h++) {
      int rowBase = (b * H + h) * Q + i0;
      load_rows(c->q + rowBase * d, ni, niP, d, dP, c->qs, c->scale);
      load_rows(c->dO + rowBase * dv, ni, niP, dv, dvP, c->dot, 1.0f);
      mm_abt(c->qs, c->kt + h * dP * tk, c->S, niP, njP, dP);
      add_bias(c, h, n);
      mm_abt(c->dot, c->vt + h * dvP * tk, c->dPt, niP, njP, dvP);
      for (int i = 0; i < niP; i++) {
        float *Sr = c->S + i * njP, *Dr = c->dPt + i * njP;
        float L = i < ni ? c->lse[rowBase + i] : -__builtin_inff();
        if (L == -__builtin_inff()) {
          for (int j = 0; j < njP; j++) { Sr[j] = 0; Dr[j] = 0; }
          continue;
        }
        v128_t Lv = splat(L), dl = splat(c->rowdelta[rowBase + i]);
        for (int j = 0; j < njP; j += 4) {
          v128_t p = vexp(wasm_f32x4_sub(wasm_v128_load(Sr + j), Lv));
          wasm_v128_store(Sr + j, p);
          wasm_v128_store(Dr + j, wasm_f32x4_mul(p, wasm_f32x4_sub(wasm_v128_load(Dr + j), dl)));
        }
      }
      mm_acc_atb(c->S, c->dot, c->dvt + h * tk * dvP, niP, njP, dvP);
      mm_acc_atb(c->dPt, c->qs, c->dkt + h * tk * dP, niP, njP, dP);
      for (int x = 0; x < niP * dP; x++) c->dqt[x] = 0;
      mm_acc_ab(c->dPt, c->kr + h * tk * dP, c->dqt, niP, njP, dP);
      for (int i = 0; i < ni; i++) {
        float *dq = dqs + (rowBase + i) * d;
        for (int x = 0; x < d; x++) dq[x] += c->scale * c->dqt[i * dP + x];
      }
      if (c->nentries > 0) theta_tile(c, th, h, n);
    }
  }
  for (int h = 0; h < H; h++) {
    int ko = (b * H + h) * K + j0;
    for (int j = 0; j < nj; j++) {
      for (int x = 0; x < d; x++) c->dk[(ko + j) * d + x] = c->dkt[(h * tk + j) * dP + x];
      for (int x = 0; x < dv; x++) c->dv_[(ko + j) * dv + x] = c->dvt[(h * tk + j) * dvP + x];
    }
  }
}

EXPORT(bsa_backward)
void bsa_backward(const int *hdr, int tid, int s, int e) {
  Ctx *c = load_ctx(hdr, tid);
  int units = c->B * c->nJ, rows = c->B * c->H * c->Q * c->d;
  for (int sl = s; sl < e; sl++) {
    float *dqs = fptr(c->dqtab[sl]);
    double *th = c->theta + sl * 3 * c->nentries;
    for (int x = 0; x < rows; x++) dqs[x] = 0;
    for (int x = 0; x < 3 * c->nentries; x++) th[x] = 0;
    int u0 = (int)((long long)units * sl / c->slices), u1 = (int)((long long)units * (sl + 1) / c->slices);
    for (int u = u0; u < u1; u++) backward_tile(c, dqs, th, u / c->nJ, u % c->nJ);
  }
}

EXPORT(bsa_sum_dq)
void bsa_sum_dq(const int *hdr, int tid, int s, int e) {
  (void)tid;
  int d = hdr[HDR_D], S = hdr[HDR_SLICES];
  const int *tab = (const int *)(long)hdr[HDR_PDQTAB];
  float *dst = fptr(tab[0]);
  for (int sl = 1; sl < S; sl++) {
    const float *src = fptr(tab[sl]);
    for (int x = s * d; x < e * d; x++) dst[x] += src[x];
  }
}
