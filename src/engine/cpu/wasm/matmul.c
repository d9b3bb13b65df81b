/*
 * WebAssembly SIMD (simd128) matmul kernels for the bsa-tnp CPU backend.
 *
 * Built by scripts/build-wasm.ts (clang --target=wasm32 -O3 -msimd128) into
 * src/engine/cpu/wasm/matmul-wasm.ts; src/engine/cpu/matmul.ts drives them.
 *
 * Scheme (GotoBLAS-style, sized for wasm's 16 SIMD registers of which V8 keeps one as scratch):
 * - pack_b: B (any transposition) is packed once per call into NR-wide column panels,
 *   panel[l][NR] over the full k, zero-padded past n. Units = (batch entry, panel); run in parallel.
 * - matmul_rows: a unit is (batch entry, block of `mu` rows of C). For each KC-long slice of k it
 *   packs its rows of A into MR-row micro-panels apack[l][MR] (zero-padded), then for every B
 *   panel (kept in L1) sweeps the micro-panels with the MR x NR register-blocked micro-kernel:
 *   MR*NR/4 f32x4 accumulators (4x8: 8 of them; 6x8 ran slower in V8, which keeps xmm15 as scratch), one splat of A and NR/4 loads of B per k step.
 * - Every thread gets its own scratch (packed A, an edge tile) at scratch + tid * scratch_stride.
 *
 * Nothing here uses the C stack in linear memory (checked by the build script: no
 * __stack_pointer), so instances in several threads can share one memory.
 * All pointers are byte addresses into the memory; sizes are element counts.
 */
#include <wasm_simd128.h>

#ifndef MR
#define MR 4
#endif
#ifndef NR
#define NR 8
#endif
#define NV (NR / 4)
#define KC 256
#ifndef NC_FLOATS
#define NC_FLOATS (128 * 1024) /* packed-B floats per column block: 512 KiB */
#endif

#define EXPORT(name) __attribute__((export_name(#name)))

/* ---- packing ---------------------------------------------------------------------------- */

/* Panel jp of batch entry pb: dst[l*NR + c] = op(B)[l][jp*NR + c], zero past n. */
static void pack_b_panel(const float *restrict b, float *restrict dst, int k, int n, int trans_b,
                         int j0) {
  int nc = n - j0 < NR ? n - j0 : NR;
  if (!trans_b) {
    const float *src = b + j0;
    if (nc == NR) {
      for (int l = 0; l < k; l++) {
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) wasm_v128_store(dst + l * NR + 4 * v, wasm_v128_load(src + (long)l * n + 4 * v));
      }
    } else {
      for (int l = 0; l < k; l++) {
        for (int c = 0; c < NR; c++) dst[l * NR + c] = c < nc ? src[(long)l * n + c] : 0.0f;
      }
    }
  } else {
    for (int c = 0; c < NR; c++) {
      if (c < nc) {
        const float *src = b + (long)(j0 + c) * k;
        for (int l = 0; l < k; l++) dst[l * NR + c] = src[l];
      } else {
        for (int l = 0; l < k; l++) dst[l * NR + c] = 0.0f;
      }
    }
  }
}

EXPORT(pack_b)
void pack_b(const float *b, float *packed, int k, int n, int trans_b, int stride_b, int tid,
            int start, int end) {
  (void)tid;
  int npanels = (n + NR - 1) / NR;
  for (int u = start; u < end; u++) {
    int pb = u / npanels, jp = u - pb * npanels;
    pack_b_panel(b + (long)pb * stride_b, packed + ((long)pb * npanels + jp) * k * NR, k, n,
                 trans_b, jp * NR);
  }
}

/* Rows i0..i0+rows of op(A), columns pc..pc+kc, into micro-panels dst[ip][l][MR]. */
static void pack_a(const float *restrict a, float *restrict dst, int m, int k, int trans_a, int i0,
                   int rows, int pc, int kc) {
  for (int ip = 0; ip < rows; ip += MR) {
    int mr = rows - ip < MR ? rows - ip : MR;
    float *d = dst + (long)ip * kc;
    if (!trans_a) {
      for (int r = 0; r < MR; r++) {
        if (r < mr) {
          const float *src = a + (long)(i0 + ip + r) * k + pc;
          for (int l = 0; l < kc; l++) d[l * MR + r] = src[l];
        } else {
          for (int l = 0; l < kc; l++) d[l * MR + r] = 0.0f;
        }
      }
    } else {
      for (int l = 0; l < kc; l++) {
        const float *src = a + (long)(pc + l) * m + i0 + ip;
        for (int r = 0; r < MR; r++) d[l * MR + r] = r < mr ? src[r] : 0.0f;
      }
    }
  }
}

