/**
 * In-place AdamW (decoupled weight decay) on the GPU:
 *   g ← g·gScale;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
 *   p ← p − lr (m̂ / (sqrt(v̂) + eps) + wd·p),  m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t).
 * Coefficients (1 − β, bias corrections) are computed in float64 on the host.
 */

import type { AdamWArgs, Storage } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { FLAT_WG, GRID_BUILTINS, Params, grid, paramsWgsl } from '../wgsl.js';

const WG = 256;

export function adamw(be: WebGPUBackend, p: Storage, g: Storage, m: Storage, v: Storage, gScale: Storage,
  useScale: boolean, args: AdamWArgs): void {
  const n = p.length;
  if (g.length < n || m.length < n || v.length < n) {
    throw new Error(`adamw: expected g, m, v of at least ${n} elements, got ${g.length}, ${m.length}, ${v.length}`);
  }
  const { lr, beta1, beta2, eps, weightDecay, step } = args;
  const prm = new Params().u32(n).f32(lr).f32(beta1).f32(1 - beta1).f32(beta2).f32(1 - beta2)
    .f32(1 / (1 - beta1 ** step)).f32(1 / (1 - beta2 ** step)).f32(eps).f32(weightDecay).u32(useScale ? 1 : 0)
    .buffer();
  be.dispatch('adamw', () => `${paramsWgsl(5, 11)}
@group(0) @binding(0) var<storage, read_write> Pm: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> M: array<f32>;
@group(0) @binding(3) var<storage, read_write> V: array<f32>;
@group(0) @binding(4) var<storage, read> Sc: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i >= pu(0u)) { return; }
  var g = G[i];
  if (pu(10u) != 0u) { g = g * Sc[0]; }
  let m = pf(2u) * M[i] + pf(3u) * g;
  let v = pf(4u) * V[i] + pf(5u) * g * g;
  M[i] = m;
  V[i] = v;
  let mh = m * pf(6u);
  let vh = v * pf(7u);
  let p = Pm[i];
  Pm[i] = p - pf(1u) * (mh / (sqrt(vh) + pf(8u)) + pf(9u) * p);
}`, [p, g, m, v, gScale], ['read_write', 'read', 'read_write', 'read_write', 'read'], prm, grid(Math.ceil(n / WG)));
}
