/**
 * Biased Scan Attention on the CPU: drives the WebAssembly SIMD kernel of wasm/bsa.c (tiled online-
 * softmax forward storing O and L = m + log l; Flash-2 style backward recomputing tiles; bias
 * parameter gradients of bsa.md §5.2 reduced in a fixed order), optionally on a thread pool. Falls
 * back to the pure-JS kernel of cpu-js.ts (same algorithm, float64 tiles) where WebAssembly SIMD is
 * unavailable.
 *
 * Memory: the kernel runs on a wasm memory: the pool's (= the CPU heap's shared memory) when a pool
 * is given, else the heap holding the inputs, else a private plain memory. Inputs and outputs that already
 * live in that memory are used in place (the engine op's tensors); anything else is copied in/out
 * for the call. Scratch is O(threads · tile) plus O(B·H·Q) row statistics and, in the backward,
 * one dQ buffer per extra slice — never anything of size Q×K. Every region the call allocates is
 * reported to the optional MemoryAccount and freed when the call ends.
 *
 * Tied bases (model.md §5.2): basis functions with identical parameters (b, and c for TISA) are
 * evaluated once per pair for all heads, with their amplitudes summed per head (exact up to
 * round-off); their gradients are mapped back to every tied parameter (see bsa.c).
 *
 * Threads: the forward splits B × query tiles over the pool (dynamic, disjoint outputs); the
 * backward splits B × key tiles into `pool.size` fixed contiguous slices, each with its own dQ and
 * θ buffers, summed afterwards in slice order, so results do not depend on which thread ran what.
 */
import { heapOf, HEAP_RESERVED_BYTES, type CpuHeap } from '../../engine/cpu/heap.js';
import type { ThreadPool } from '../../engine/cpu/threads.js';
import { bsaKernelModule } from '../../engine/cpu/wasm/kernels.js';
import type { MemoryAccount } from '../../engine/memory.js';
import { bsaBackwardJs, bsaForwardJs } from './cpu-js.js';
import {
  type BsaData, type BsaDesc, type BsaForward, type BsaGrads, type BsaGroupGrads, BsaError, familyParams,
  paramSize, scaleOf, validate,
} from './desc.js';

export const CPU_DEFAULT_TILE_Q = 64;
export const CPU_DEFAULT_TILE_K = 64;

export interface BsaCpuOptions {
  /** Every buffer this call allocates (outputs, input copies, statistics, scratch) is reported here. */
  readonly memory?: MemoryAccount;
  /** Force the pure-JS kernel. */
  readonly js?: boolean;
  /** Thread pool (its memory must be a CPU heap's shared memory, else it is ignored). */
  readonly pool?: ThreadPool;
}

export interface BsaForwardOptions extends BsaCpuOptions {
  /** Where to write O [B,H,Q,dv] and L [B,H,Q] (views in the kernel's memory are written in place). */
  readonly out?: { readonly o: Float32Array; readonly lse: Float32Array };
}

export interface BsaBackwardOptions extends BsaCpuOptions {
  /** Where to write dq, dk, dv (views in the kernel's memory are written in place). */
  readonly out?: { readonly dq: Float32Array; readonly dk: Float32Array; readonly dv: Float32Array };
}

interface Exports {
  bsa_forward(hdr: number, tid: number, s: number, e: number): void;
  bsa_backward(hdr: number, tid: number, s: number, e: number): void;
  bsa_sum_dq(hdr: number, tid: number, s: number, e: number): void;
  bsa_scratch_bytes(H: number, tq: number, tk: number, d: number, dv: number, G: number, nu: number,
    sumM: number): number;
}

const HDR = {
  B: 0, H: 1, Q: 2, K: 3, D: 4, DV: 5, TQ: 6, TK: 7, G: 8, SCALE: 9, PQ: 10, PK: 11, PV: 12, PMASK: 13, PO: 14,
  PLSE: 15, PDO: 16, PDQTAB: 17, PDK: 18, PDV: 19, PROWDELTA: 20, PTHETA: 21, PSCRATCH: 22, SCRATCH_STRIDE: 23,
  NU: 24, PBASES: 25, PHEADS: 26, NENTRIES: 27, SLICES: 28, GROUPS: 40,
} as const;
const G_SLOTS = 4;
const FAMILY_CODE = { rbf: 0, tisa: 1, exp: 2, scalar: 3 } as const;
const RAD = Math.PI / 180;