/* ---- micro-kernel ----------------------------------------------------------------------- */

/*
 * C[0..mr)[0..nc) (=|+=) apanel[kc][MR] . bpanel[kc][NR]. Full tiles store straight to C; edge
 * tiles go through `tile` (MR*NR floats of per-thread scratch).
 */
static void kernel(int kc, const float *restrict ap, const float *restrict bp, float *restrict c,
                   int ldc, int mr, int nc, int accum, float *restrict tile) {
  v128_t acc[MR][NV];
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) acc[r][v] = wasm_f32x4_splat(0.0f);
  }
#ifdef KUNROLL
#pragma clang loop unroll_count(KUNROLL)
#endif
  for (int l = 0; l < kc; l++) {
    v128_t bv[NV];
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) bv[v] = wasm_v128_load(bp + 4 * v);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
      v128_t av = wasm_v128_load32_splat(ap + r);
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) acc[r][v] = wasm_f32x4_add(acc[r][v], wasm_f32x4_mul(av, bv[v]));
    }
    ap += MR;
    bp += NR;
  }
  if (mr == MR && nc == NR) {
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
      float *cr = c + (long)r * ldc;
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) {
        if (accum) acc[r][v] = wasm_f32x4_add(acc[r][v], wasm_v128_load(cr + 4 * v));
        wasm_v128_store(cr + 4 * v, acc[r][v]);
      }
    }
    return;
  }
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) wasm_v128_store(tile + r * NR + 4 * v, acc[r][v]);
  }
  for (int r = 0; r < mr; r++) {
    float *cr = c + (long)r * ldc;
    for (int j = 0; j < nc; j++) cr[j] = accum ? cr[j] + tile[r * NR + j] : tile[r * NR + j];
  }
}

/* ---- driver ----------------------------------------------------------------------------- */

/* Floats of per-thread scratch matmul_rows needs for `mu` rows per unit. */
EXPORT(scratch_floats)
int scratch_floats(int mu) {
  int rows = (mu + MR - 1) / MR * MR;
  return rows * KC + MR * NR + 16;
}

EXPORT(micro_rows)
int micro_rows(void) { return MR; }

EXPORT(panel_cols)
int panel_cols(void) { return NR; }

EXPORT(matmul_rows)
void matmul_rows(const float *a, const float *packed_b, float *c, int m, int k, int n, int trans_a,
                 int stride_a, int stride_packed_b, int mu, float *scratch, int scratch_stride,
                 int tid, int start, int end) {
  int units_per_batch = (m + mu - 1) / mu;
  int npanels = (n + NR - 1) / NR;
  float *apack = scratch + (long)tid * scratch_stride;
  int rows_pad = (mu + MR - 1) / MR * MR;
  float *tile = apack + (long)rows_pad * KC;
  for (int u = start; u < end; u++) {
    int p = u / units_per_batch, ib = u - p * units_per_batch;
    int i0 = ib * mu;
    int rows = m - i0 < mu ? m - i0 : mu;
    const float *ab = a + (long)p * stride_a;
    const float *bb = packed_b + (long)p * stride_packed_b;
    float *cb = c + ((long)p * m + i0) * n;
    for (int pc = 0; pc < k; pc += KC) {
      int kc = k - pc < KC ? k - pc : KC;
      pack_a(ab, apack, m, k, trans_a, i0, rows, pc, kc);
      /* Column blocks of NCB panels keep the packed B slice (kc x NCB*NR) in L2. Inside one, each
       * MR-row micro-panel of A sweeps all panels, writing whole row segments of C: with ldc a
       * large power of two, sweeping rows within a panel instead thrashes L1/L2 sets. */
      int ncb = NC_FLOATS / (kc * NR);
      if (ncb < 1) ncb = 1;
      for (int jb = 0; jb < npanels; jb += ncb) {
        int je = jb + ncb < npanels ? jb + ncb : npanels;
        for (int ip = 0; ip < rows; ip += MR) {
          int mr = rows - ip < MR ? rows - ip : MR;
          const float *ap = apack + (long)ip * kc;
          float *cr = cb + (long)ip * n;
          for (int jp = jb; jp < je; jp++) {
            int j0 = jp * NR;
            int nc = n - j0 < NR ? n - j0 : NR;
            kernel(kc, ap, bb + ((long)jp * k + pc) * NR, cr + j0, n, mr, nc, pc > 0, tile);
          }
        }
      }
    }
  }
}
