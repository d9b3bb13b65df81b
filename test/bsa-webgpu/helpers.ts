/** Helpers for the WebGPU BSA tests: upload a problem, run the kernels, read back, compare with dense. */
import { expect } from 'vitest';
import type { Storage } from '../../src/engine/backend.js';
import type { WebGPUBackend } from '../../src/engine/webgpu/backend.js';
import { bsaDenseBackward, bsaDenseForward } from '../../src/kernels/bsa/dense.js';
import type { BsaData, BsaDesc } from '../../src/kernels/bsa/desc.js';
import { bsaBackwardWebGPU, bsaForwardWebGPU, type BsaWebGPUData } from '../../src/kernels/bsa/webgpu.js';
import { webgpuBackend } from '../helpers/backends.js';
import { randomF32, relErr } from '../bsa/helpers.js';

export async function gpu(): Promise<WebGPUBackend | null> {
  process.env.LP_NUM_THREADS ??= '1';
  return (await webgpuBackend()) as WebGPUBackend | null;
}

export function upload(be: WebGPUBackend, data: BsaData): { x: BsaWebGPUData; all: Storage[] } {
  const all: Storage[] = [];
  const up = (a: Float32Array): Storage => { const s = be.upload(a); all.push(s); return s; };
  const x: BsaWebGPUData = {
    q: up(data.q), k: up(data.k), v: up(data.v), mask: data.mask ? up(data.mask) : null,
    groups: data.groups.map((g) => ({ cq: up(g.cq), ck: up(g.ck), a: up(g.a), b: g.b && up(g.b), c: g.c && up(g.c) })),
  };
  return { x, all };
}

export interface GpuResult {
  o: Float32Array; lse: Float32Array;
  dq: Float32Array; dk: Float32Array; dv: Float32Array;
  groups: { da: Float32Array; db?: Float32Array; dc?: Float32Array }[];
}

/** Forward and (with dO) backward on the GPU, read back. */
export async function runGpu(be: WebGPUBackend, desc: BsaDesc, data: BsaData, dO: Float32Array): Promise<GpuResult> {
  const { x, all } = upload(be, data);
  const f = bsaForwardWebGPU(be, desc, x);
  const gO = be.upload(dO);
  const g = bsaBackwardWebGPU(be, desc, x, f.o, f.lse, gO);
  const rd = (s: Storage | undefined): Promise<Float32Array | undefined> => (s ? be.read(s) : Promise.resolve(undefined));
  const res: GpuResult = {
    o: (await be.read(f.o)), lse: await be.read(f.lse), dq: await be.read(g.dq), dk: await be.read(g.dk),
    dv: await be.read(g.dv),
    groups: await Promise.all(g.groups.map(async (gg) => ({ da: (await rd(gg.da))!, db: await rd(gg.db), dc: await rd(gg.dc) }))),
  };
  for (const s of [...all, f.o, f.lse, gO, g.dq, g.dk, g.dv, ...g.groups.flatMap((gg) => [gg.da, gg.db, gg.dc])]) {
    if (s) be.free(s);
  }
  return res;
}

/** Compares a GPU run with the dense float64 reference (outputs and every gradient). */
export async function checkAgainstDense(be: WebGPUBackend, desc: BsaDesc, data: BsaData, label: string,
  tol = 1e-5): Promise<GpuResult> {
  const ref = bsaDenseForward(desc, data);
  const dO = randomF32(ref.o.length, 99);
  const got = await runGpu(be, desc, data, dO);
  expect(relErr(got.o, ref.o), `${label}: O`).toBeLessThanOrEqual(tol);
  for (let r = 0; r < ref.lse.length; r++) {
    if (ref.lse[r] === -Infinity) expect(got.lse[r], `${label}: L[${r}]`).toBe(-Infinity);
    else expect(Math.abs(got.lse[r]! - ref.lse[r]!), `${label}: L[${r}]`).toBeLessThan(1e-4);
  }
  const gRef = bsaDenseBackward(desc, data, dO);
  expect(relErr(got.dq, gRef.dq), `${label}: dq`).toBeLessThanOrEqual(tol);
  expect(relErr(got.dk, gRef.dk), `${label}: dk`).toBeLessThanOrEqual(tol);
  expect(relErr(got.dv, gRef.dv), `${label}: dv`).toBeLessThanOrEqual(tol);
  desc.groups.forEach((_, gi) => {
    const a = got.groups[gi]!, e = gRef.groups[gi]!;
    expect(relErr(a.da, e.da), `${label}: group ${gi} da`).toBeLessThanOrEqual(tol);
    if (e.db) expect(relErr(a.db!, e.db), `${label}: group ${gi} db`).toBeLessThanOrEqual(tol);
    if (e.dc) expect(relErr(a.dc!, e.dc), `${label}: group ${gi} dc`).toBeLessThanOrEqual(tol);
  });
  return got;
}
