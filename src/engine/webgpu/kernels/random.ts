/**
 * Counter-based random numbers on the GPU: Threefry-2x32-20 exactly as engine/random.ts (32-bit
 * add, xor, rotate: bit-identical integers), then uniform ((x0 >> 8) + 0.5)·2^-24 (identical
 * floats) or Box–Muller normal (float32 round-off: ln u1 through log1p of the exactly computed
 * u1 − 1 near 1, cos(2π u2) with exact quadrant reduction).
 */

import type { Storage } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { FLAT_WG, GRID_BUILTINS, MATH_WGSL, Params, grid, paramsWgsl } from '../wgsl.js';

const WG = 256;
const ROT = [13, 15, 26, 6, 17, 29, 16, 24];

/** WGSL `threefry(k0, k1, c0, c1) -> vec2<u32>`, fully unrolled. */
export function threefryWgsl(): string {
  let body = '';
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      const rot = ROT[(block % 2) * 4 + r]!;
      body += `  x0 = x0 + x1; x1 = ((x1 << ${rot}u) | (x1 >> ${32 - rot}u)) ^ x0;\n`;
    }
    const s = block + 1;
    body += `  x0 = x0 + ks${s % 3}; x1 = x1 + ks${(s + 1) % 3} + ${s}u;\n`;
  }
  return `fn threefry(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {
  let ks0 = k0; let ks1 = k1; let ks2 = k0 ^ k1 ^ 0x1bd11bdau;
  var x0 = c0 + ks0;
  var x1 = c1 + ks1;
${body}  return vec2<u32>(x0, x1);
}
`;
}

export function random(be: WebGPUBackend, dist: 'uniform' | 'normal', n: number, key: readonly [number, number],
  offset: number): Storage {
  if (dist !== 'uniform' && dist !== 'normal') throw new Error(`random: expected 'uniform' or 'normal', got '${String(dist)}'`);
  const out = be.alloc(n);
  const p = new Params().u32(n).u32(key[0]).u32(key[1]).u32(offset % 4294967296).buffer();
  const value = dist === 'uniform' ? 'u1' : 'sqrt(-2.0 * l1) * cos2pi_(f32(b.y >> 8u) * 5.9604644775390625e-8)';
  be.dispatch(`random_${dist}`, () => `${paramsWgsl(1, 4)}${MATH_WGSL}${threefryWgsl()}
@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i >= pu(0u)) { return; }
  let b = threefry(pu(1u), pu(2u), pu(3u) + i, 0u);
  let v = b.x >> 8u;
  let u1 = (f32(v) + 0.5) * 5.9604644775390625e-8;
  var l1: f32;
  if (v >= 15728640u) {
    l1 = log1p_((f32(i32(v) - 16777216) + 0.5) * 5.9604644775390625e-8);
  } else {
    l1 = log(u1);
  }
  Y[i] = ${value};
}`, [out], ['read_write'], p, grid(Math.ceil(n / WG)));
  return out;
}
