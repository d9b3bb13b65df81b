/**
 * Runs the SIMD elementwise kernels (wasm/ew-wasm.ts, scripts/build-ew-wasm.ts) for the CPU
 * backend: on the thread pool for large tensors, on the calling thread otherwise. Every operand
 * must live in the heap's shared memory; `null`/`false` returns tell the caller to use its JS loops
 * (plain-JS heap, browsers without shared memory, ops the module lacks, broadcasting other than a
 * single element). Same float32 results as the JS loops, except exp: within one float32 ulp of
 * Math.exp's (see the build script).
 */
import type { BinaryOp, UnaryOp } from '../backend.js';
import { bstrides, collapse } from './elementwise.js';
import type { CpuHeap } from './heap.js';
import type { ThreadPool } from './threads.js';
import { ewKernelModule } from './wasm/kernels.js';

interface EwExports {
  ew_unary(op: number, x: number, o: number, tid: number, s: number, e: number): void;
  ew_binary(op: number, a: number, sa: number, b: number, sb: number, o: number, tid: number, s: number, e: number): void;
  bias_rows(o: number, bias: number, n: number, relu: number, tid: number, s: number, e: number): void;
  ew_binary3(op: number, a: number, sa0: number, sa1: number, sa2: number, b: number, sb0: number, sb1: number, sb2: number,
    o: number, n1: number, n2: number, tid: number, s: number, e: number): void;
  dw_forward(x: number, K: number, y: number, H: number, W: number, C: number, k: number, tid: number, s: number, e: number): void;
  dw_forward9(x: number, K: number, y: number, H: number, W: number, C: number, tid: number, s: number, e: number): void;
  dw_kgrad8(x: number, g: number, acc: number, B: number, H: number, W: number, C: number, tid: number, s: number, e: number): void;
  red_sum16(x: number, o: number, r: number, inner: number, tid: number, s: number, e: number): void;
  dw_kgrad(x: number, g: number, acc: number, B: number, H: number, W: number, C: number, k: number, tid: number, s: number, e: number): void;
}

const UNARY_CODES: Partial<Record<UnaryOp, number>> = { relu: 0, neg: 1, abs: 2, square: 3, sqrt: 4, recip: 5, exp: 6 };
const BINARY_CODES: Partial<Record<BinaryOp, number>> = {
  add: 0, sub: 1, mul: 2, div: 3, gt: 4, ge: 5, lt: 6, le: 7, eq: 8, ne: 9, max: 10, min: 11,
};

/** Elements below which a kernel stays on the calling thread (waking the pool costs microseconds). */
const PARALLEL_MIN = 1 << 16;
/** Elements below which the JS loop is used (the call into wasm is not worth it). */
const WASM_MIN = 64;

const instances = new WeakMap<WebAssembly.Memory, EwExports>();

export class EwKernels {
  private readonly k: EwExports;

  private constructor(private readonly heap: CpuHeap, private readonly pool: ThreadPool | undefined, memory: WebAssembly.Memory) {
    let k = instances.get(memory);
    if (!k) {
      k = new WebAssembly.Instance(ewKernelModule(), { env: { memory } }).exports as unknown as EwExports;
      instances.set(memory, k);
    }
    this.k = k;
  }

  /** Kernels on `heap`'s shared memory, or null when it has none. */
  static create(heap: CpuHeap, pool: ThreadPool | undefined): EwKernels | null {
    const mem = heap.memory;
    if (!mem || typeof SharedArrayBuffer === 'undefined' || !(mem.buffer instanceof SharedArrayBuffer)) return null;
    if (pool && pool.memory !== mem) pool = undefined;
    return new EwKernels(heap, pool, mem);
  }

  private run(name: 'ew_unary' | 'ew_binary' | 'ew_binary3' | 'bias_rows' | 'dw_forward' | 'dw_forward9' | 'dw_kgrad' | 'dw_kgrad8' | 'red_sum16', n: number, perUnit: number, args: number[], grain?: number): void {
    if (this.pool && n * perUnit >= PARALLEL_MIN) {
      // A few chunks per thread (a late thread does not stall the rest), multiples of 4 elements.
      this.pool.run(name, n, grain ?? Math.max(1, Math.ceil(n / (this.pool.size * 4) / 4) * 4), args);
      return;
    }
    const f = this.k[name] as (...a: number[]) => void;
    f(...args, 0, 0, n);
  }

  private ptrs(views: readonly Float32Array[]): number[] | null {
    const out: number[] = [];
    for (const v of views) {
      const p = this.heap.offsetOf(v);
      if (p < 0) return null;
      out.push(p);
    }
    return out;
  }

  /** o[0:n] = op(x[0:n]); false when the kernel does not cover this call. */
  unary(op: UnaryOp, x: Float32Array, o: Float32Array, n: number): boolean {
    const code = UNARY_CODES[op];
    if (code === undefined || n < WASM_MIN) return false;
    const p = this.ptrs([x, o]);
    if (!p) return false;
    this.run('ew_unary', n, 1, [code, p[0]!, p[1]!]);
    return true;
  }