/** A wasm memory with this thread's BSA kernel instance on it, and how to allocate in it. */
interface Env {
  memory: WebAssembly.Memory;
  k: Exports;
  /** The heap owning `memory`, or null for the private plain memory (no SharedArrayBuffer). */
  heap: CpuHeap | null;
  pool?: ThreadPool;
}

const instances = new WeakMap<WebAssembly.Memory, Exports | null>();
let plainMemory: WebAssembly.Memory | null = null;

function instanceOn(memory: WebAssembly.Memory, shared: boolean): Exports | null {
  let k = instances.get(memory);
  if (k === undefined) {
    try {
      k = new WebAssembly.Instance(bsaKernelModule(shared), { env: { memory } }).exports as unknown as Exports;
    } catch {
      k = null; // no simd128 here
    }
    instances.set(memory, k);
  }
  return k;
}

function envFor(data: BsaData, pool: ThreadPool | undefined): Env | null {
  const poolHeap = pool ? heapOf(pool.memory) : null;
  if (pool && poolHeap) {
    const k = instanceOn(pool.memory, true);
    return k && { memory: pool.memory, k, heap: poolHeap, pool };
  }
  // Without a pool: the heap holding the inputs (engine tensors), else a private plain memory. (Not a
  // private shared heap: in Node 20 growing one shared memory replaces the buffer objects of every
  // shared memory, which heap.ts's ownership test does not expect.)
  const heap = heapOf(data.q);
  if (heap?.memory) {
    const k = instanceOn(heap.memory, true);
    return k && { memory: heap.memory, k, heap };
  }
  plainMemory ??= new WebAssembly.Memory({ initial: 2, maximum: 65536 });
  const k = instanceOn(plainMemory, false);
  return k && { memory: plainMemory, k, heap: null };
}

/** True when the WebAssembly SIMD kernel can run here. */
export function bsaWasmAvailable(): boolean {
  try {
    const m = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    new WebAssembly.Instance(bsaKernelModule(false), { env: { memory: m } });
    return true;
  } catch {
    return false;
  }
}

