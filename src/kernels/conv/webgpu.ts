/**
 * WGSL kernels of the depthwise 2-D convolution (op.ts): the forward (also the input gradient,
 * with the kernel flipped) with one invocation per output element, and the kernel gradient with
 * one workgroup per (tap, channel) reducing over batch and pixels. NHWC layout, SAME zero padding.
 */
import type { Storage } from '../../engine/backend.js';
import type { WebGPUBackend } from '../../engine/webgpu/backend.js';
import { FLAT_WG, GRID_BUILTINS, grid, Params, paramsWgsl } from '../../engine/webgpu/wgsl.js';
import type { ConvDims } from './cpu.js';

const WG = 64;

/** y[b,h,w,c] = bias[c] + Σ_{dy,dx} K[dy,dx,c]·x[b, h+dy−r, w+dx−r, c] (K flipped when `flip`). */
export function depthwiseForwardWebGPU(be: WebGPUBackend, x: Storage, w: Storage, bias: Storage | null, d: ConvDims, flip: boolean): Storage {
  const n = d.B * d.H * d.W * d.C;
  const y = be.alloc(n);
  const p = new Params().u32(d.B).u32(d.H).u32(d.W).u32(d.C).u32(d.k).u32(flip ? 1 : 0).u32(bias ? 1 : 0).buffer();
  // Without a bias the unused binding is bound to x (read-only, never read).
  be.dispatch('depthwiseConv2d', () => `${paramsWgsl(4, 7)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> K: array<f32>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let H = pu(1u); let W = pu(2u); let C = pu(3u); let k = pu(4u);
  let total = pu(0u) * H * W * C;
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i >= total) { return; }
  let c = i % C;
  let wq = (i / C) % W;
  let hq = (i / (C * W)) % H;
  let b = i / (C * W * H);
  let r = i32(k / 2u);
  var s = 0.0;
  if (pu(6u) == 1u) { s = Bias[c]; }
  for (var dy = 0u; dy < k; dy++) {
    let hs = i32(hq) + i32(dy) - r;
    if (hs < 0 || hs >= i32(H)) { continue; }
    for (var dx = 0u; dx < k; dx++) {
      let ws = i32(wq) + i32(dx) - r;
      if (ws < 0 || ws >= i32(W)) { continue; }
      var tap = dy * k + dx;
      if (pu(5u) == 1u) { tap = (k - 1u - dy) * k + (k - 1u - dx); }
      s += K[tap * C + c] * X[((b * H + u32(hs)) * W + u32(ws)) * C + c];
    }
  }
  Y[i] = s;
}`, [x, w, bias ?? x, y], ['read', 'read', 'read', 'read_write'], p, grid(Math.ceil(n / WG)));
  return y;
}

/** dK[dy,dx,c] = Σ_{b,h,w} g[b,h,w,c]·x[b, h+dy−r, w+dx−r, c]. */
export function depthwiseKernelGradWebGPU(be: WebGPUBackend, x: Storage, g: Storage, d: ConvDims): Storage {
  const taps = d.k * d.k * d.C;
  const dk = be.alloc(taps);
  const p = new Params().u32(d.B).u32(d.H).u32(d.W).u32(d.C).u32(d.k).buffer();
  be.dispatch('depthwiseConv2dKernelGrad', () => `${paramsWgsl(3, 5)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> DK: array<f32>;
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let B = pu(0u); let H = pu(1u); let W = pu(2u); let C = pu(3u); let k = pu(4u);
  let o = ${FLAT_WG};
  let valid = o < k * k * C;
  let c = o % C;
  let tap = o / C;
  let r = i32(k / 2u);
  let dy = i32(tap / k) - r;
  let dx = i32(tap % k) - r;
  var s = 0.0;
  if (valid) {
    for (var q = lid; q < B * H * W; q += ${WG}u) {
      let wq = q % W;
      let hq = (q / W) % H;
      let b = q / (W * H);
      let hs = i32(hq) + dy;
      let ws = i32(wq) + dx;
      if (hs < 0 || hs >= i32(H) || ws < 0 || ws >= i32(W)) { continue; }
      s += G[q * C + c] * X[((b * H + u32(hs)) * W + u32(ws)) * C + c];
    }
  }
  part[lid] = s;
  workgroupBarrier();
  for (var m = ${WG / 2}u; m > 0u; m >>= 1u) {
    if (lid < m) { part[lid] += part[lid + m]; }
    workgroupBarrier();
  }
  if (valid && lid == 0u) { DK[o] = part[0]; }
}`, [x, g, dk], ['read', 'read', 'read_write'], p, grid(taps));
  return dk;
}