  /**
   * o[0:n] = a op b where each operand is either n contiguous elements or one element broadcast
   * (aStride/bStride 1 or 0); false when the kernel does not cover this call.
   */
  binary(op: BinaryOp, a: Float32Array, aStride: 0 | 1, b: Float32Array, bStride: 0 | 1, o: Float32Array, n: number): boolean {
    const code = BINARY_CODES[op];
    if (code === undefined || n < WASM_MIN) return false;
    const p = this.ptrs([a, b, o]);
    if (!p) return false;
    this.run('ew_binary', n, 1, [code, p[0]!, aStride, p[1]!, bStride, p[2]!]);
    return true;
  }

  /**
   * Broadcasting o = a op b (shapes of one rank, as Backend.binary): collapsed to at most three
   * axes whose innermost strides are 0 or 1, rows split over the pool. False when not covered.
   */
  binaryBroadcast(op: BinaryOp, o: Float32Array, a: Float32Array, aShape: readonly number[], b: Float32Array,
    bShape: readonly number[], outShape: readonly number[]): boolean {
    const code = BINARY_CODES[op];
    const n = o.length;
    if (code === undefined || n < WASM_MIN) return false;
    const c = collapse(outShape, [bstrides(aShape, outShape), bstrides(bShape, outShape)]);
    const r = c.shape.length;
    if (r > 3) return false;
    const shape = [...Array<number>(3 - r).fill(1), ...c.shape];
    const [sa, sb] = c.strides.map((st) => [...Array<number>(3 - r).fill(0), ...st]) as [number[], number[]];
    if (sa[2]! > 1 || sb[2]! > 1 || shape[2]! < 16) return false; // short rows: the JS row loop
    const p = this.ptrs([a, b, o]);
    if (!p) return false;
    this.run('ew_binary3', shape[0]! * shape[1]!, shape[2]!, [code, p[0]!, sa[0]!, sa[1]!, sa[2]!, p[1]!, sb[0]!, sb[1]!, sb[2]!, p[2]!, shape[1]!, shape[2]!]);
    return true;
  }

  /**
   * o[i, k] = Σ_j x[i, j, k] over [outer, r, inner] with inner a multiple of 16 (float64 sums in row
   * order, the JS reduce's bits); false when not covered.
   */
  sumMiddle(x: Float32Array, o: Float32Array, outer: number, r: number, inner: number): boolean {
    if (inner % 16 !== 0 || outer * r * inner < WASM_MIN) return false;
    const p = this.ptrs([x, o]);
    if (!p) return false;
    const units = outer * (inner / 16);
    const grain = this.pool ? Math.max(1, Math.ceil(units / (this.pool.size * 2))) : units;
    this.run('red_sum16', units, r * 16, [p[0]!, p[1]!, r, inner], grain);
    return true;
  }

  /** o[r, :] += bias (then ReLU if `relu`) for r < rows; false when not covered. */
  biasRows(o: Float32Array, bias: Float32Array, rows: number, n: number, relu: boolean): boolean {
    if (rows * n < WASM_MIN) return false;
    const p = this.ptrs([o, bias]);
    if (!p) return false;
    this.run('bias_rows', rows, n, [p[0]!, p[1]!, n, relu ? 1 : 0]);
    return true;
  }

  /**
   * Depthwise convolution forward (kernels/conv/cpu.ts `depthwiseForwardCpu` semantics): y [B·H
   * rows of W·C] already holds the bias; K [k, k, C] already flipped when wanted. False when not
   * covered (odd C, operands outside the heap). 9×9 kernels with C a multiple of 16 sum interior
   * pixels in float32 (a few float32 ulps from the JS kernel's float64 sums); the rest as the JS kernel.
   */
  depthwiseForward(x: Float32Array, K: Float32Array, y: Float32Array, B: number, H: number, W: number, C: number, k: number): boolean {
    if (C % 2 !== 0) return false;
    const p = this.ptrs([x, K, y]);
    if (!p) return false;
    if (k === 9 && C % 16 === 0) this.run('dw_forward9', B * H, W * C * k * k, [p[0]!, p[1]!, p[2]!, H, W, C], 1);
    else this.run('dw_forward', B * H, W * C * k * k, [p[0]!, p[1]!, p[2]!, H, W, C, k], 1);
    return true;
  }

  /**
   * Depthwise kernel gradient (`depthwiseKernelGradCpu`): adds Σ g·x into `acc`, float64 [k, k, C]
   * stored in a float32 view of 2·k·k·C elements (8-byte aligned). Channel pairs split over threads.
   */
  depthwiseKernelGrad(x: Float32Array, g: Float32Array, acc: Float32Array, B: number, H: number, W: number, C: number, k: number): boolean {
    if (C % 2 !== 0) return false;
    const p = this.ptrs([x, g, acc]);
    if (!p || p[2]! % 8 !== 0) return false;
    if (k === 9 && C % 8 === 0) {
      // Eight channels per unit, four sums in flight (the same order per channel).
      const units = C / 8;
      const grain = this.pool ? Math.max(1, Math.ceil(units / (this.pool.size * 2))) : units;
      this.run('dw_kgrad8', units, B * H * W * 8 * k * k, [p[0]!, p[1]!, p[2]!, B, H, W, C], grain);
      return true;
    }
    const pairs = C / 2;
    const grain = this.pool ? Math.max(1, Math.ceil(pairs / (this.pool.size * 4))) : pairs;
    this.run('dw_kgrad', pairs, B * H * W * 2 * k * k, [p[0]!, p[1]!, p[2]!, B, H, W, C, k], grain);
    return true;
  }
}
