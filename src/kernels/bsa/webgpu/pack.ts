/**
 * Concatenates storages in one dispatch: every bias parameter tensor (a, b, c of each group) into
 * one small buffer (layout: codegen.ts `bsaLayout`), and the coordinates of several groups into
 * one buffer per side, so the BSA kernels need few bindings (WebGPU allows as few as 8–16 storage
 * buffers per stage; with three groups separate bindings would not fit).
 */
import type { Storage } from '../../../engine/backend.js';
import type { WebGPUBackend } from '../../../engine/webgpu/backend.js';
import { GRID_BUILTINS, FLAT_WG, Params, grid, paramsWgsl } from '../../../engine/webgpu/wgsl.js';

/** Concatenates `parts` (each of the given length) into one new storage of length ≥ 1. */
export function packParams(be: WebGPUBackend, parts: readonly Storage[], lengths: readonly number[]): Storage {
  const total = lengths.reduce((s, n) => s + n, 0);
  const out = be.alloc(Math.max(total, 1));
  if (parts.length === 0) return out;
  const n = parts.length;
  const key = `bsaPack_${n}`;
  const wgsl = (): string => {
    let s = paramsWgsl(n + 1, n + 1);
    parts.forEach((_, i) => { s += `@group(0) @binding(${i}) var<storage, read> P${i}: array<f32>;\n`; });
    s += `@group(0) @binding(${n}) var<storage, read_write> OUT: array<f32>;\n`;
    s += `@compute @workgroup_size(64)\nfn main(${GRID_BUILTINS}) {\n  let e = ${FLAT_WG} * 64u + lid;\n  var start = 0u;\n`;
    parts.forEach((_, i) => {
      s += `  { let len = pu(${i}u); if (e >= start && e < start + len) { OUT[e] = P${i}[e - start]; } start += len; }\n`;
    });
    return `${s}}\n`;
  };
  const p = new Params();
  for (const len of lengths) p.u32(len);
  p.u32(total);
  be.dispatch(key, wgsl, [...parts, out], [...parts.map(() => 'read' as const), 'read_write'], p.buffer(),
    grid(Math.ceil(total / 64)));
  return out;
}
