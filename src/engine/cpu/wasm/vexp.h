/*
 * e^x for float32 lanes (WebAssembly SIMD), shared by the CPU backend's elementwise kernels
 * (elementwise.c) and the BSA kernel (kernels/bsa/wasm/bsa.c). Exactly 0 for x < −87.3 or NaN
 * (masked logits are −∞); x is clamped to 88.3 above.
 *
 * x = n·ln 2 + r with n = round(x / ln 2), |r| ≤ ln 2 / 2 (ln 2 in two parts, so r is exact to
 * f32), e^r by its Taylor series to degree 7 (truncation < 6e-9 relative), times 2ⁿ built in the
 * exponent bits.
 */
#ifndef BSA_TNP_VEXP_H
#define BSA_TNP_VEXP_H
#include <wasm_simd128.h>

static inline v128_t vexp(v128_t x) {
  v128_t ok = wasm_f32x4_ge(x, wasm_f32x4_splat(-87.3f));
  v128_t xc = wasm_f32x4_min(wasm_f32x4_max(x, wasm_f32x4_splat(-87.3f)), wasm_f32x4_splat(88.3f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(xc, wasm_f32x4_splat(1.44269504f)));
  v128_t r = wasm_f32x4_sub(xc, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.0f / 5040);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f / 720));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f / 120));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f / 24));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f / 6));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(0.5f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f));
  v128_t e = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_v128_and(wasm_f32x4_mul(p, e), ok);
}

#endif
