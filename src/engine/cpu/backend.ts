/**
 * The `cpu` backend: float32 kernels over typed arrays. Storage lives in a `CpuHeap` (shared wasm
 * memory when available, so the SIMD matmul and worker threads read it without copies). All work
 * is synchronous; `read` resolves immediately. Imports no Node built-ins: a loader may pass a
 * thread pool made with worker_threads (engine/cpu/node.ts) or Web Workers.
 */

import type { AdamWArgs, Backend, BinaryOp, MatmulArgs, ReduceOp, Storage, UnaryOp } from '../backend.js';
import { MemoryAccount } from '../memory.js';
import { randomHost, threefry2x32, TWO_POW_M24 } from '../random.js';
import { createHeap, type CpuHeap } from './heap.js';
import { matmul } from './matmul.js';
import type { ThreadPool } from './threads.js';
import { kernelsFor } from './wasm/kernels.js';
import { binaryBroadcast, unaryLoop, whereBroadcast } from './elementwise.js';
import { EwKernels } from './ew.js';

/** CPU storage: a view into the heap. */
export interface CpuStorage extends Storage {
  readonly data: Float32Array;
  freed: boolean;
}

/** Calls body(outIndex, offsets...) for every element of `shape` with per-operand strides. */
function forEachIndex(shape: readonly number[], strides: number[][], body: (i: number, offs: number[]) => void): void {
  const r = shape.length;
  const n = shape.reduce((p, d) => p * d, 1);
  if (n === 0) return;
  const idx = new Array<number>(r).fill(0);
  const offs = strides.map(() => 0);
  for (let i = 0; i < n; i++) {
    body(i, offs);
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      for (let k = 0; k < offs.length; k++) offs[k]! += strides[k]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let k = 0; k < offs.length; k++) offs[k]! -= strides[k]![d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

export interface CpuBackendOptions {
  /** Worker pool for matmul (and kernels that use it). */
  pool?: ThreadPool;
  /** Heap to allocate from (default: shared wasm memory when available). */
  heap?: CpuHeap;
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly description: string;
  readonly memory = new MemoryAccount();
  readonly heap: CpuHeap;
  readonly pool: ThreadPool | undefined;
  /** SIMD elementwise and convolution kernels on the shared heap (null on a plain-JS heap: JS loops). */
  readonly ew: EwKernels | null;

  constructor(opts: CpuBackendOptions = {}) {
    this.heap = opts.heap ?? createHeap();
    this.pool = opts.pool;
    this.ew = EwKernels.create(this.heap, this.pool);
    this.description = `cpu (${this.pool ? `${this.pool.size} threads` : '1 thread'}, ${this.heap.memory ? 'shared wasm heap' : 'js heap'})`;
  }

  /** The float32 view of a storage (for kernels in src/kernels). */
  view(s: Storage): Float32Array {
    const c = s as CpuStorage;
    if (c.freed) throw new Error('cpu: storage used after it was freed');
    return c.data;
  }

  alloc(n: number): Storage {
    const data = this.heap.alloc(n);
    this.memory.recordAlloc(n * 4);
    const s: CpuStorage = { length: n, data, freed: false };
    return s;
  }

  upload(data: Float32Array): Storage {
    const s = this.alloc(data.length);
    (s as CpuStorage).data.set(data);
    return s;
  }

  free(s: Storage): void {
    const c = s as CpuStorage;
    if (c.freed) throw new Error('cpu.free: storage was already freed');
    c.freed = true;
    this.heap.free(c.data);
    this.memory.recordFree(c.length * 4);
  }

  async read(s: Storage): Promise<Float32Array> {
    return this.readSync(s);
  }

  readSync(s: Storage): Float32Array {
    return this.view(s).slice();
  }

  async sync(): Promise<void> {}

  destroy(): void {
    this.pool?.destroy();
  }

  private out(n: number): [Storage, Float32Array] {
    const s = this.alloc(n);
    return [s, (s as CpuStorage).data];
  }

  fill(n: number, value: number): Storage {
    const [s, o] = this.out(n);
    o.fill(value);
    return s;
  }

  /**
   * GELU and its gradient run in the wasm SIMD kernels (wasm/elementwise.c) when every operand is
   * in the heap's wasm memory; `false` when they cannot (plain-JS heap), and the JS loops run.
   */
  private geluWasm(out: Float32Array, x: Float32Array, dy?: Float32Array): boolean {
    const mem = this.heap.memory;
    const [po, px, pd] = [out, x, dy].map((v) => (v ? this.heap.offsetOf(v) : 0));
    if (!mem || po! < 0 || px! < 0 || pd! < 0) return false;
    const k = kernelsFor(mem);
    if (dy) k.gelu_grad_f32(px!, pd!, po!, out.length);
    else k.gelu_f32(px!, po!, out.length);
    return true;
  }

  unary(op: UnaryOp, x: Storage): Storage {
    const xs = this.view(x);
    const [s, o] = this.out(xs.length);
    if (op === 'gelu' && this.geluWasm(o, xs)) return s;
    if (this.ew?.unary(op, xs, o, xs.length)) return s;
    unaryLoop(op, xs, o, xs.length);
    return s;
  }

  binary(op: BinaryOp, a: Storage, aShape: readonly number[], b: Storage, bShape: readonly number[], outShape: readonly number[]): Storage {
    const av = this.view(a);
    const bv = this.view(b);
    const n = outShape.reduce((p, d) => p * d, 1);
    const [s, o] = this.out(n);
    if (op === 'geluGrad' && av.length === n && bv.length === n && this.geluWasm(o, av, bv)) return s;
    if (this.ew && n > 0 && (av.length === n || av.length === 1) && (bv.length === n || bv.length === 1)
      && this.ew.binary(op, av, av.length === n ? 1 : 0, bv, bv.length === n ? 1 : 0, o, n)) return s;
    if (this.ew?.binaryBroadcast(op, o, av, aShape, bv, bShape, outShape)) return s;
    binaryBroadcast(op, o, av, aShape, bv, bShape, outShape);
    return s;
  }

  where(cond: Storage, cShape: readonly number[], a: Storage, aShape: readonly number[], b: Storage,
    bShape: readonly number[], outShape: readonly number[]): Storage {
    const n = outShape.reduce((p, d) => p * d, 1);
    const [s, o] = this.out(n);
    whereBroadcast(o, this.view(cond), cShape, this.view(a), aShape, this.view(b), bShape, outShape);
    return s;
  }

  reduce(op: ReduceOp, x: Storage, outer: number, r: number, inner: number): Storage {
    const xv = this.view(x);
    const [s, o] = this.out(outer * inner);
    if (op === 'sum') {
      o.fill(0);
      if (inner === 1) {
        for (let i = 0; i < outer; i++) {
          let acc = 0;
          const base = i * r;
          for (let j = 0; j < r; j++) acc += xv[base + j]!;
          o[i] = acc;
        }
      } else if (!this.ew?.sumMiddle(xv, o, outer, r, inner)) {
        const acc = new Float64Array(inner);
        for (let i = 0; i < outer; i++) {
          acc.fill(0);
          for (let j = 0; j < r; j++) {
            const base = (i * r + j) * inner;
            for (let k = 0; k < inner; k++) acc[k]! += xv[base + k]!;
          }
          for (let k = 0; k < inner; k++) o[i * inner + k] = acc[k]!;
        }
      }
    } else {
      // One loop per op (a shared comparison closure would be called per element); NaN wins.
      const isMax = op === 'max';
      for (let i = 0; i < outer; i++) {
        for (let k = 0; k < inner; k++) {
          let m = xv[i * r * inner + k]!;
          if (isMax) {
            for (let j = 1; j < r; j++) { const v = xv[(i * r + j) * inner + k]!; if (v > m || v !== v) m = v; }
          } else {
            for (let j = 1; j < r; j++) { const v = xv[(i * r + j) * inner + k]!; if (v < m || v !== v) m = v; }
          }
          o[i * inner + k] = m;
        }
      }
    }
    return s;
  }

  strided(x: Storage, shape: readonly number[], strides: readonly number[], offset: number): Storage {
    const xv = this.view(x);
    const n = shape.reduce((p, d) => p * d, 1);
    const [s, o] = this.out(n);
    const r = shape.length;
    if (r === 0) {
      if (n) o[0] = xv[offset]!;
      return s;
    }
    // Copy the innermost axis in a tight loop.
    const last = shape[r - 1]!;
    const ls = strides[r - 1]!;
    const outerShape = shape.slice(0, -1);
    let k = 0;
    forEachIndex(outerShape, [strides.slice(0, -1) as number[]], (_i, [off]) => {
      const base = offset + off!;
      if (ls === 1) o.set(xv.subarray(base, base + last), k);
      else for (let j = 0; j < last; j++) o[k + j] = xv[base + j * ls]!;
      k += last;
    });
    return s;
  }

  stridedWrite(dst: Storage, src: Storage, shape: readonly number[], strides: readonly number[], offset: number): void {
    const dv = this.view(dst);
    const sv = this.view(src);
    const r = shape.length;
    if (r === 0) { dv[offset] = sv[0]!; return; }
    const last = shape[r - 1]!;
    const ls = strides[r - 1]!;
    let k = 0;
    forEachIndex(shape.slice(0, -1), [strides.slice(0, -1) as number[]], (_i, [off]) => {
      const base = offset + off!;
      if (ls === 1) dv.set(sv.subarray(k, k + last), base);
      else for (let j = 0; j < last; j++) dv[base + j * ls] = sv[k + j]!;
      k += last;
    });
  }

  gather(table: Storage, V: number, D: number, idx: Storage, n: number): Storage {
    const tv = this.view(table);
    const iv = this.view(idx);
    const [s, o] = this.out(n * D);
    for (let i = 0; i < n; i++) {
      const v = iv[i]!;
      if (!(v >= 0 && v < V && Number.isInteger(v))) throw new RangeError(`gather: index ${v} at position ${i} out of range [0, ${V})`);
      o.set(tv.subarray(v * D, v * D + D), i * D);
    }
    return s;
  }

  scatterAdd(g: Storage, idx: Storage, n: number, V: number, D: number): Storage {
    const gv = this.view(g);
    const iv = this.view(idx);
    const acc = new Float64Array(V * D);
    for (let i = 0; i < n; i++) {
      const v = iv[i]!;
      for (let d = 0; d < D; d++) acc[v * D + d]! += gv[i * D + d]!;
    }
    const [s, o] = this.out(V * D);
    o.set(acc);
    return s;
  }

  matmul(a: Storage, b: Storage, args: MatmulArgs): Storage {
    const [s, o] = this.out(args.batch * args.m * args.n);
    matmul(this.view(a), this.view(b), o, args, this.pool);
    if (args.bias) {
      const bv = this.view(args.bias);
      const n = args.n;
      if (bv.length < n) throw new Error(`matmul: expected a bias of ${n} elements, got ${bv.length}`);
      if (!this.ew?.biasRows(o, bv, args.batch * args.m, n, false)) for (let r = 0; r < args.batch * args.m; r++) {
        const base = r * n;
        for (let c = 0; c < n; c++) o[base + c] = o[base + c]! + bv[c]!;
      }
    }
    if (args.residual) {
      const rv = this.view(args.residual);
      if (rv.length < o.length) throw new Error(`matmul: expected a residual of ${o.length} elements, got ${rv.length}`);
      if (!this.ew?.binary('add', o, 1, rv, 1, o, o.length)) for (let i = 0; i < o.length; i++) o[i] = o[i]! + rv[i]!;
    }
    return s;
  }

  layerNorm(x: Storage, gamma: Storage, beta: Storage, rows: number, cols: number, eps: number) {
    const xv = this.view(x);
    const gv = this.view(gamma);
    const bv = this.view(beta);
    const [y, yv] = this.out(rows * cols);
    const [mean, mv] = this.out(rows);
    const [rstd, rv] = this.out(rows);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let m = 0;
      for (let c = 0; c < cols; c++) m += xv[base + c]!;
      m /= cols;
      let v = 0;
      for (let c = 0; c < cols; c++) { const d = xv[base + c]! - m; v += d * d; }
      const rs = 1 / Math.sqrt(v / cols + eps);
      mv[r] = m;
      rv[r] = rs;
      for (let c = 0; c < cols; c++) yv[base + c] = (xv[base + c]! - m) * rs * gv[c]! + bv[c]!;
    }
    return { y, mean, rstd };
  }

  layerNormBackward(dy: Storage, x: Storage, gamma: Storage, mean: Storage, rstd: Storage, rows: number, cols: number,
    acc: Storage | null = null) {
    const av = acc ? this.view(acc) : null;
    if (av && av.length < rows * cols) throw new Error(`layerNormBackward: expected acc of ${rows * cols} elements, got ${av.length}`);
    const dyv = this.view(dy);
    const xv = this.view(x);
    const gv = this.view(gamma);
    const mv = this.view(mean);
    const rv = this.view(rstd);
    const [dx, dxv] = this.out(rows * cols);
    const dg = new Float64Array(cols);
    const db = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      const m = mv[r]!;
      const rs = rv[r]!;
      let s1 = 0;
      let s2 = 0;
      for (let c = 0; c < cols; c++) {
        const xh = (xv[base + c]! - m) * rs;
        const g = dyv[base + c]! * gv[c]!;
        s1 += g;
        s2 += g * xh;
        dg[c]! += dyv[base + c]! * xh;
        db[c]! += dyv[base + c]!;
      }
      s1 /= cols;
      s2 /= cols;
      for (let c = 0; c < cols; c++) {
        const xh = (xv[base + c]! - m) * rs;
        dxv[base + c] = rs * (dyv[base + c]! * gv[c]! - s1 - xh * s2) + (av ? av[base + c]! : 0);
      }
    }
    const [dgamma, dgv] = this.out(cols);
    const [dbeta, dbv] = this.out(cols);
    dgv.set(dg);
    dbv.set(db);
    return { dx, dgamma, dbeta };
  }

  softmax(x: Storage, rows: number, cols: number): Storage {
    return this.rowSoftmax(x, rows, cols, false);
  }

  logSoftmax(x: Storage, rows: number, cols: number): Storage {
    return this.rowSoftmax(x, rows, cols, true);
  }

  private rowSoftmax(x: Storage, rows: number, cols: number, log: boolean): Storage {
    const xv = this.view(x);
    const [s, o] = this.out(rows * cols);
    // Each row's exponentials are kept in float64 and reused for the normalisation (one exp per
    // element, not two; the same values).
    const e = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let m = -Infinity;
      for (let c = 0; c < cols; c++) if (xv[base + c]! > m) m = xv[base + c]!;
      let z = 0;
      for (let c = 0; c < cols; c++) { const v = Math.exp(xv[base + c]! - m); e[c] = v; z += v; }
      if (log) {
        const lz = m + Math.log(z);
        for (let c = 0; c < cols; c++) o[base + c] = xv[base + c]! - lz;
      } else {
        for (let c = 0; c < cols; c++) o[base + c] = e[c]! / z;
      }
    }
    return s;
  }

  random(dist: 'uniform' | 'normal', n: number, key: readonly [number, number], offset: number): Storage {
    const [s, o] = this.out(n);
    if (dist === 'normal') {
      o.set(randomHost('normal', n, key, offset));
    } else {
      for (let i = 0; i < n; i++) {
        const [x0] = threefry2x32(key[0], key[1], (offset + i) >>> 0, 0);
        o[i] = ((x0 >>> 8) + 0.5) * TWO_POW_M24;
      }
    }
    return s;
  }

  sumSquares(xs: readonly Storage[], ns: readonly number[]): Storage {
    if (xs.length !== ns.length) throw new Error(`sumSquares: expected ${xs.length} lengths, got ${ns.length}`);
    const [s, o] = this.out(xs.length);
    for (let t = 0; t < xs.length; t++) {
      const xv = this.view(xs[t]!);
      const n = ns[t]!;
      if (n > xv.length) throw new Error(`sumSquares: expected at most ${xv.length} elements in tensor ${t}, got ${n}`);
      let acc = 0;
      for (let i = 0; i < n; i++) acc += xv[i]! * xv[i]!;
      o[t] = acc;
    }
    return s;
  }

  adamwMany(ps: readonly Storage[], gs: readonly Storage[], ms: readonly Storage[], vs: readonly Storage[],
    gScale: Storage | null, a: AdamWArgs): void {
    for (let i = 0; i < ps.length; i++) this.adamw(ps[i]!, gs[i]!, ms[i]!, vs[i]!, gScale, a);
  }

  adamw(p: Storage, g: Storage, m: Storage, v: Storage, gScale: Storage | null, a: AdamWArgs): void {
    const pv = this.view(p);
    const gv = this.view(g);
    const mv = this.view(m);
    const vv = this.view(v);
    const scale = gScale ? this.view(gScale)[0]! : 1;
    if (!Number.isFinite(scale)) return; // a skipped step (Backend.adamw)
    const c1 = 1 - Math.pow(a.beta1, a.step);
    const c2 = 1 - Math.pow(a.beta2, a.step);
    for (let i = 0; i < pv.length; i++) {
      const gi = gv[i]! * scale;
      const mi = a.beta1 * mv[i]! + (1 - a.beta1) * gi;
      const vi = a.beta2 * vv[i]! + (1 - a.beta2) * gi * gi;
      mv[i] = mi;
      vv[i] = vi;
      pv[i] = pv[i]! - a.lr * ((mi / c1) / (Math.sqrt(vi / c2) + a.eps) + a.weightDecay * pv[i]!);
    }
  }
}

/** A CPU backend without threads (the browser-safe default). */
export function createCpuBackend(opts: CpuBackendOptions = {}): CpuBackend {
  return new CpuBackend(opts);
}
