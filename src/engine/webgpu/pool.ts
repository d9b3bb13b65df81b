/**
 * Size-class pool of GPU storage buffers (style.md: "Pool buffers by size"; cf. TF
 * `buffer_manager.ts`, JJ `#bufferPool`).
 *
 * Size classes: at least 256 bytes; above that, four classes per power of two (1, 1.25, 1.5,
 * 1.75 × 2^k), so a buffer is at most 25 % larger than asked for.
 *
 * Memory accounting (engine/memory.ts), our choice: every `acquire` records an allocation of the
 * *requested* bytes (4·length), whether the buffer was created or reused from the pool, and every
 * `release` records the matching free. So `liveBytes`, `peakBytes` and `largestBytes` describe
 * tensors exactly as on the CPU backend (engine-level memory tests hold on both), and a [Q, K]
 * tensor shows up as such. What the device really holds is reported separately: `deviceBytes`
 * (all pool buffers alive, rounded up to their class, idle ones included) and `idleBytes`.
 *
 * Reuse order: `acquire` takes the idle buffer of the class with the lowest id (a min-heap), so which
 * buffer a tensor gets depends only on the *set* of idle buffers, not on the order they were
 * released. A loop that repeats the same allocations (a training step, a chunk of test points)
 * then gets the same buffers every iteration, and the backend's bind-group cache hits. (A LIFO
 * stack permutes the buffers from one iteration to the next: 755 of 865 dispatches of a training
 * step created a new bind group, each costing tens of µs in Dawn.)
 *
 * A buffer recorded into the not-yet-submitted command encoder must not be destroyed, and must not
 * be overwritten by `queue.writeBuffer` (which runs before that encoder): each buffer carries the
 * epoch (submission number) of its last use, and the backend flushes before either when needed.
 */

import type { MemoryAccount } from '../memory.js';

export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
  /** Submission epoch in which a dispatch last used this buffer (0 = never). */
  lastUse: number;
  /** Unique id (bind-group cache keys). */
  readonly id: number;
  /** A storage holds it (between `acquire` and `release`). */
  held: boolean;
  /**
   * Recorded steps (backend `endCapture`) that reserve it: while above 0 it stays out of the idle
   * lists, so no other allocation gets it while a recording may overwrite it.
   */
  reserved: number;
  /** Used by a step being captured: never destroyed by eviction until the capture ends. */
  pinned: boolean;
  /** Destroyed (a recording that still refers to it cannot replay). */
  destroyed: boolean;
}

let nextId = 1;

/** Binary min-heap of buffers by id. */
class IdHeap {
  readonly items: PooledBuffer[] = [];

  push(b: PooledBuffer): void {
    const a = this.items;
    let i = a.push(b) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.id <= b.id) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = b;
  }

  /** Removes `b` (O(n); only for evictions). */
  remove(b: PooledBuffer): void {
    const rest = this.items.filter((x) => x !== b);
    this.items.length = 0;
    for (const x of rest) this.push(x);
  }

  pop(): PooledBuffer | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && a[l + 1]!.id < a[l]!.id ? l + 1 : l;
      if (a[c]!.id >= last.id) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

const MIN_CLASS = 256;
const STORAGE_USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST

/** The size class (bytes) that holds `bytes`. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const p = 2 ** Math.floor(Math.log2(bytes - 1));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private idle = new Map<number, IdHeap>();
  /** Bytes held by idle (free, reusable) buffers. */
  idleBytes = 0;
  /** Bytes of every pool buffer not yet destroyed (live and idle, at class size). */
  deviceBytes = 0;
  /** Buffers ever created (for tests of reuse). */
  created = 0;

  /**
   * **Arguments**: `beforeDestroy(b)` is called before a buffer is destroyed (the backend flushes
   * pending work that uses it); `limitBytes` caps the idle bytes kept for reuse.
   */
  constructor(private device: GPUDevice, private memory: MemoryAccount,
    private beforeDestroy: (b: PooledBuffer) => void, private limitBytes: number,
    private maxBufferSize: number) {}

  acquire(bytes: number): PooledBuffer {
    let size = sizeClass(bytes);
    if (size > this.maxBufferSize) size = Math.ceil(bytes / 16) * 16;
    const list = this.idle.get(size);
    let b = list?.pop();
    if (b) {
      this.idleBytes -= size;
    } else {
      b = { buffer: this.device.createBuffer({ size, usage: STORAGE_USAGE }), bytes: size, lastUse: 0, id: nextId++, held: false, reserved: 0, pinned: false, destroyed: false };
      this.created++;
      this.deviceBytes += size;
    }
    this.memory.recordAlloc(bytes);
    b.held = true;
    return b;
  }

  /** Returns a buffer acquired for `bytes` requested bytes. */
  release(b: PooledBuffer, bytes: number): void {
    this.memory.recordFree(bytes);
    b.held = false;
    if (b.reserved === 0) this.putIdle(b);
  }

  /** Takes `b` out of circulation (counted): an idle one leaves the idle lists, a held one will not enter them. */
  reserve(b: PooledBuffer): void {
    if (b.reserved++ > 0) return;
    if (!b.held) {
      this.idle.get(b.bytes)!.remove(b);
      this.idleBytes -= b.bytes;
    }
  }

  /** Ends one `reserve`: after the last, an unheld buffer becomes idle again. */
  unreserve(b: PooledBuffer): void {
    if (b.reserved === 0 || --b.reserved > 0) return;
    if (!b.held) this.putIdle(b);
  }

  private putIdle(b: PooledBuffer): void {
    if (b.bytes > this.limitBytes && !b.pinned) {
      this.destroy(b);
      return;
    }
    // Over the idle limit: evict the idle buffers used longest ago (e.g. a large inference's, when
    // training follows), not the one just released. Destroying the buffers of the loop that is
    // running would make every iteration create new ones, with new bind groups. Pinned buffers
    // (a step being captured) are never evicted.
    while (this.idleBytes + b.bytes > this.limitBytes) {
      let victim: PooledBuffer | null = null;
      let heap: IdHeap | null = null;
      for (const h of this.idle.values()) {
        for (const x of h.items) if (!x.pinned && (victim === null || x.lastUse < victim.lastUse)) { victim = x; heap = h; }
      }
      if (victim === null || (victim.lastUse > b.lastUse && !b.pinned)) {
        if (b.pinned) break;
        this.destroy(b);
        return;
      }
      heap!.remove(victim);
      this.idleBytes -= victim.bytes;
      this.destroy(victim);
    }
    let list = this.idle.get(b.bytes);
    if (!list) this.idle.set(b.bytes, (list = new IdHeap()));
    list.push(b);
    this.idleBytes += b.bytes;
  }

  private destroy(b: PooledBuffer): void {
    this.beforeDestroy(b);
    b.destroyed = true;
    b.buffer.destroy();
    this.deviceBytes -= b.bytes;
  }

  /** Destroys every idle buffer (the backend flushes first). */
  trim(): void {
    for (const list of this.idle.values()) for (const b of list.items) this.destroy(b);
    this.idle.clear();
    this.idleBytes = 0;
  }
}
