// CPU heap (src/engine/cpu/heap.ts): shared-memory views, reuse of freed blocks, growth keeping old
// views valid, double-free detection, and the plain-JS fallback.
import { describe, expect, it } from 'vitest';
import { createHeap, heapOf, HeapError, sharedMemorySupported } from '../../src/engine/cpu/heap.js';

describe('cpu heap', () => {
  it('allocates 64-byte aligned views inside one shared memory', () => {
    expect(sharedMemorySupported()).toBe(true);
    const heap = createHeap({ initialBytes: 1 << 16 });
    expect(heap.memory?.buffer).toBeInstanceOf(SharedArrayBuffer);
    const views = [0, 1, 17, 1000, 4096].map((n) => heap.alloc(n));
    for (const v of views) {
      expect(v.byteOffset % 64).toBe(0);
      expect(heap.offsetOf(v)).toBe(v.byteOffset);
      expect(heapOf(v)).toBe(heap);
    }
    expect(views.map((v) => v.length)).toEqual([0, 1, 17, 1000, 4096]);
    expect(heap.offsetOf(new Float32Array(4))).toBe(-1);
    expect(heapOf(new Float32Array(4))).toBeNull();
  });

  it('reuses a freed block for the next allocation of the same size class', () => {
    const heap = createHeap({ initialBytes: 1 << 16 });
    const a = heap.alloc(1000);
    const offset = a.byteOffset;
    heap.free(a);
    const reserved = heap.reservedBytes;
    const b = heap.alloc(990); // same size class as 1000
    expect(b.byteOffset).toBe(offset);
    expect(heap.reservedBytes).toBe(reserved);
    const c = heap.alloc(1000); // a is taken: new block
    expect(c.byteOffset).not.toBe(offset);
  });

  it('keeps earlier views valid when the memory grows', () => {
    const heap = createHeap({ initialBytes: 1 << 16 });
    const first = heap.alloc(100);
    first.fill(3);
    const big = heap.alloc(1 << 22); // 16 MiB: grows the memory
    big.fill(1);
    expect(first.every((x) => x === 3)).toBe(true);
    expect(heapOf(first)).toBe(heap);
    expect(heapOf(big)).toBe(heap);
    heap.free(first); // a view from before the grow can still be freed
  });

  it('throws on double free and on foreign views', () => {
    const heap = createHeap();
    const v = heap.alloc(8);
    heap.free(v);
    expect(() => heap.free(v)).toThrowError(HeapError);
    expect(() => heap.free(new Float32Array(8))).toThrowError(/heap.free: view was not allocated by this heap/);
    expect(() => heap.alloc(-1)).toThrowError(/heap.alloc: expected a non-negative integer, got -1/);
  });

  it('falls back to plain Float32Arrays, reusing freed arrays of the same length', () => {
    const heap = createHeap({ plain: true });
    expect(heap.memory).toBeNull();
    const a = heap.alloc(10);
    expect(a.buffer).toBeInstanceOf(ArrayBuffer);
    heap.free(a);
    expect(heap.alloc(10)).toBe(a);
    expect(() => heap.free(new Float32Array(10))).toThrowError(HeapError);
  });
});
