/**
 * The depthwise 2-D convolution op (kernels/conv) against a float64 reference written here (direct
 * sums with zero padding), forward and the gradients of L = Σ y·R for x, kernel and bias against
 * central finite differences of the reference, on cpu and webgpu; sizes that cross the WGSL
 * workgroups (420 outputs, 84 pixels per reduction) and a kernel wider than the image.
 */
import { describe, expect, it } from 'vitest';
import * as E from '../../src/engine/ops.js';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { depthwiseConv2d } from '../../src/kernels/conv/op.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';

function refConv(x: Float64Array, w: Float64Array, b: Float64Array, [B, H, W, C]: number[], k: number): Float64Array {
  const r = (k - 1) / 2;
  const y = new Float64Array(B * H * W * C);
  for (let n = 0; n < B; n++) for (let h = 0; h < H; h++) for (let q = 0; q < W; q++) for (let c = 0; c < C; c++) {
    let s = b[c]!;
    for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) {
      const hs = h + dy - r;
      const ws = q + dx - r;
      if (hs >= 0 && hs < H && ws >= 0 && ws < W) s += w[(dy * k + dx) * C + c]! * x[((n * H + hs) * W + ws) * C + c]!;
    }
    y[((n * H + h) * W + q) * C + c] = s;
  }
  return y;
}

describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('depthwiseConv2d on $name', ({ get }) => {
  it.each([
    { shape: [2, 7, 6, 5], k: 3 },
    { shape: [1, 3, 4, 2], k: 5 },
    // k = 9 (ConvCNP's width) on an image wider than the kernel: the CPU kernel's unrolled 9-tap path.
    { shape: [1, 10, 11, 3], k: 9 },
  ])('$shape with a $k×$k kernel: forward and gradients against float64 and finite differences', async ({ shape, k }) => {
    const be = await get();
    if (!be) return;
    const rng = Rng.fromSeed(k);
    const C = shape[3]!;
    const rnd = (n: number) => Float64Array.from({ length: n }, () => Math.fround(rng.normal()));
    const n = shape.reduce((a, v) => a * v, 1);
    const x = rnd(n), w = rnd(k * k * C), b = rnd(C), R = rnd(n);
    const [tx, tw, tb, tR] = [E.tensor(x, shape, be), E.tensor(w, [k, k, C], be), E.tensor(b, [C], be), E.tensor(R, shape, be)];
    const y = depthwiseConv2d(tx, tw, tb);
    expect(allclose(await y.data(), refConv(x, w, b, shape, k), 1e-5, 1e-5)).toBeNull();
    y.dispose();
    const { value, grads } = E.valueAndGrad(([a, c, d]) => E.sum(E.mul(depthwiseConv2d(a!, c!, d!), tR)))([tx, tw, tb]);
    const got = await Promise.all(grads.map((g) => g.data()));
    const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => refConv(xx, ww, bb, shape, k).reduce((s, v, i) => s + v * R[i]!, 0);
    const h = 1e-6;
    [x, w, b].forEach((arr, which) => {
      const fd = Float64Array.from(arr, (_, i) => {
        const keep = arr[i]!;
        arr[i] = keep + h;
        const up = loss(x, w, b);
        arr[i] = keep - h;
        const down = loss(x, w, b);
        arr[i] = keep;
        return (up - down) / (2 * h);
      });
      expect(allclose(got[which]!, fd, 1e-4, 1e-4), ['dx', 'dkernel', 'dbias'][which]).toBeNull();
    });
    value.dispose(); grads.forEach((g) => g.dispose());
    [tx, tw, tb, tR].forEach((t) => t.dispose());
  });

  it('shape errors say what is expected', async () => {
    const be = await get();
    if (!be) return;
    const x = E.zeros([1, 4, 4, 3], be);
    const w = E.zeros([2, 2, 3], be);
    const b = E.zeros([3], be);
    expect(() => depthwiseConv2d(x, w, b)).toThrow('depthwiseConv2d: expected x [B, H, W, C], kernel [k, k, C] with odd k, bias [C], got [1,4,4,3], [2,2,3], [3]');
    [x, w, b].forEach((t) => t.dispose());
  });
});
