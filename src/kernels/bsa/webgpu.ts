/**
 * WebGPU Biased Scan Attention (bsa.md): the `BsaDeviceImpl` that op.ts registers for the 'webgpu'
 * backend, and storage-level entry points (`bsaForwardWebGPU`, `bsaBackwardWebGPU`) used by it,
 * the tests and the benchmark. OWNED BY THE WEBGPU-BSA ENGINEER; the CPU kernels live in cpu.ts.
 *
 * Kernels (one file each under ./webgpu/): pack.ts (bias parameters into one buffer), forward.ts
 * (fused forward, saves L), backward.ts (Δ = rowsum(dO∘O); dK/dV/dθ over key tiles; dQ over query
 * tiles; deterministic reduction of the per-workgroup bias-parameter partial sums). All work is
 * recorded into the backend's open command encoder: no readback, no host synchronisation.
 *
 * Browser-safe: no Node built-in, no 'webgpu' import (only types from the backend module).
 */
import type { Backend, Storage } from '../../engine/backend.js';
import { Tensor } from '../../engine/custom.js';
import type { WebGPUBackend } from '../../engine/webgpu/backend.js';
import type { BsaDesc } from './desc.js';
import { familyParams, paramSize, scaleOf, validateDesc } from './desc.js';
import type { BsaDeviceImpl, BsaTensors } from './op.js';
import { bsaBackwardGpu } from './webgpu/backward.js';
import { type BsaGpuInputs, bsaForwardGpu } from './webgpu/forward.js';
import { bsaForwardGpuF16 } from './webgpu/forward-f16.js';
import { packParams } from './webgpu/pack.js';

/** Storage-level inputs: q, k, v, mask and per group coordinates and parameters. */
export interface BsaWebGPUData {
  q: Storage; k: Storage; v: Storage; mask: Storage | null;
  groups: readonly { cq: Storage; ck: Storage; a: Storage; b?: Storage; c?: Storage }[];
}

function prepare(be: WebGPUBackend, desc: BsaDesc, x: BsaWebGPUData): { inp: BsaGpuInputs; temps: Storage[] } {
  validateDesc(desc);
  if (desc.groups.length !== x.groups.length) {
    throw new Error(`bsa webgpu: expected ${desc.groups.length} bias groups, got ${x.groups.length}`);
  }
  const parts: Storage[] = [];
  const lengths: number[] = [];
  desc.groups.forEach((g, i) => {
    const gd = x.groups[i]!;
    for (const p of familyParams(g.family)) {
      const s = gd[p];
      if (!s) throw new Error(`bsa webgpu: expected parameter ${p} for group ${i} (${g.family}), got nothing`);
      parts.push(s);
      lengths.push(paramSize(desc, g));
    }
  });
  // Coordinates: one binding each for queries and keys (a concatenation when there are several
  // groups; with one group the tensors are bound as they are; with none, a placeholder).
  const coords = (pick: 'cq' | 'ck', n: number): { s: Storage; owned: boolean } => {
    if (x.groups.length === 0) return { s: x.q, owned: false };
    if (x.groups.length === 1) return { s: x.groups[0]![pick], owned: false };
    return { s: packParams(be, x.groups.map((g) => g[pick]), desc.groups.map((g) => desc.B * n * g.M)), owned: true };
  };
  const cq = coords('cq', desc.Q);
  const ck = coords('ck', desc.K);
  const owned = [cq, ck].filter((c) => c.owned).map((c) => c.s);
  const prm = packParams(be, parts, lengths);
  return {
    inp: { q: x.q, k: x.k, v: x.v, mask: desc.hasMask ? x.mask : null, prm, cq: cq.s, ck: ck.s },
    temps: [prm, ...owned],
  };
}

/**
 * Forward: O [B,H,Q,dv] and L [B,H,Q] (new storages, the caller owns them). `desc.precision` 'f16'
 * runs forward-f16.ts (its L is consistent with f16 scores: do not feed it to the backward).
 */
export function bsaForwardWebGPU(be: WebGPUBackend, desc: BsaDesc, x: BsaWebGPUData): { o: Storage; lse: Storage } {
  const { inp, temps } = prepare(be, desc, x);
  try {
    // A shared query has no q·kᵀ product to speed up: the float32 kernel serves every precision.
    const f16 = desc.precision !== undefined && desc.precision !== 'f32' && !desc.sharedQ;
    return f16 ? bsaForwardGpuF16(be, desc, inp, scaleOf(desc)) : bsaForwardGpu(be, desc, inp, scaleOf(desc));
  } finally {
    for (const s of temps) be.free(s);
  }
}

/**
 * Backward from O, L and dO [B,H,Q,dv]: dq, dk, dv and per group da, db?, dc? (new storages).
 */
export function bsaBackwardWebGPU(be: WebGPUBackend, desc: BsaDesc, x: BsaWebGPUData, o: Storage, lse: Storage,
  dO: Storage): { dq: Storage; dk: Storage; dv: Storage; groups: { da: Storage; db?: Storage; dc?: Storage }[] } {
  if (desc.sharedQ) throw new Error('bsa webgpu: expected a per-row q for the backward, got a shared query (desc.sharedQ)');
  const { inp, temps } = prepare(be, desc, x);
  try {
    return bsaBackwardGpu(be, desc, inp, o, lse, dO, scaleOf(desc));
  } finally {
    for (const s of temps) be.free(s);
  }
}

function storages(t: BsaTensors): BsaWebGPUData {
  return {
    q: t.q.storage('bsa'), k: t.k.storage('bsa'), v: t.v.storage('bsa'), mask: t.mask ? t.mask.storage('bsa') : null,
    groups: t.groups.map((g) => ({
      cq: g.cq.storage('bsa'), ck: g.ck.storage('bsa'), a: g.a.storage('bsa'),
      b: g.b?.storage('bsa'), c: g.c?.storage('bsa'),
    })),
  };
}

/** The engine-op implementation registered by op.ts for the 'webgpu' backend kind. */
export const webgpuBsaImpl: BsaDeviceImpl = {
  forward(b: Backend, desc: BsaDesc, t: BsaTensors) {
    const be = b as WebGPUBackend;
    const r = bsaForwardWebGPU(be, desc, storages(t));
    return {
      o: Tensor.fromStorage(b, r.o, desc.layout === 'bnhd' ? [desc.B, desc.Q, desc.H, desc.dv] : [desc.B, desc.H, desc.Q, desc.dv]),
      lse: Tensor.fromStorage(b, r.lse, [desc.B, desc.H, desc.Q]),
    };
  },
  backward(b: Backend, desc: BsaDesc, t: BsaTensors, o: Tensor, lse: Tensor, dO: Tensor) {
    const be = b as WebGPUBackend;
    const g = bsaBackwardWebGPU(be, desc, storages(t), o.storage('bsa'), lse.storage('bsa'), dO.storage('bsa'));
    const wrap = (s: Storage, like: Tensor): Tensor => Tensor.fromStorage(b, s, like.shape);
    const out = [wrap(g.dq, t.q), wrap(g.dk, t.k), wrap(g.dv, t.v)];
    t.groups.forEach((grp, i) => {
      const gg = g.groups[i]!;
      out.push(wrap(gg.da, grp.a));
      if (grp.b) out.push(wrap(gg.db!, grp.b));
      if (grp.c) out.push(wrap(gg.dc!, grp.c));
    });
    return out;
  },
};
