/**
 * CPU matmul: C[batch, m, n] = op(A) · op(B) (MatmulArgs in engine/backend.ts), on the WebAssembly
 * SIMD kernels of wasm/matmul.c, optionally split across a thread pool.
 *
 * Operands that live in a shared heap (heap.ts) are used in place. Anything else (plain
 * Float32Arrays, or views of another memory than the pool's) is copied into the kernels' memory for
 * the call: O(mk + kn + mn) copies against O(mkn) work. Per call, one scratch block holds packed B
 * (all batch entries, NR-column panels) and each thread's packed-A buffer.
 *
 * Two parallel phases: pack B (units = batch entry × panel), then multiply (units = batch entry ×
 * block of `mu` rows of C). `matmulReference` is the plain JS reference kept for tests.
 */
import type { MatmulArgs } from '../backend.js';
import { createHeap, heapOf, HEAP_RESERVED_BYTES, type CpuHeap } from './heap.js';
import type { ThreadPool } from './threads.js';
import { kernelsFor, type KernelExports } from './wasm/kernels.js';

/** Largest block of C rows one unit handles (packed A: MC × KC floats, in L2). */
const MC = 144;
/** Units per thread the row split aims for, so that a late thread does not stall the rest. */
const UNITS_PER_THREAD = 3;
/** Packed-B floats below which packing stays on the calling thread (packing is memory-bound). */
const PARALLEL_PACK_MIN = 1 << 18;
/** Multiply-adds below which the pool is not woken (a wake-up costs microseconds). */
const PARALLEL_MIN_MACS = 1 << 18;

export class MatmulError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MatmulError';
  }
}

/** Floats of `x` an operand needs: (batch − 1)·stride + rows·cols. */
function extent(batch: number, stride: number, size: number): number {
  return (batch - 1) * stride + size;
}

function check(a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs): void {
  const { batch, m, k, n, strideA, strideB } = args;
  for (const [name, v] of Object.entries({ batch, m, k, n, strideA, strideB })) {
    if (!Number.isInteger(v) || v < 0) throw new MatmulError(`matmul: expected ${name} to be a non-negative integer, got ${v}`);
  }
  if (batch === 0 || m === 0 || n === 0) return;
  const needA = extent(batch, strideA, m * k);
  const needB = extent(batch, strideB, k * n);
  if (a.length < needA) throw new MatmulError(`matmul: expected a of at least ${needA} elements, got ${a.length}`);
  if (b.length < needB) throw new MatmulError(`matmul: expected b of at least ${needB} elements, got ${b.length}`);
  if (out.length < batch * m * n) throw new MatmulError(`matmul: expected out of at least ${batch * m * n} elements, got ${out.length}`);
}

/** Validates; handles empty products (nothing to write, or zeros when k = 0). True when done. */
function trivial(a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs): boolean {
  check(a, b, out, args);
  const { batch, m, k, n } = args;
  if (batch === 0 || m === 0 || n === 0) return true;
  if (k > 0) return false;
  out.fill(0, 0, batch * m * n);
  return true;
}

/** Private kernel memory for operands outside any shared heap (lazily created). */
let privateHeap: CpuHeap | null = null;
let plainMemory: WebAssembly.Memory | null = null;

/**
 * Writes op(A)·op(B) into `out` ([batch, m, n], preallocated, overwritten).
 *
 * **Arguments**
 * - `a`: [batch][m][k], or [batch][k][m] when `transA`; batch entries `strideA` apart (0 = shared).
 * - `b`: [batch][k][n], or [batch][n][k] when `transB`; batch entries `strideB` apart.
 * - `out`: [batch][m][n]; must not overlap `a` or `b`.
 * - `pool`: optional thread pool; its memory must be a shared heap's (createHeap()), else ignored.
 */
export function matmul(a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs,
  pool?: ThreadPool): void {
  if (trivial(a, b, out, args)) return;
  if (pool && args.batch * args.m * args.k * args.n < PARALLEL_MIN_MACS) pool = undefined;
  let heap = pool ? heapOf(pool.memory) : heapOf(out) ?? heapOf(a);
  if (!heap) pool = undefined;
  if (!heap && typeof SharedArrayBuffer !== 'undefined') heap = privateHeap ??= createHeap();
  if (heap?.memory) runShared(heap, a, b, out, args, pool);
  else runPlain(a, b, out, args);
}

interface Plan {
  /** Float offsets (from the block start) of the temporaries; -1 = operand used in place. */
  aCopy: number;
  bCopy: number;
  cTemp: number;
  packB: number;
  scratch: number;
  scratchStride: number;
  total: number;
  mu: number;
  threads: number;
}

