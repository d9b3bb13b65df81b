/**
 * Biased Scan Attention as a differentiable engine op (bsa.md): tensors in, tensor out, gradients
 * to q, k, v and every bias parameter (coordinates and the mask carry none). Dispatches to the
 * tiled CPU kernel (cpu.ts) or the fused WebGPU kernels (webgpu.ts) by the tensors' backend.
 */
import type { Backend } from '../../engine/backend.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { needsGrad, record, save, Tensor } from '../../engine/custom.js';
import { ShapeError, tidy } from '../../engine/tensor.js';
import { broadcastTo, transpose } from '../../engine/ops.js';
import { bsaBackwardCpu, bsaForwardCpu } from './cpu.js';
import type { BsaData, BsaDesc, BsaDistance, BsaFamily, BsaGroup, BsaLayoutKind, Precision } from './desc.js';
import { webgpuBsaImpl } from './webgpu.js';

/** One bias group as tensors. */
export interface ScanGroup {
  family: BsaFamily;
  distance: BsaDistance;
  /** Query coordinates [B, Q, M], key coordinates [B, K, M]. */
  cq: Tensor;
  ck: Tensor;
  /** [H, F] ([H] for scalar). */
  a: Tensor;
  b?: Tensor;
  c?: Tensor;
}

export interface ScanOptions {
  tileQ?: number;
  tileK?: number;
  /**
   * Half-precision matrix products in the WebGPU forward (see desc.ts Precision). Applies to
   * inference only: when a gradient will be taken the float32 kernels run.
   */
  precision?: Precision;
  /**
   * 'bnhd': q [B,Q,H,d], k [B,K,H,d], v [B,K,H,dv] and O [B,Q,H,dv] (a [B,N,H·d] projection
   * reshaped, no transpose). The WebGPU kernels index that layout directly; on the CPU the op
   * transposes to 'bhnd' around its kernels. Default 'bhnd'.
   */
  layout?: BsaLayoutKind;
  /**
   * q holds one row (q [B,H,1,d], or [B,1,H,d] in 'bnhd') shared by `queryRows` query rows, which
   * differ only by their coordinates (each group's cq is [B, queryRows, M]). The WebGPU forward
   * takes q·k_j once per key (BsaDesc.sharedQ); with gradients, or on the CPU, q is broadcast.
   */
  queryRows?: number;
}

/** Hook for the WebGPU implementation (registered by kernels/bsa/webgpu-op.ts when loaded). */
export interface BsaDeviceImpl {
  forward(b: Backend, desc: BsaDesc, t: BsaTensors): { o: Tensor; lse: Tensor };
  backward(b: Backend, desc: BsaDesc, t: BsaTensors, o: Tensor, lse: Tensor, dO: Tensor): Tensor[];
}

export interface BsaTensors {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  mask: Tensor | null;
  groups: readonly ScanGroup[];
}

const deviceImpls = new Map<string, BsaDeviceImpl>();

export function registerBsaImpl(kind: string, impl: BsaDeviceImpl): void {
  deviceImpls.set(kind, impl);
}
registerBsaImpl('webgpu', webgpuBsaImpl);

function describe(t: BsaTensors, opts: ScanOptions): BsaDesc {
  const { q, k, v, mask } = t;
  const bnhd = opts.layout === 'bnhd';
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new ShapeError(`bsa: expected q, k, v of rank 4 [${bnhd ? 'B,N,H,d' : 'B,H,N,d'}], got [${q.shape}], [${k.shape}], [${v.shape}]`);
  }
  const [B, H, Qq, d] = (bnhd ? [q.shape[0], q.shape[2], q.shape[1], q.shape[3]] : q.shape) as [number, number, number, number];
  const Q = opts.queryRows ?? Qq;
  const K = k.shape[bnhd ? 1 : 2]!;
  const groups: BsaGroup[] = t.groups.map((g) => ({
    M: g.cq.shape[2]!,
    distance: g.distance,
    family: g.family,
    F: g.family === 'scalar' ? 1 : g.a.shape[1]!,
  }));
  if (mask && (mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== K)) {
    throw new ShapeError(`bsa: expected a key mask [${B}, ${K}], got [${mask.shape}]`);
  }
  return { B, H, Q, K, d, dv: v.shape[3]!, hasMask: mask !== null, groups, tileQ: opts.tileQ, tileK: opts.tileK,
    precision: opts.precision, layout: bnhd ? 'bnhd' : undefined, sharedQ: opts.queryRows !== undefined ? true : undefined };
}

function cpuData(b: CpuBackend, t: BsaTensors): BsaData {
  const view = (x: Tensor) => b.view(x.storage('bsa'));
  return {
    q: view(t.q),
    k: view(t.k),
    v: view(t.v),
    mask: t.mask ? view(t.mask) : null,
    groups: t.groups.map((g) => ({ cq: view(g.cq), ck: view(g.ck), a: view(g.a), b: g.b && view(g.b), c: g.c && view(g.c) })),
  };
}

