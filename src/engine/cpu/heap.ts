/**
 * CPU heap: the float32 storage the CPU backend hands out.
 *
 * When the platform allows it (SharedArrayBuffer + wasm threads: Node, cross-origin-isolated
 * browsers) every view lives inside one shared `WebAssembly.Memory`, so the wasm matmul kernel and
 * worker threads read and write it without copying. Shared memory never detaches on grow, so views
 * handed out earlier stay valid. Elsewhere the heap falls back to plain `Float32Array`s and matmul
 * copies operands into its private wasm memory.
 *
 * Allocation uses size classes (4 per power of two, 64-byte aligned blocks) with free lists, so a
 * freed block is reused by the next allocation of the same class.
 */

export interface CpuHeap {
  /** A view of n float32s (n may be 0); contents undefined (reused blocks keep old values). */
  alloc(n: number): Float32Array;
  /** Returns a view obtained from `alloc` (the exact same object or an identical view). */
  free(view: Float32Array): void;
  /** The shared memory backing every view, or null for the plain-JS fallback. */
  readonly memory: WebAssembly.Memory | null;
  /** Byte offset of a view inside `memory` if it lives there, else -1. */
  offsetOf(view: Float32Array): number;
  /** Bytes currently reserved from the memory (high-water mark of the bump pointer). */
  readonly reservedBytes: number;
}

export class HeapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeapError';
  }
}

const PAGE = 65536;
const MAX_PAGES = 65536;
const ALIGN = 64;
/** Bytes at the start of the memory kept for the wasm module's own use (stack, scratch offsets). */
export const HEAP_RESERVED_BYTES = 1 << 16;

/** True when a shared `WebAssembly.Memory` can be created here. */
export function sharedMemorySupported(): boolean {
  try {
    if (typeof SharedArrayBuffer === 'undefined' || typeof WebAssembly === 'undefined') return false;
    const m = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
    return m.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

/** Size class of a byte count: 4 classes per power of two, at least ALIGN bytes. */
function sizeClass(bytes: number): { cls: number; size: number } {
  if (bytes <= ALIGN) return { cls: 0, size: ALIGN };
  const p = 31 - Math.clz32(bytes - 1); // 2^p < bytes <= 2^(p+1)
  const step = Math.max(ALIGN, 2 ** (p - 1)); // quarter of 2^(p+1)
  const size = Math.ceil(bytes / step) * step;
  return { cls: p * 4 + Math.round(size / step), size };
}

/** Shared memories and every buffer object they exposed, to the heap that owns them. */
const owners = new WeakMap<object, CpuHeap>();

/** The shared heap whose memory holds `view` (or that owns `memory`), or null. */
export function heapOf(x: Float32Array | WebAssembly.Memory): CpuHeap | null {
  return owners.get(x instanceof WebAssembly.Memory ? x : x.buffer) ?? null;
}

class SharedHeap implements CpuHeap {
  readonly memory: WebAssembly.Memory;
  private top = HEAP_RESERVED_BYTES;
  private readonly freeLists = new Map<number, number[]>();
  /** Live blocks: byte offset -> block size (to validate frees and catch double frees). */
  private readonly live = new Map<number, number>();
  /** Every SharedArrayBuffer object the memory has exposed (a new one after each grow). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  constructor(initialBytes: number) {
    const pages = Math.max(2, Math.ceil(initialBytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    this.buffers.add(this.memory.buffer);
    owners.set(this.memory, this);
    owners.set(this.memory.buffer, this);
  }

  get reservedBytes(): number {
    return this.top;
  }

  alloc(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new HeapError(`heap.alloc: expected a non-negative integer, got ${n}`);
    const { cls, size } = sizeClass(n * 4);
    let offset = this.freeLists.get(cls)?.pop();
    if (offset === undefined) {
      offset = this.top;
      const end = offset + size;
      if (end > MAX_PAGES * PAGE) {
        throw new HeapError(`heap.alloc: out of memory allocating ${n} floats (4 GiB wasm32 limit)`);
      }
      const have = this.memory.buffer.byteLength;
      if (end > have) {
        // Grow geometrically to keep the number of grows (and buffer objects) small.
        const want = Math.min(MAX_PAGES, Math.max(Math.ceil(end / PAGE), Math.ceil((have * 1.5) / PAGE)));
        this.memory.grow(want - have / PAGE);
        this.buffers.add(this.memory.buffer);
        owners.set(this.memory.buffer, this);
      }
      this.top = end;
    }
    this.live.set(offset, size);
    return new Float32Array(this.memory.buffer, offset, n);
  }

  free(view: Float32Array): void {
    const offset = this.offsetOf(view);
    const size = offset < 0 ? undefined : this.live.get(offset);
    if (size === undefined) throw new HeapError('heap.free: view was not allocated by this heap or was already freed');
    this.live.delete(offset);
    const { cls } = sizeClass(size);
    let list = this.freeLists.get(cls);
    if (!list) this.freeLists.set(cls, (list = []));
    list.push(offset);
  }

  offsetOf(view: Float32Array): number {
    return this.buffers.has(view.buffer) ? view.byteOffset : -1;
  }
}

class PlainHeap implements CpuHeap {
  readonly memory = null;
  readonly reservedBytes = 0;
  private readonly live = new WeakSet<Float32Array>();
  private readonly pool = new Map<number, Float32Array[]>();

  alloc(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new HeapError(`heap.alloc: expected a non-negative integer, got ${n}`);
    const v = this.pool.get(n)?.pop() ?? new Float32Array(n);
    this.live.add(v);
    return v;
  }

  free(view: Float32Array): void {
    if (!this.live.has(view)) throw new HeapError('heap.free: view was not allocated by this heap or was already freed');
    this.live.delete(view);
    let list = this.pool.get(view.length);
    if (!list) this.pool.set(view.length, (list = []));
    list.push(view);
  }

  offsetOf(): number {
    return -1;
  }
}

export interface HeapOptions {
  /** Force the plain-JS fallback even when shared memory is available. */
  plain?: boolean;
  /** Initial size of the shared memory in bytes (default 16 MiB). */
  initialBytes?: number;
}

/** A heap in shared wasm memory when supported, else plain `Float32Array`s. */
export function createHeap(options: HeapOptions = {}): CpuHeap {
  if (!options.plain && sharedMemorySupported()) return new SharedHeap(options.initialBytes ?? 16 << 20);
  return new PlainHeap();
}
