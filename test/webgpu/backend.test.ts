/** WebGPU backend mechanics: pool reuse, memory accounting, frees, zero-length, dispatch helper. */
import { afterAll, describe, expect, it } from 'vitest';
import { WebGPUShaderError, WebGPUStorageError } from '../../src/engine/webgpu/backend.js';
import { sizeClass } from '../../src/engine/webgpu/pool.js';
import { Params, paramsWgsl } from '../../src/engine/webgpu/wgsl.js';
import { expectClose, gpu } from './util.js';

const be = await gpu();
afterAll(() => be?.destroy());

describe('webgpu size classes', () => {
  it('rounds up by at most 25 %, at least 256 bytes', () => {
    expect(sizeClass(0)).toBe(256);
    expect(sizeClass(256)).toBe(256);
    expect(sizeClass(257)).toBe(320);
    expect(sizeClass(1024)).toBe(1024);
    expect(sizeClass(1025)).toBe(1280);
    for (const b of [300, 5000, 123457, 9999999]) {
      expect(sizeClass(b)).toBeGreaterThanOrEqual(b);
      expect(sizeClass(b)).toBeLessThanOrEqual(b * 1.25);
      expect(sizeClass(b) % 16).toBe(0);
    }
  });
});

describe.skipIf(!be)('webgpu backend mechanics', () => {
  const b = be!;

  it('describes its adapter', () => {
    expect(b.kind).toBe('webgpu');
    expect(b.description.length).toBeGreaterThan(0);
    console.log(`webgpu adapter: ${b.description}`);
  });

  it('pools freed buffers and accounts tensor bytes', async () => {
    const before = b.memory.stats();
    const created = b.pool.created;
    const x = b.alloc(1000);
    expect(b.memory.liveBytes - before.liveBytes).toBe(4000);
    b.free(x);
    expect(b.memory.liveBytes).toBe(before.liveBytes);
    // Same size class (4000 and 3900 bytes both round to 4096): reused, no new GPU buffer.
    const y = b.alloc(975);
    expect(b.pool.created).toBe(created + 1);
    expect(b.memory.liveBytes - before.liveBytes).toBe(3900);
    expect(b.memory.allocations - before.allocations).toBe(2);
    expect(b.memory.largestBytes).toBeGreaterThanOrEqual(4000);
    b.free(y);
    expect(b.memory.liveBytes).toBe(before.liveBytes);
    expect(b.pool.idleBytes).toBeGreaterThanOrEqual(4096);
    // Reading accounts its staging buffer while it exists and frees it.
    const z = b.upload(new Float32Array([1, 2, 3]));
    expect(Array.from(await b.read(z))).toEqual([1, 2, 3]);
    b.free(z);
    expect(b.memory.liveBytes).toBe(before.liveBytes);
  });

  it('a repeated loop gets the same buffers every iteration, so its bind groups are reused', async () => {
    // One "step": allocations and a few dispatches, then frees in an order that a LIFO pool would
    // turn into a permutation of the buffers from one iteration to the next.
    const step = (): number[] => {
      const x = b.upload(new Float32Array(300).fill(1));
      const y = b.unary('exp', x);
      const z = b.unary('neg', y);
      const w = b.binary('add', y, [300], z, [300], [300]);
      const ids = [x, y, z, w].map((s) => (s as unknown as { pooled: { id: number } }).pooled.id);
      for (const s of [y, w, x, z]) b.free(s);
      return ids;
    };
    step();
    const bg0 = b.bindGroupsCreated;
    const first = step();
    const bg1 = b.bindGroupsCreated;
    const second = step();
    const third = step();
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(b.bindGroupsCreated).toBe(bg1);
    expect(bg1 - bg0).toBeLessThanOrEqual(3);
    await b.sync();
  });

  it('over the idle limit the pool evicts the buffers used longest ago, so a running loop keeps its buffers', async () => {
    const { createNodeWebGPUBackend } = await import('../../src/engine/webgpu/node.js');
    const small = (await createNodeWebGPUBackend({ poolLimitBytes: 64 * 1024 })).backend!;
    try {
      // An earlier job leaves 48 KiB of idle 8 KiB buffers behind; the loop needs 48 KiB of 4 KiB ones.
      const old = Array.from({ length: 6 }, () => small.unary('neg', small.upload(new Float32Array(2048))));
      for (const s of old) small.free(s);
      await small.sync();
      const step = (): number[] => {
        const xs = Array.from({ length: 6 }, (_, i) => small.upload(new Float32Array(1000 + i).fill(1)));
        const ys = xs.map((x) => small.unary('exp', x));
        const ids = [...xs, ...ys].map((t) => (t as unknown as { pooled: { id: number } }).pooled.id);
        for (const t of [...ys, ...xs]) small.free(t);
        return ids;
      };
      step();
      step();
      const created = small.pool.created;
      const bg = small.bindGroupsCreated;
      const ids = step();
      for (let i = 0; i < 3; i++) expect(step()).toEqual(ids);
      expect(small.pool.created).toBe(created);
      expect(small.bindGroupsCreated).toBe(bg);
      expect(small.pool.idleBytes).toBeLessThanOrEqual(64 * 1024);
      await small.sync();
    } finally {
      small.destroy();
    }
  });

  it.skipIf(!be?.device.features.has('timestamp-query'))('GPU profile: one timing per dispatch, results unchanged', async () => {
    b.startGpuProfile(2);
    expect(() => b.startGpuProfile()).toThrow(/already running/);
    const x = b.upload(new Float32Array([0, 1, 2]));
    const y = b.unary('exp', x);
    const z = b.unary('neg', y);
    const w = b.unary('neg', z);
    const prof = await b.stopGpuProfile();
    expect(prof.dispatches.map((d) => d.key.split('_')[0])).toEqual(['unary', 'unary']);
    expect(prof.dropped).toBe(1);
    for (const d of prof.dispatches) expect(d.ms >= 0 && d.ms < 1000).toBe(true);
    expectClose(await b.read(w), [1, Math.E, Math.E ** 2], 1e-6);
    await expect(b.stopGpuProfile()).rejects.toThrow(/no profile is running/);
    for (const s of [x, y, z, w]) b.free(s);
  });

  it('freeing twice and use after free throw named errors', () => {
    const x = b.alloc(4);
    b.free(x);
    expect(() => b.free(x)).toThrow(WebGPUStorageError);
    expect(() => b.free(x)).toThrow(/free: storage already freed/);
    expect(() => b.unary('neg', x)).toThrow(/already freed/);
    expect(() => b.free({ length: 1 })).toThrow(/free: expected a webgpu storage/);
  });

  it('zero-length storage: alloc, upload, read, kernels', async () => {
    const e = b.upload(new Float32Array(0));
    expect((await b.read(e)).length).toBe(0);
    expect((await b.read(b.unary('exp', e))).length).toBe(0);
    expect((await b.read(b.matmul(e, e, { batch: 1, m: 0, k: 3, n: 0, transA: false, transB: false, strideA: 0, strideB: 0 }))).length).toBe(0);
    expect((await b.read(b.reduce('sum', e, 0, 4, 1))).length).toBe(0);
    b.free(e);
  });

  it('a recycled buffer uploaded to does not disturb pending work that read the old contents', async () => {
    const x = b.upload(new Float32Array([1, 2, 3, 4]));
    const y = b.unary('neg', x); // recorded, not submitted
    b.free(x);
    const z = b.upload(new Float32Array([9, 9, 9, 9])); // reuses x's buffer
    expect(Array.from(await b.read(y))).toEqual([-1, -2, -3, -4]);
    expect(Array.from(await b.read(z))).toEqual([9, 9, 9, 9]);
  });

  it('many dispatches per submission and more than 65535 workgroups', async () => {
    let x = b.fill(10, 0);
    const one = b.fill(10, 1);
    for (let i = 0; i < 1500; i++) {
      const nx = b.binary('add', x, [10], one, [10], [10]);
      b.free(x);
      x = nx;
    }
    expect(Array.from(await b.read(x))).toEqual(new Array(10).fill(1500));
    const n = 65536 * 256 + 300; // 65538 workgroups of 256 → 2-D grid
    const big = b.fill(n, 2);
    const s = b.reduce('sum', big, 1, n, 1);
    expect((await b.read(s))[0]).toBe(2 * n);
    const tail = b.strided(big, [3], [1], n - 3);
    expect(Array.from(await b.read(tail))).toEqual([2, 2, 2]);
    b.free(big);
  });

  it('dispatch helper: custom kernel with storage bindings and a uniform block', async () => {
    const x = b.upload(new Float32Array([1, 2, 3, 4, 5]));
    const y = b.alloc(5);
    const p = new Params().u32(5).f32(10);
    b.dispatch('test_axpb', () => `${paramsWgsl(2, 2)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < pu(0u)) { Y[g.x] = X[g.x] * 2.0 + pf(1u); }
}`, [x, y], ['read', 'read_write'], p.buffer(), [1, 1, 1]);
    expect(Array.from(await b.read(y))).toEqual([12, 14, 16, 18, 20]);
    expect(b.buffer(y).size).toBeGreaterThanOrEqual(20);
  });

  it('a WGSL compile error is thrown by the next sync with messages and source', async () => {
    const y = b.alloc(1);
    b.dispatch('test_broken', () => `@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(1) fn main() { Y[0] = undefined_thing; }`, [y], ['read_write'], null, [1, 1, 1]);
    const err = await b.sync().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WebGPUShaderError);
    expect(String(err)).toMatch(/kernel 'test_broken' failed to compile/);
    expect(String(err)).toMatch(/undefined_thing/);
    // The backend stays usable.
    expect(Array.from(await b.read(b.fill(2, 3)))).toEqual([3, 3]);
  });
});
