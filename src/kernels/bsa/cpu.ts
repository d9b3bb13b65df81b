/**
 * Biased Scan Attention on the CPU: drives the WebAssembly SIMD kernel of wasm/bsa.c (tiled online-
 * softmax forward storing O and L = m + log l; Flash-2 style backward recomputing tiles; bias
 * parameter gradients of bsa.md §5.2 reduced in a fixed order). Falls back to the pure-JS kernel of
 * cpu-js.ts (same algorithm, float64 tiles) where WebAssembly SIMD is unavailable.
 *
 * Memory: the kernel works in its own wasm memory, an arena that holds, per call, copies of the
 * inputs, the outputs, O(B·H·Q) row statistics and tile scratch — never anything of size Q×K. Each
 * region is reported to the optional MemoryAccount as one allocation and freed when the call ends
 * (the wasm memory itself only grows; it is reused by later calls).
 *
 * Threads: `bsa_forward(hdr, b, t0, t1)` covers query tiles [t0, t1) and `bsa_backward` key tiles
 * [t0, t1); a pool would give each worker an instance, its own scratch and private dQ/θ buffers,
 * and sum those in worker order. Single-threaded for now.
 */
import type { MemoryAccount } from '../../engine/memory.js';
import { bsaBackwardJs, bsaForwardJs } from './cpu-js.js';
import {
  type BsaData, type BsaDesc, type BsaForward, type BsaGrads, type BsaGroupGrads, BsaError, familyParams,
  paramSize, scaleOf, validate,
} from './desc.js';
import { BSA_WASM } from './wasm/bsa-wasm.js';

export const CPU_DEFAULT_TILE_Q = 64;
export const CPU_DEFAULT_TILE_K = 64;

export interface BsaCpuOptions {
  /** Every buffer this call allocates (outputs, input copies, statistics, scratch) is reported here. */
  readonly memory?: MemoryAccount;
  /** Force the pure-JS kernel. */
  readonly js?: boolean;
}

interface Exports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  bsa_forward(hdr: number, b: number, t0: number, t1: number): void;
  bsa_backward(hdr: number, b: number, t0: number, t1: number): void;
  bsa_scratch_floats(H: number, tq: number, tk: number, d: number, dv: number, G: number, nbasis: number,
    sumM: number): number;
}

let instance: Exports | null | undefined;

function kernel(): Exports | null {
  if (instance !== undefined) return instance;
  try {
    const s = atob(BSA_WASM);
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
  } catch {
    instance = null; // no simd128 here
  }
  return instance;
}

/** True when the WebAssembly SIMD kernel can run here. */
export function bsaWasmAvailable(): boolean {
  return kernel() !== null;
}

const HDR = {
  B: 0, H: 1, Q: 2, K: 3, D: 4, DV: 5, TQ: 6, TK: 7, G: 8, SCALE: 9, PQ: 10, PK: 11, PV: 12, PMASK: 13, PO: 14,
  PLSE: 15, PDO: 16, PDQ: 17, PDK: 18, PDV: 19, PROWDELTA: 20, PTHETA: 21, PSCRATCH: 22, NBASIS: 23, GROUPS: 32,
} as const;
const G_SLOTS = 10;
const FAMILY_CODE = { rbf: 0, tisa: 1, exp: 2, scalar: 3 } as const;
const RAD = Math.PI / 180;

/** Bump allocator over the kernel's memory for one call, reporting each region. */
class WasmArena {
  private top: number;
  private bytes = 0;
  constructor(private readonly k: Exports, private readonly account?: MemoryAccount) {
    this.top = (k.__heap_base.value as number + 63) & ~63;
  }
  /** Reserves n bytes (64-byte aligned); returns the byte offset. */
  take(nBytes: number): number {
    const p = this.top;
    this.top = (p + nBytes + 63) & ~63;
    const need = this.top - this.k.memory.buffer.byteLength;
    if (need > 0) this.k.memory.grow(Math.ceil(need / 65536));
    this.bytes += nBytes;
    this.account?.recordAlloc(nBytes);
    return p;
  }
  f32(n: number): { ptr: number; view: () => Float32Array } {
    const ptr = this.take(4 * n);
    return { ptr, view: () => new Float32Array(this.k.memory.buffer, ptr, n) };
  }
  put(src: ArrayLike<number>): number {
    const r = this.f32(src.length);
    r.view().set(src);
    return r.ptr;
  }
  release(): void {
    this.account?.recordFree(this.bytes);
    this.bytes = 0;
  }
}