function plan(kern: KernelExports, args: MatmulArgs, threads: number, copyA: boolean, copyB: boolean,
  copyC: boolean): Plan {
  const { batch, m, k, n, strideA, strideB } = args;
  const mr = kern.micro_rows();
  const round = (x: number, q: number): number => Math.ceil(x / q) * q;
  const splits = threads > 1 ? Math.ceil((UNITS_PER_THREAD * threads) / batch) : 1;
  const mu = Math.min(MC, round(Math.ceil(m / splits), mr));
  const scratchStride = round(kern.scratch_floats(mu), 16);
  const batchB = strideB === 0 ? 1 : batch;
  let total = 0;
  const take = (floats: number): number => {
    const at = total;
    total += round(floats, 16);
    return at;
  };
  const aCopy = copyA ? take(extent(batch, strideA, m * k)) : -1;
  const bCopy = copyB ? take(extent(batch, strideB, k * n)) : -1;
  const cTemp = copyC ? take(batch * m * n) : -1;
  const nr = kern.panel_cols();
  const packB = take(batchB * Math.ceil(n / nr) * nr * k);
  const scratch = take(threads * scratchStride);
  return { aCopy, bCopy, cTemp, packB, scratch, scratchStride, total, mu, threads };
}

/**
 * Runs both phases on byte pointers into `kern`'s memory.
 * `pa`, `pb`, `pc`: operands; `base`: byte address of the plan's block.
 */
function execute(kern: KernelExports, pool: ThreadPool | undefined, p: Plan, args: MatmulArgs,
  pa: number, pb: number, pc: number, base: number): void {
  const { batch, m, k, n, transA, transB, strideA, strideB } = args;
  const nr = kern.panel_cols();
  const npanels = Math.ceil(n / nr);
  const batchB = strideB === 0 ? 1 : batch;
  const packB = base + p.packB * 4;
  const scratch = base + p.scratch * 4;
  const packUnits = batchB * npanels;
  const packArgs = [pb, packB, k, n, transB ? 1 : 0, strideB];
  if (pool && packUnits * k * nr >= PARALLEL_PACK_MIN) {
    pool.run('pack_b', packUnits, Math.ceil(packUnits / (4 * pool.size)), packArgs);
  } else {
    kern.pack_b(pb, packB, k, n, transB ? 1 : 0, strideB, 0, 0, packUnits);
  }
  const units = batch * Math.ceil(m / p.mu);
  const stridePackedB = strideB === 0 ? 0 : npanels * nr * k;
  if (pool && units > 1) {
    pool.run('matmul_rows', units, 1, [pa, packB, pc, m, k, n, transA ? 1 : 0, strideA, stridePackedB, p.mu,
      scratch, p.scratchStride]);
  } else {
    kern.matmul_rows(pa, packB, pc, m, k, n, transA ? 1 : 0, strideA, stridePackedB, p.mu, scratch,
      p.scratchStride, 0, 0, units);
  }
}

function runShared(heap: CpuHeap, a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs,
  pool: ThreadPool | undefined): void {
  const memory = heap.memory!;
  const kern = kernelsFor(memory);
  const offA = heap.offsetOf(a);
  const offB = heap.offsetOf(b);
  const offC = heap.offsetOf(out);
  const p = plan(kern, args, pool?.size ?? 1, offA < 0, offB < 0, offC < 0);
  const block = heap.alloc(p.total);
  try {
    const base = block.byteOffset;
    const { batch, m, k, n, strideA, strideB } = args;
    if (offA < 0) block.set(a.subarray(0, extent(batch, strideA, m * k)), p.aCopy);
    if (offB < 0) block.set(b.subarray(0, extent(batch, strideB, k * n)), p.bCopy);
    execute(kern, pool, p, args, offA < 0 ? base + p.aCopy * 4 : offA, offB < 0 ? base + p.bCopy * 4 : offB,
      offC < 0 ? base + p.cTemp * 4 : offC, base);
    if (offC < 0) out.set(block.subarray(p.cTemp, p.cTemp + batch * m * n));
  } finally {
    heap.free(block);
  }
}

/**
 * No SharedArrayBuffer (browser without cross-origin isolation): copies through a private,
 * growable plain memory. Exported for tests, which cannot switch SharedArrayBuffer off.
 */
export function runPlain(a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs): void {
  if (trivial(a, b, out, args)) return;
  const memory = plainMemory ??= new WebAssembly.Memory({ initial: 2, maximum: 65536 });
  const kern = kernelsFor(memory);
  const p = plan(kern, args, 1, true, true, true);
  const base = HEAP_RESERVED_BYTES;
  const need = base + p.total * 4;
  if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  const block = new Float32Array(memory.buffer, base, p.total);
  const { batch, m, k, n, strideA, strideB } = args;
  block.set(a.subarray(0, extent(batch, strideA, m * k)), p.aCopy);
  block.set(b.subarray(0, extent(batch, strideB, k * n)), p.bCopy);
  execute(kern, undefined, p, args, base + p.aCopy * 4, base + p.bCopy * 4, base + p.cTemp * 4, base);
  out.set(block.subarray(p.cTemp, p.cTemp + batch * m * n));
}

/** Plain JS reference (accumulates in float64). */
export function matmulReference(a: Float32Array, b: Float32Array, out: Float32Array, args: MatmulArgs): void {
  const { batch, m, k, n, transA, transB, strideA, strideB } = args;
  for (let p = 0; p < batch; p++) {
    const oa = p * strideA;
    const ob = p * strideB;
    const oc = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let l = 0; l < k; l++) {
          s += a[oa + (transA ? l * m + i : i * k + l)]! * b[ob + (transB ? j * k + l : l * n + j)]!;
        }
        out[oc + i * n + j] = s;
      }
    }
  }
}
