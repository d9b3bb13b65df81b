/**
 * In-place AdamW (decoupled weight decay) on the GPU:
 *   g ← g·gScale;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
 *   p ← p − lr (m̂ / (sqrt(v̂) + eps) + wd·p),  m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t).
 * A gScale that is not finite leaves p, m, v unchanged (a skipped step, Backend.adamw).
 * Coefficients (1 − β, bias corrections) are computed in float64 on the host. The step-dependent
 * ones (lr and the bias corrections) come from a small uploaded storage, not the uniforms, so that a
 * recorded training step can replay with the next step's values (ADAMW_STEP_LABEL).
 */

import { ADAMW_STEP_LABEL, type AdamWArgs, type Storage, adamwStepScalars } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { Params, paramsWgsl } from '../wgsl.js';

const WG = 256;

/**
 * AdamW on several tensors per dispatch (p, g, m, v bindings for each, as many as the device's
 * storage-buffer limit allows, at most 8): workgroup row y serves tensor y of the group, its
 * workgroups stride over the tensor's elements. A single tensor is the group of one.
 */
export function adamwMany(be: WebGPUBackend, ps: readonly Storage[], gs: readonly Storage[], ms: readonly Storage[],
  vs: readonly Storage[], gScale: Storage, useScale: boolean, args: AdamWArgs): void {
  const T = ps.length;
  if (gs.length !== T || ms.length !== T || vs.length !== T) {
    throw new Error(`adamwMany: expected ${T} gradients and moments, got ${gs.length}, ${ms.length}, ${vs.length}`);
  }
  for (let t = 0; t < T; t++) {
    const n = ps[t]!.length;
    if (gs[t]!.length < n || ms[t]!.length < n || vs[t]!.length < n) {
      throw new Error(`adamwMany: expected g, m, v of at least ${n} elements for tensor ${t}, got ${gs[t]!.length}, ${ms[t]!.length}, ${vs[t]!.length}`);
    }
  }
  const group = Math.max(1, Math.min(8, Math.floor((be.limits.maxStorageBuffersPerShaderStage - 2) / 4)));
  const { beta1, beta2, eps, weightDecay } = args;
  const stepScalars = be.upload(adamwStepScalars(args), ADAMW_STEP_LABEL);
  for (let t0 = 0; t0 < T; t0 += group) {
    const k = Math.min(group, T - t0);
    const prm = new Params().f32(beta1).f32(1 - beta1).f32(beta2).f32(1 - beta2).f32(eps).f32(weightDecay).u32(useScale ? 1 : 0);
    let maxN = 0;
    for (let j = 0; j < k; j++) {
      prm.u32(ps[t0 + j]!.length);
      maxN = Math.max(maxN, ps[t0 + j]!.length);
    }
    let decl = '';
    let cases = '';
    for (let j = 0; j < k; j++) {
      const b = 2 + 4 * j;
      decl += `@group(0) @binding(${b}) var<storage, read_write> P${j}: array<f32>;
@group(0) @binding(${b + 1}) var<storage, read> G${j}: array<f32>;
@group(0) @binding(${b + 2}) var<storage, read_write> M${j}: array<f32>;
@group(0) @binding(${b + 3}) var<storage, read_write> V${j}: array<f32>;\n`;
      cases += `    case ${j}u: {
      for (var i = i0; i < n; i += stride) {
        let g = G${j}[i] * sc;
        let m = pf(0u) * M${j}[i] + pf(1u) * g;
        let v = pf(2u) * V${j}[i] + pf(3u) * g * g;
        M${j}[i] = m;
        V${j}[i] = v;
        let p = P${j}[i];
        P${j}[i] = p - lr * ((m * bc1) / (sqrt(v * bc2) + pf(4u)) + pf(5u) * p);
      }
    }\n`;
    }
    const nx = Math.max(1, Math.min(1024, Math.ceil(maxN / WG)));
    const bindings = [gScale, stepScalars];
    const access: ('read' | 'read_write')[] = ['read', 'read'];
    for (let j = 0; j < k; j++) {
      bindings.push(ps[t0 + j]!, gs[t0 + j]!, ms[t0 + j]!, vs[t0 + j]!);
      access.push('read_write', 'read', 'read_write', 'read_write');
    }
    be.dispatch(`adamwMany${k}`, () => `${paramsWgsl(2 + 4 * k, 7 + k)}@group(0) @binding(0) var<storage, read> Sc: array<f32>;
@group(0) @binding(1) var<storage, read> HY: array<f32>;
${decl}@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32) {
  let j = wid.y;
  let n = pu(7u + j);
  let i0 = wid.x * ${WG}u + lid;
  let stride = nwg.x * ${WG}u;
  var sc = 1.0;
  if (pu(6u) != 0u) { sc = Sc[0]; }
  // A scale that is not finite skips the update (Backend.adamw): exponent bits all ones.
  if ((bitcast<u32>(sc) & 0x7f800000u) == 0x7f800000u) { return; }
  let lr = HY[0];
  let bc1 = HY[1];
  let bc2 = HY[2];
  switch (j) {
${cases}    default: {}
  }
}`, bindings, access, prm.buffer(), [nx, k, 1]);
  }
  be.free(stepScalars);
}