/** Per-call allocations in the env's memory, each reported to the account, all freed by release(). */
class Arena {
  private bytes = 0;
  private readonly views: Float32Array[] = [];
  private top = HEAP_RESERVED_BYTES;
  constructor(private readonly env: Env, private readonly account?: MemoryAccount) {}
  /** Reserves n floats (64-byte aligned); returns the byte address. */
  take(n: number): number {
    const nBytes = 4 * Math.max(1, n);
    this.bytes += nBytes;
    this.account?.recordAlloc(nBytes);
    const heap = this.env.heap;
    if (heap) {
      const v = heap.alloc(Math.max(1, n));
      this.views.push(v);
      return v.byteOffset;
    }
    const p = this.top;
    this.top = (p + nBytes + 63) & ~63;
    const m = this.env.memory;
    const need = this.top - m.buffer.byteLength;
    if (need > 0) m.grow(Math.ceil(need / 65536));
    return p;
  }
  view(ptr: number, n: number): Float32Array {
    return new Float32Array(this.env.memory.buffer, ptr, n);
  }
  /** Byte address of x if it lives in the memory, else -1. */
  addressOf(x: Float32Array): number {
    if (this.env.heap) return this.env.heap.offsetOf(x);
    return x.buffer === this.env.memory.buffer ? x.byteOffset : -1;
  }
  /** x in place when it lives in the memory, else a copy. */
  put(x: ArrayLike<number>): number {
    if (x instanceof Float32Array) {
      const a = this.addressOf(x);
      if (a >= 0) return a;
    }
    const p = this.take(x.length);
    this.view(p, x.length).set(x);
    return p;
  }
  release(): void {
    for (const v of this.views) this.env.heap!.free(v);
    this.views.length = 0;
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

const f32bits = (() => {
  const f = new Float32Array(1), i = new Int32Array(f.buffer);
  return (x: number): number => { f[0] = x; return i[0]!; };
})();

/**
 * Tied-basis tables (bsa.c header comment): unique bases per group across heads (key: family
 * parameters b, c by float32 bits), per head the entries (u, Σ tied a), and for every parameter
 * (group, h·F + k) its entry.
 */
interface BiasTables {
  bases: Int32Array;
  nu: number;
  heads: Int32Array;
  nentries: number;
  entryOf: number[][];
}

function biasTables(desc: BsaDesc, data: BsaData): BiasTables {
  const { H } = desc;
  const bases: number[] = [];
  const basisIndex = new Map<string, number>();
  const perHead: { u: number; a: number }[][] = Array.from({ length: H }, () => []);
  const headSlot: Map<number, number>[] = Array.from({ length: H }, () => new Map());
  const entryLocal: [number, number][][] = desc.groups.map(() => []);
  desc.groups.forEach((g, gi) => {
    const gd = data.groups[gi]!;
    const F = g.family === 'scalar' ? 1 : g.F;
    for (let h = 0; h < H; h++) {
      for (let kk = 0; kk < F; kk++) {
        const pi = h * F + kk;
        const bb = g.family === 'scalar' ? 0 : f32bits(gd.b![pi]!);
        const cc = g.family === 'tisa' ? f32bits(gd.c![pi]!) : 0;
        const key = `${gi}:${bb}:${cc}`;
        let u = basisIndex.get(key);
        if (u === undefined) {
          u = bases.length / 4;
          basisIndex.set(key, u);
          bases.push(FAMILY_CODE[g.family], gi, bb, cc);
        }
        let slot = headSlot[h]!.get(u);
        if (slot === undefined) {
          slot = perHead[h]!.length;
          headSlot[h]!.set(u, slot);
          perHead[h]!.push({ u, a: 0 });
        }
        perHead[h]![slot]!.a += gd.a[pi]!;
        entryLocal[gi]!.push([h, slot]);
      }
    }
  });
  const nentries = perHead.reduce((s, l) => s + l.length, 0);
  const heads = new Int32Array(H + 1 + 2 * nentries);
  const start: number[] = [];
  let e = 0;
  for (let h = 0; h < H; h++) {
    heads[h] = e;
    start.push(e);
    for (const { u, a } of perHead[h]!) {
      heads[H + 1 + 2 * e] = u;
      heads[H + 1 + 2 * e + 1] = f32bits(a);
      e++;
    }
  }
  heads[H] = e;
  const entryOf = entryLocal.map((l) => l.map(([h, slot]) => start[h]! + slot));
  return { bases: Int32Array.from(bases), nu: bases.length / 4, heads, nentries, entryOf };
}

interface Setup {
  env: Env;
  arena: Arena;
  hdr: number;
  tq: number;
  tk: number;
  threads: number;
  tables: BiasTables;
}

/** Places inputs in the kernel memory and writes the header. */
function setup(env: Env, desc: BsaDesc, data: BsaData, account: MemoryAccount | undefined): Setup {
  const arena = new Arena(env, account);
  const { tq, tk } = tiles(desc);
  const threads = env.pool?.size ?? 1;
  const nslots = HDR.GROUPS + G_SLOTS * desc.groups.length;
  const hdr = arena.take(nslots);
  const slots: [number, number][] = [];
  const set = (slot: number, v: number): void => { slots.push([slot, v]); };
  const put = (x: ArrayLike<number>): number => arena.put(x);
  set(HDR.B, desc.B); set(HDR.H, desc.H); set(HDR.Q, desc.Q); set(HDR.K, desc.K);
  set(HDR.D, desc.d); set(HDR.DV, desc.dv); set(HDR.TQ, tq); set(HDR.TK, tk); set(HDR.G, desc.groups.length);
  set(HDR.SCALE, f32bits(scaleOf(desc)));
  set(HDR.PQ, put(data.q)); set(HDR.PK, put(data.k)); set(HDR.PV, put(data.v));
  set(HDR.PMASK, desc.hasMask ? put(data.mask!) : 0);
  let sumM = 0;
  desc.groups.forEach((g, gi) => {
    const gd = data.groups[gi]!;
    const base = HDR.GROUPS + gi * G_SLOTS;
    const gc = g.distance === 'greatCircle';
    set(base, g.M); set(base + 1, gc ? 1 : 0);
    set(base + 2, put(gc ? trig(gd.cq) : gd.cq)); set(base + 3, put(gc ? trig(gd.ck) : gd.ck));
    sumM += g.M;
  });
  const tables = biasTables(desc, data);
  const tab = (x: Int32Array): number => {
    const p = arena.take(x.length);
    new Int32Array(env.memory.buffer, p, Math.max(1, x.length)).set(x);
    return p;
  };
  set(HDR.NU, tables.nu); set(HDR.PBASES, tab(tables.bases)); set(HDR.PHEADS, tab(tables.heads));
  set(HDR.NENTRIES, tables.nentries);
  const stride = env.k.bsa_scratch_bytes(desc.H, tq, tk, desc.d, desc.dv, desc.groups.length, tables.nu, sumM);
  set(HDR.PSCRATCH, arena.take((threads * stride) / 4)); set(HDR.SCRATCH_STRIDE, stride);
  const h32 = new Int32Array(env.memory.buffer, hdr, nslots);
  for (const [s, v] of slots) h32[s] = v;
  return { env, arena, hdr, tq, tk, threads, tables };
}

function setSlot(s: Setup, slot: number, v: number): void {
  new Int32Array(s.env.memory.buffer, s.hdr, HDR.GROUPS)[slot] = v;
}

/** An output region: `into` in place when it lives in the memory, else arena scratch copied out. */
function output(s: Setup, n: number, into: Float32Array | undefined, account?: MemoryAccount):
  { ptr: number; finish: () => Float32Array } {
  if (into && into.length !== n) throw new BsaError(`bsa: expected an output view of length ${n}, got length ${into.length}`);
  const at = into ? s.arena.addressOf(into) : -1;
  if (at >= 0) return { ptr: at, finish: () => into! };
  const ptr = s.arena.take(n);
  return {
    ptr,
    finish: () => {
      const src = s.arena.view(ptr, n);
      if (into) { into.set(src); return into; }
      account?.recordAlloc(4 * n);
      return src.slice();
    },
  };
}

/**
 * BSA forward on the CPU.
 *
 * **Arguments**: `desc` (tiles default to 64 queries × 64 keys), `data` (desc.ts layout), options
 * (memory account, pool, output views).
 *
 * **Returns** `{ o [B,H,Q,dv], lse [B,H,Q] }` (float32; lse = −∞ for rows with no valid key).
 */
export function bsaForwardCpu(desc: BsaDesc, data: BsaData, opts: BsaForwardOptions = {}): BsaForward {
  validate(desc, data);
  const env = opts.js ? null : envFor(data, opts.pool);
  if (!env) {
    const r = bsaForwardJs(desc, data, opts);
    if (!opts.out) return r;
    opts.out.o.set(r.o); opts.out.lse.set(r.lse);
    return opts.out;
  }
  const { B, H, Q, dv } = desc;
  const s = setup(env, desc, data, opts.memory);
  try {
    const o = output(s, B * H * Q * dv, opts.out?.o, opts.memory);
    const lse = output(s, B * H * Q, opts.out?.lse, opts.memory);
    setSlot(s, HDR.PO, o.ptr); setSlot(s, HDR.PLSE, lse.ptr);
    const units = B * Math.ceil(Q / s.tq);
    if (env.pool) env.pool.run('bsa_forward', units, 1, [s.hdr]);
    else env.k.bsa_forward(s.hdr, 0, 0, units);
    return { o: o.finish(), lse: lse.finish() };
  } finally {
    s.arena.release();
  }
}

/**
 * BSA backward on the CPU (bsa.md §5.2).
 *
 * **Arguments**: `desc`, `data` as for the forward; `fwd` its result; `dO` [B,H,Q,dv]; options
 * (memory account, pool, output views for dq, dk, dv).
 *
 * **Returns** dq [B,H,Q,d], dk [B,H,K,d], dv [B,H,K,dv] and per group da, db?, dc? (shapes of
 * a, b, c). Rows with no valid key get zero gradients.
 */
export function bsaBackwardCpu(desc: BsaDesc, data: BsaData, fwd: BsaForward, dO: Float32Array,
  opts: BsaBackwardOptions = {}): BsaGrads {
  validate(desc, data);
  const { B, H, Q, K, d, dv } = desc;
  if (dO.length !== B * H * Q * dv) throw new BsaError(`bsa: expected dO of length ${B * H * Q * dv}, got length ${dO.length}`);
  if (fwd.o.length !== B * H * Q * dv || fwd.lse.length !== B * H * Q) {
    throw new BsaError(`bsa: expected forward outputs o [${B * H * Q * dv}], lse [${B * H * Q}], got o [${fwd.o.length}], lse [${fwd.lse.length}]`);
  }
  const env = opts.js ? null : envFor(data, opts.pool);
  if (!env) {
    const r = bsaBackwardJs(desc, data, fwd, dO, opts);
    if (!opts.out) return r;
    opts.out.dq.set(r.dq); opts.out.dk.set(r.dk); opts.out.dv.set(r.dv);
    return { ...opts.out, groups: r.groups };
  }
  const s = setup(env, desc, data, opts.memory);
  try {
    const { arena, tables } = s;
    const rows = B * H * Q;
    const rd = arena.take(rows);
    {
      const r = arena.view(rd, rows);
      for (let i = 0; i < rows; i++) {
        let acc = 0;
        for (let c = 0; c < dv; c++) acc += dO[i * dv + c]! * fwd.o[i * dv + c]!;
        r[i] = acc;
      }
    }
    const pDo = arena.put(dO), pLse = arena.put(fwd.lse);
    const dq = output(s, B * H * Q * d, opts.out?.dq, opts.memory);
    const dk = output(s, B * H * K * d, opts.out?.dk, opts.memory);
    const dvo = output(s, B * H * K * dv, opts.out?.dv, opts.memory);
    const units = B * Math.ceil(K / s.tk);
    const slices = Math.max(1, Math.min(s.threads, units));
    const dqtab = new Int32Array(slices);
    dqtab[0] = dq.ptr;
    for (let i = 1; i < slices; i++) dqtab[i] = arena.take(B * H * Q * d);
    const pTab = arena.take(slices);
    new Int32Array(env.memory.buffer, pTab, slices).set(dqtab);
    const thetaLen = slices * 3 * tables.nentries;
    const pTheta = arena.take(2 * Math.max(1, thetaLen));
    setSlot(s, HDR.PROWDELTA, rd); setSlot(s, HDR.PDO, pDo); setSlot(s, HDR.PLSE, pLse);
    setSlot(s, HDR.PDQTAB, pTab); setSlot(s, HDR.PDK, dk.ptr); setSlot(s, HDR.PDV, dvo.ptr);
    setSlot(s, HDR.PTHETA, pTheta); setSlot(s, HDR.SLICES, slices);
    if (env.pool && slices > 1) {
      env.pool.run('bsa_backward', slices, 1, [s.hdr]);
      env.pool.run('bsa_sum_dq', rows, Math.ceil(rows / (4 * env.pool.size)), [s.hdr]);
    } else {
      env.k.bsa_backward(s.hdr, 0, 0, slices);
      if (slices > 1) env.k.bsa_sum_dq(s.hdr, 0, 0, rows);
    }
    // θ: raw per-entry sums, added over slices in order, then mapped to every tied parameter.
    const th = new Float64Array(env.memory.buffer, pTheta, Math.max(1, thetaLen));
    const ne = tables.nentries;
    const sums = new Float64Array(3 * ne);
    for (let sl = 0; sl < slices; sl++) for (let x = 0; x < 3 * ne; x++) sums[x] += th[sl * 3 * ne + x]!;
    const groups: BsaGroupGrads[] = desc.groups.map((g, gi) => {
      const n = paramSize(desc, g);
      const gd = data.groups[gi]!;
      const ps = familyParams(g.family);
      const ent = tables.entryOf[gi]!;
      const grab = (f: (p: number, e: number) => number): Float32Array => {
        opts.memory?.recordAlloc(4 * n);
        return Float32Array.from({ length: n }, (_, p) => f(p, ent[p]!));
      };
      return {
        da: grab((_, e) => sums[3 * e]!),
        db: ps.includes('b') ? grab((p, e) => -gd.a[p]! * sums[3 * e + 1]!) : undefined,
        dc: ps.includes('c') ? grab((p, e) => 2 * gd.a[p]! * gd.b![p]! * sums[3 * e + 2]!) : undefined,
      };
    });
    return { dq: dq.finish(), dk: dk.finish(), dv: dvo.finish(), groups };
  } finally {
    s.arena.release();
  }
}