const cpuImpl: BsaDeviceImpl = {
  forward(b, desc, t) {
    // The kernel writes straight into the output tensors' heap storage (on the backend's pool).
    const cb = b as CpuBackend;
    const o = cb.alloc(desc.B * desc.H * desc.Q * desc.dv), lse = cb.alloc(desc.B * desc.H * desc.Q);
    bsaForwardCpu(desc, cpuData(cb, t), { memory: cb.memory, pool: cb.pool, out: { o: cb.view(o), lse: cb.view(lse) } });
    return {
      o: Tensor.fromStorage(b, o, [desc.B, desc.H, desc.Q, desc.dv]),
      lse: Tensor.fromStorage(b, lse, [desc.B, desc.H, desc.Q]),
    };
  },
  backward(b, desc, t, o, lse, dO) {
    const cb = b as CpuBackend;
    const fwd = { o: cb.view(o.storage()), lse: cb.view(lse.storage()) };
    const [dq, dk, dv] = [t.q, t.k, t.v].map((x) => cb.alloc(x.size));
    const g = bsaBackwardCpu(desc, cpuData(cb, t), fwd, cb.view(dO.storage()),
      { memory: cb.memory, pool: cb.pool, out: { dq: cb.view(dq!), dk: cb.view(dk!), dv: cb.view(dv!) } });
    const up = (a: Float32Array, like: Tensor) => Tensor.fromStorage(b, b.upload(a), like.shape);
    const out = [Tensor.fromStorage(b, dq!, t.q.shape), Tensor.fromStorage(b, dk!, t.k.shape),
      Tensor.fromStorage(b, dv!, t.v.shape)];
    t.groups.forEach((grp, i) => {
      const gg = g.groups[i]!;
      out.push(up(gg.da, grp.a));
      if (grp.b) out.push(up(gg.db!, grp.b));
      if (grp.c) out.push(up(gg.dc!, grp.c));
    });
    return out;
  },
};

/**
 * Biased scan attention.
 *
 * **Arguments**: q [B,H,Q,d], k [B,H,K,d], v [B,H,K,dv]; mask [B,K] (1 = valid key) or null;
 * bias groups (coordinates and parameters); tile sizes.
 *
 * **Returns** O [B,H,Q,dv] = softmax(q·kᵀ/√d + Σ_g φ_g(δ_g)) v with masked keys and non-finite
 * distances excluded, and 0 for a row with no valid key.
 */
export function biasedScanAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null,
  groups: readonly ScanGroup[], opts: ScanOptions = {}): Tensor {
  const params = groups.flatMap((g) => [g.a, g.b, g.c].filter((x): x is Tensor => x !== undefined));
  const inputs = [q, k, v, ...params];
  if (opts.queryRows !== undefined) {
    const n = opts.queryRows;
    const ax = opts.layout === 'bnhd' ? 1 : 2;
    if (q.rank !== 4 || q.shape[ax] !== 1) {
      throw new ShapeError(`bsa: expected q with one row (axis ${ax}) for queryRows = ${n}, got [${q.shape}]`);
    }
    for (const g of groups) {
      if (g.cq.shape[1] !== n) throw new ShapeError(`bsa: expected query coordinates with ${n} rows, got [${g.cq.shape}]`);
    }
    if (q.backend.kind === 'cpu' || needsGrad(inputs)) {
      const shape = q.shape.map((x, i) => (i === ax ? n : x));
      return tidy(() => biasedScanAttention(broadcastTo(q, shape), k, v, mask, groups, { ...opts, queryRows: undefined }));
    }
  }
  if (opts.layout === 'bnhd' && q.backend.kind === 'cpu') {
    // The CPU kernels take [B,H,N,d]: transpose around them (differentiable, so gradients follow).
    const t = (x: Tensor): Tensor => transpose(x, [0, 2, 1, 3]);
    return tidy(() => t(biasedScanAttention(t(q), t(k), t(v), mask, groups, { ...opts, layout: 'bhnd' })));
  }
  const t: BsaTensors = { q, k, v, mask, groups };
  const grad = needsGrad(inputs);
  const desc = describe(t, grad ? { ...opts, precision: 'f32' } : opts);
  const b = q.backend;
  const impl = b.kind === 'cpu' ? cpuImpl : deviceImpls.get(b.kind);
  if (!impl) throw new Error(`bsa: no implementation registered for the ${b.kind} backend`);
  const { o, lse } = impl.forward(b, desc, t);
  if (grad) {
    const saved: BsaTensors = {
      q: save(q), k: save(k), v: save(v), mask: mask && save(mask),
      groups: groups.map((g) => ({ ...g, cq: save(g.cq), ck: save(g.ck), a: save(g.a), b: g.b && save(g.b), c: g.c && save(g.c) })),
    };
    const so = save(o);
    const sl = save(lse);
    record(inputs, [o], ([dO]) => impl.backward(b, desc, saved, so, sl, dO!));
  }
  lse.dispose();
  return o;
}