function tiles(desc: BsaDesc): { tq: number; tk: number } {
  const tq = Math.min(desc.tileQ ?? CPU_DEFAULT_TILE_Q, (desc.Q + 1) & ~1);
  const tk = Math.min(desc.tileK ?? CPU_DEFAULT_TILE_K, (desc.K + 15) & ~15);
  return { tq: (tq + 1) & ~1, tk: (tk + 15) & ~15 };
}

/** Per-point [sinφ, cosφ, sinλ, cosλ] from (lon°, lat°) pairs. */
function trig(c: Float32Array): Float32Array {
  const n = c.length / 2;
  const t = new Float32Array(4 * n);
  for (let p = 0; p < n; p++) {
    const lam = c[2 * p]! * RAD, phi = c[2 * p + 1]! * RAD;
    t[4 * p] = Math.sin(phi); t[4 * p + 1] = Math.cos(phi);
    t[4 * p + 2] = Math.sin(lam); t[4 * p + 3] = Math.cos(lam);
  }
  return t;
}

interface Setup {
  hdr: number;
  arena: WasmArena;
  k: Exports;
  tq: number;
  tk: number;
  thetaPtr: number;
  thetaSize: number;
  thetaOffsets: number[];
}

/** Copies inputs into the kernel memory and writes the header. */
function setup(k: Exports, desc: BsaDesc, data: BsaData, account: MemoryAccount | undefined): Setup {
  const arena = new WasmArena(k, account);
  const { tq, tk } = tiles(desc);
  const hdr = arena.take(4 * (HDR.GROUPS + G_SLOTS * desc.groups.length));
  const put = (x: ArrayLike<number> | undefined | null): number => (x ? arena.put(x) : 0);
  const slots: [number, number][] = [];
  const set = (slot: number, v: number): void => { slots.push([slot, v]); };
  set(HDR.B, desc.B); set(HDR.H, desc.H); set(HDR.Q, desc.Q); set(HDR.K, desc.K);
  set(HDR.D, desc.d); set(HDR.DV, desc.dv); set(HDR.TQ, tq); set(HDR.TK, tk); set(HDR.G, desc.groups.length);
  set(HDR.PQ, put(data.q)); set(HDR.PK, put(data.k)); set(HDR.PV, put(data.v));
  set(HDR.PMASK, desc.hasMask ? put(data.mask) : 0);
  let nbasis = 0, sumM = 0, thetaSize = 0;
  const thetaOffsets: number[] = [];
  desc.groups.forEach((g, gi) => {
    const gd = data.groups[gi]!;
    const base = HDR.GROUPS + gi * G_SLOTS;
    const gc = g.distance === 'greatCircle';
    set(base, g.M); set(base + 1, gc ? 1 : 0); set(base + 2, FAMILY_CODE[g.family]); set(base + 3, g.F);
    set(base + 4, put(gc ? trig(gd.cq) : gd.cq)); set(base + 5, put(gc ? trig(gd.ck) : gd.ck));
    set(base + 6, put(gd.a)); set(base + 7, put(gd.b)); set(base + 8, put(gd.c));
    set(base + 9, thetaSize);
    thetaOffsets.push(thetaSize);
    thetaSize += 3 * paramSize(desc, g);
    nbasis += g.F;
    sumM += g.M;
  });
  set(HDR.NBASIS, nbasis);
  const scratchFloats = k.bsa_scratch_floats(desc.H, tq, tk, desc.d, desc.dv, desc.groups.length, nbasis, sumM);
  set(HDR.PSCRATCH, arena.take(4 * scratchFloats));
  const thetaPtr = arena.take(8 * Math.max(1, thetaSize));
  set(HDR.PTHETA, thetaPtr);
  const h32 = new Int32Array(k.memory.buffer, hdr, HDR.GROUPS + G_SLOTS * desc.groups.length);
  for (const [s, v] of slots) h32[s] = v;
  new Float32Array(k.memory.buffer, hdr, HDR.GROUPS)[HDR.SCALE] = scaleOf(desc);
  return { hdr, arena, k, tq, tk, thetaPtr, thetaSize, thetaOffsets };
}

function setSlot(s: Setup, slot: number, v: number): void {
  new Int32Array(s.k.memory.buffer, s.hdr, HDR.GROUPS)[slot] = v;
}

/** Copies a kernel-memory region out, reporting the new JS buffer. */
function copyOut(s: Setup, ptr: number, n: number, account?: MemoryAccount): Float32Array {
  account?.recordAlloc(4 * n);
  return new Float32Array(s.k.memory.buffer, ptr, n).slice();
}

