/*
 * WebAssembly SIMD (simd128) elementwise kernels for the bsa-tnp CPU backend: the tanh form of
 * GELU and its gradient, which the JavaScript loops ran at ~80 ns per element (Math.tanh through a
 * per-element closure: about a third of a CPU training step).
 *
 * Built with matmul.c into one module by scripts/build-wasm.ts; engine/cpu/backend.ts calls them
 * on storages of the shared heap. Pointers are byte addresses, n an element count; the tail past a
 * multiple of 4 is done one lane at a time with the same formulas. No C stack is used.
 *
 * With u = c·(x + 0.044715·x³), c = √(2/π):
 *   gelu(x)  = ½·x·(1 + tanh u)           = x·s,      s = 1 / (1 + e),  e = exp(−2u)
 *   gelu'(x) = ½(1 + tanh u) + ½·x·(1 − tanh² u)·u'  = s·(1 + 2·x·e·s·u'),  u' = c·(1 + 3·0.044715·x²)
 * using 1 + tanh u = 2s and 1 − tanh² u = 4s(1 − s), 1 − s = e·s. This form has no cancellation
 * for negative x (1 + tanh u is never formed by subtraction). x is limited to [−10, 10] (clamp10)
 * and −2u to ±87, so that e stays finite.
 *
 * exp is vexp (vexp.h, shared with the BSA kernel); within ±87 its clamp and mask do nothing.
 */
#include <wasm_simd128.h>

#include "vexp.h"

#define EXPORT(name) __attribute__((export_name(#name)))

#define C0 0.7978845608028654f /* sqrt(2 / pi) */
#define A3 0.044715f

/* e = exp(−2u) (clamped) for x; also returns u' in *du when du is not null. */
static inline v128_t expm2u(v128_t x, v128_t *du) {
  const v128_t x2 = wasm_f32x4_mul(x, x);
  const v128_t u = wasm_f32x4_mul(wasm_f32x4_splat(C0), wasm_f32x4_add(x, wasm_f32x4_mul(wasm_f32x4_splat(A3), wasm_f32x4_mul(x2, x))));
  if (du) *du = wasm_f32x4_mul(wasm_f32x4_splat(C0), wasm_f32x4_add(wasm_f32x4_splat(1.0f), wasm_f32x4_mul(wasm_f32x4_splat(3.0f * A3), x2)));
  v128_t z = wasm_f32x4_mul(wasm_f32x4_splat(-2.0f), u);
  z = wasm_f32x4_pmin(wasm_f32x4_pmax(z, wasm_f32x4_splat(-87.0f)), wasm_f32x4_splat(87.0f));
  return vexp(z);
}

/* x limited to [−10, 10] (NaN stays NaN): beyond, s is 0 or 1 to f32 precision, and x³ or x²
 * could overflow. gelu uses max(x, −10)·s: x itself above 10, ~−1.6e-37 (for 0) below −10. */
static inline v128_t clamp10(v128_t x) {
  return wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-10.0f)), wasm_f32x4_splat(10.0f));
}

static inline v128_t gelu4(v128_t x) {
  const v128_t e = expm2u(clamp10(x), 0);
  return wasm_f32x4_div(wasm_f32x4_pmax(x, wasm_f32x4_splat(-10.0f)), wasm_f32x4_add(wasm_f32x4_splat(1.0f), e));
}

static inline v128_t gelu_grad4(v128_t x0, v128_t dy) {
  v128_t du;
  const v128_t x = clamp10(x0);
  const v128_t e = expm2u(x, &du);
  const v128_t s = wasm_f32x4_div(wasm_f32x4_splat(1.0f), wasm_f32x4_add(wasm_f32x4_splat(1.0f), e));
  const v128_t t = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_splat(2.0f), x), wasm_f32x4_mul(e, s)), du);
  return wasm_f32x4_mul(dy, wasm_f32x4_mul(s, wasm_f32x4_add(wasm_f32x4_splat(1.0f), t)));
}

/* out[i] = gelu(x[i]), i < n. NaN in, NaN out (pmin/pmax pass a NaN first operand through). */
EXPORT(gelu_f32) void gelu_f32(const float *x, float *out, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, gelu4(wasm_v128_load(x + i)));
  for (; i < n; i++) out[i] = wasm_f32x4_extract_lane(gelu4(wasm_f32x4_splat(x[i])), 0);
}

/* out[i] = dy[i] · gelu'(x[i]), i < n. */
EXPORT(gelu_grad_f32) void gelu_grad_f32(const float *x, const float *dy, float *out, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, gelu_grad4(wasm_v128_load(x + i), wasm_v128_load(dy + i)));
  for (; i < n; i++) out[i] = wasm_f32x4_extract_lane(gelu_grad4(wasm_f32x4_splat(x[i]), wasm_f32x4_splat(dy[i])), 0);
}
