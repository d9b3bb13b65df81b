/**
 * Shared WGSL snippets and host helpers for the WebGPU kernels: the packed-parameter uniform
 * (`Params` on the host, `pu`/`pf` in WGSL), the 1-D → 2-D workgroup grid split (a dispatch may
 * have at most 65535 workgroups per dimension), and a small f32 math library with known accuracy.
 *
 * Why our own math: WGSL (and Vulkan underneath) only promise loose accuracy for some builtins
 * (sin/cos: absolute 2^-11 on [−π, π]; log: absolute 2^-21 near 1) and `1 + tanh(z)` or
 * `log(1 + y)` lose relative precision by cancellation. The functions below keep ≤ ~1e-6 relative
 * error on the ranges our tests and models use, and never rely on const-evaluated inf/NaN (a WGSL
 * const expression that overflows is a shader-creation error).
 */

/** Most workgroups per dispatch dimension (WebGPU default limit). */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Splits `n` workgroups into a 2-D grid [x, y, 1] with x·y ≥ n and both ≤ 65535. Shaders recover
 * the flat workgroup index as `wid.x + wid.y * nwg.x` and must bounds-check it (see `FLAT_WG`).
 */
export function grid(n: number): [number, number, number] {
  if (n <= MAX_WORKGROUPS_PER_DIM) return [n, 1, 1];
  const y = Math.ceil(n / MAX_WORKGROUPS_PER_DIM);
  if (y > MAX_WORKGROUPS_PER_DIM) throw new Error(`webgpu: expected at most 65535² workgroups, got ${n}`);
  return [Math.ceil(n / y), y, 1];
}

/** Entry-point builtins for kernels dispatched with `grid`. */
export const GRID_BUILTINS =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ' +
  '@builtin(local_invocation_index) lid: u32';

/** Flat workgroup index inside a `GRID_BUILTINS` entry point. */
export const FLAT_WG = '(wid.x + wid.y * nwg.x)';

/**
 * Host side of the packed parameter block: a list of 32-bit words (u32, i32 or f32 bits), read in
 * WGSL by `pu(i)` / `pf(i)` / `pi(i)`. Padded to whole vec4s.
 */
export class Params {
  private words: number[] = [];
  private kinds: ('u' | 'f')[] = [];

  u32(v: number): this {
    this.words.push(v >>> 0);
    this.kinds.push('u');
    return this;
  }

  i32(v: number): this {
    this.words.push(v | 0);
    this.kinds.push('u');
    return this;
  }

  f32(v: number): this {
    this.words.push(v);
    this.kinds.push('f');
    return this;
  }

  get count(): number {
    return this.words.length;
  }

  /** Number of vec4<u32> the WGSL declaration must have for `count` words. */
  static vec4s(count: number): number {
    return Math.max(1, Math.ceil(count / 4));
  }

  buffer(): ArrayBuffer {
    const n = Params.vec4s(this.words.length) * 4;
    const buf = new ArrayBuffer(n * 4);
    const u = new Uint32Array(buf);
    const f = new Float32Array(buf);
    for (let i = 0; i < this.words.length; i++) {
      if (this.kinds[i] === 'f') f[i] = this.words[i]!;
      else u[i] = this.words[i]! >>> 0;
    }
    return buf;
  }
}

/** WGSL declaration of the parameter block at `binding`, with `count` words, plus accessors. */
export function paramsWgsl(binding: number, count: number): string {
  return `@group(0) @binding(${binding}) var<uniform> P: array<vec4<u32>, ${Params.vec4s(count)}>;
fn pu(i: u32) -> u32 { return P[i >> 2u][i & 3u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(P[i >> 2u][i & 3u]); }
fn pf(i: u32) -> f32 { return bitcast<f32>(P[i >> 2u][i & 3u]); }
`;
}

/**
 * Accurate f32 helpers. `log1p_` uses a series where `log(1 + y)` would cancel; `plog` routes
 * arguments near 1 through it; `tanh_`, `sigmoid_`, `gelu_` avoid `1 ± tanh` cancellation;
 * `sincos_` does Cody–Waite range reduction (π/2 split in three) and Taylor polynomials on
 * [−π/4, π/4]; `cos2pi_(t)` reduces 4t exactly (used by Box–Muller).
 */
export const MATH_WGSL = /* wgsl */ `
fn log1p_(y: f32) -> f32 {
  if (abs(y) < 0.0625) {
    return y * (1.0 + y * (-0.5 + y * (0.33333333333 + y * (-0.25 + y * (0.2 + y * (-0.16666666667
      + y * (0.14285714286 + y * (-0.125))))))));
  }
  return log(1.0 + y);
}
fn plog(x: f32) -> f32 {
  let y = x - 1.0;
  if (abs(y) < 0.0625) { return log1p_(y); }
  return log(x);
}
fn tanh_(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.25) {
    let s = x * x;
    return x * (1.0 + s * (-0.33333333333 + s * (0.13333333333 + s * (-0.053968253968
      + s * 0.021869488536))));
  }
  let e = exp(-2.0 * a);
  let t = (1.0 - e) / (1.0 + e);
  return select(t, -t, x < 0.0);
}
fn sigmoid_(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn softplus_(x: f32) -> f32 { return max(x, 0.0) + log1p_(exp(-abs(x))); }
const GELU_C: f32 = 0.7978845608028654;
const GELU_A: f32 = 0.044715;
// 0.5 x (1 + tanh z) = x · sigmoid(2z): no cancellation for negative x.
fn gelu_(x: f32) -> f32 {
  let z = GELU_C * (x + GELU_A * x * x * x);
  return x / (1.0 + exp(-2.0 * z));
}
fn geluGrad_(x: f32) -> f32 {
  let z = GELU_C * (x + GELU_A * x * x * x);
  let s = 1.0 / (1.0 + exp(-2.0 * z));
  let sm = 1.0 / (1.0 + exp(2.0 * z));
  let dz = GELU_C * (1.0 + 3.0 * GELU_A * x * x);
  return s + 2.0 * x * s * sm * dz;
}
// sin and cos of r in [−π/4, π/4].
fn sincosPoly(r: f32) -> vec2<f32> {
  let s = r * r;
  let sn = r * (1.0 + s * (-0.16666666667 + s * (0.0083333333333 + s * (-0.00019841269841
    + s * 2.7557319224e-6))));
  let cs = 1.0 + s * (-0.5 + s * (0.041666666667 + s * (-0.0013888888889 + s * (2.4801587302e-5
    + s * (-2.7557319224e-7)))));
  return vec2<f32>(sn, cs);
}
fn quadrant(sc: vec2<f32>, k: i32) -> vec2<f32> {
  let q = k & 3;
  if (q == 0) { return sc; }
  if (q == 1) { return vec2<f32>(sc.y, -sc.x); }
  if (q == 2) { return vec2<f32>(-sc.x, -sc.y); }
  return vec2<f32>(-sc.y, sc.x);
}
// (sin x, cos x), accurate for |x| up to about 1e4.
fn sincos_(x: f32) -> vec2<f32> {
  let k = round(x * 0.63661977236758134);
  var r = x - k * 1.5703125;
  r = r - k * 4.837512969970703125e-4;
  r = r - k * 7.54978995489188216e-8;
  return quadrant(sincosPoly(r), i32(k));
}
// cos(2π t) with exact reduction of 4t.
fn cos2pi_(t: f32) -> f32 {
  let s = 4.0 * t;
  let k = round(s);
  let r = (s - k) * 1.5707963267948966;
  return quadrant(sincosPoly(r), i32(k)).y;
}
fn isfinite_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
`;