/**
 * BSA forward on the CPU.
 *
 * **Arguments**: `desc` (tiles default to 64 queries × 64 keys), `data` (desc.ts layout).
 *
 * **Returns** `{ o [B,H,Q,dv], lse [B,H,Q] }` (float32; lse = −∞ for rows with no valid key).
 */
export function bsaForwardCpu(desc: BsaDesc, data: BsaData, opts: BsaCpuOptions = {}): BsaForward {
  validate(desc, data);
  const k = opts.js ? null : kernel();
  if (!k) return bsaForwardJs(desc, data, opts);
  const { B, H, Q, dv } = desc;
  const s = setup(k, desc, data, opts.memory);
  const o = s.arena.take(4 * B * H * Q * dv), lse = s.arena.take(4 * B * H * Q);
  setSlot(s, HDR.PO, o); setSlot(s, HDR.PLSE, lse);
  const nI = Math.ceil(Q / s.tq);
  for (let b = 0; b < B; b++) k.bsa_forward(s.hdr, b, 0, nI);
  const res = { o: copyOut(s, o, B * H * Q * dv, opts.memory), lse: copyOut(s, lse, B * H * Q, opts.memory) };
  s.arena.release();
  return res;
}

/**
 * BSA backward on the CPU (bsa.md §5.2).
 *
 * **Arguments**: `desc`, `data` as for the forward; `fwd` its result; `dO` [B,H,Q,dv].
 *
 * **Returns** dq [B,H,Q,d], dk [B,H,K,d], dv [B,H,K,dv] and per group da, db?, dc? (shapes of
 * a, b, c). Rows with no valid key get zero gradients.
 */
export function bsaBackwardCpu(desc: BsaDesc, data: BsaData, fwd: BsaForward, dO: Float32Array,
  opts: BsaCpuOptions = {}): BsaGrads {
  validate(desc, data);
  const { B, H, Q, K, d, dv } = desc;
  if (dO.length !== B * H * Q * dv) throw new BsaError(`bsa: expected dO of length ${B * H * Q * dv}, got length ${dO.length}`);
  if (fwd.o.length !== B * H * Q * dv || fwd.lse.length !== B * H * Q) {
    throw new BsaError(`bsa: expected forward outputs o [${B * H * Q * dv}], lse [${B * H * Q}], got o [${fwd.o.length}], lse [${fwd.lse.length}]`);
  }
  const k = opts.js ? null : kernel();
  if (!k) return bsaBackwardJs(desc, data, fwd, dO, opts);
  const s = setup(k, desc, data, opts.memory);
  const rows = B * H * Q;
  const rd = s.arena.f32(rows);
  {
    const r = rd.view();
    for (let i = 0; i < rows; i++) {
      let acc = 0;
      for (let c = 0; c < dv; c++) acc += dO[i * dv + c]! * fwd.o[i * dv + c]!;
      r[i] = acc;
    }
  }
  const pDo = s.arena.put(dO), pLse = s.arena.put(fwd.lse);
  const dq = s.arena.f32(B * H * Q * d);
  dq.view().fill(0);
  const dk = s.arena.take(4 * B * H * K * d), dvp = s.arena.take(4 * B * H * K * dv);
  new Float64Array(k.memory.buffer, s.thetaPtr, Math.max(1, s.thetaSize)).fill(0);
  setSlot(s, HDR.PROWDELTA, rd.ptr); setSlot(s, HDR.PDO, pDo); setSlot(s, HDR.PLSE, pLse);
  setSlot(s, HDR.PDQ, dq.ptr); setSlot(s, HDR.PDK, dk); setSlot(s, HDR.PDV, dvp);
  const nJ = Math.ceil(K / s.tk);
  for (let b = 0; b < B; b++) k.bsa_backward(s.hdr, b, 0, nJ);
  const theta = new Float64Array(k.memory.buffer, s.thetaPtr, Math.max(1, s.thetaSize));
  const groups: BsaGroupGrads[] = desc.groups.map((g, gi) => {
    const n = paramSize(desc, g);
    const base = s.thetaOffsets[gi]!;
    const ps = familyParams(g.family);
    const grab = (off: number): Float32Array => {
      opts.memory?.recordAlloc(4 * n);
      return Float32Array.from(theta.subarray(base + off, base + off + n));
    };
    return { da: grab(0), db: ps.includes('b') ? grab(n) : undefined, dc: ps.includes('c') ? grab(2 * n) : undefined };
  });
  const res: BsaGrads = {
    dq: copyOut(s, dq.ptr, B * H * Q * d, opts.memory),
    dk: copyOut(s, dk, B * H * K * d, opts.memory),
    dv: copyOut(s, dvp, B * H * K * dv, opts.memory),
    groups,
  };
  s.arena.release();
  return res;
}
