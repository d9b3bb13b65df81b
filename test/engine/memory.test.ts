/** Ownership and error behaviour of the engine: no leaks, named errors, use-after-free. */
import { describe, expect, it } from 'vitest';
import * as E from '../../src/engine/ops.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import { DisposedTensorError, ShapeError } from '../../src/engine/tensor.js';
import { Rng } from '../../src/engine/random.js';

describe('engine ownership', () => {
  it('valueAndGrad frees every intermediate and the tape', () => {
    const b = new CpuBackend();
    const rng = Rng.fromSeed(3);
    const w = E.randomNormal([8, 16], rng, b);
    const x = E.randomNormal([4, 8], rng, b);
    const g = E.ones([16], b);
    const z = E.zeros([16], b);
    const before = b.memory.liveBytes;
    for (let step = 0; step < 3; step++) {
      const { value, grads } = E.valueAndGrad(([w0, g0]) => {
        const h = E.gelu(E.matmul(x, w0!));
        const n = E.layerNorm(h, g0!, z);
        return E.mean(E.square(E.softmax(n)));
      })([w, g]);
      // Only the value and the two gradients remain.
      expect(b.memory.liveBytes - before).toBe(4 * (1 + 8 * 16 + 16));
      value.dispose();
      grads.forEach((t) => t.dispose());
      expect(b.memory.liveBytes).toBe(before);
    }
  });

  it('tidy disposes what it does not return', () => {
    const b = new CpuBackend();
    const before = b.memory.liveBytes;
    const kept = E.tidy(() => {
      const a = E.ones([3], b);
      return E.add(E.mul(a, 2), 1);
    });
    expect(b.memory.liveBytes - before).toBe(12);
    expect(Array.from(kept.dataSync())).toEqual([3, 3, 3]);
    kept.dispose();
    expect(b.memory.liveBytes).toBe(before);
  });

  it('using a disposed tensor is a named error', () => {
    const b = new CpuBackend();
    const a = E.ones([2, 3], b);
    a.dispose();
    expect(() => E.exp(a)).toThrow(DisposedTensorError);
    expect(() => E.exp(a)).toThrow(/exp: tensor of shape \[2, 3\] was already disposed/);
    expect(() => a.dataSync()).toThrow(/already disposed/);
    a.dispose(); // idempotent
  });

  it('reshape aliases keep the buffer alive until the last handle goes', () => {
    const b = new CpuBackend();
    const before = b.memory.liveBytes;
    const a = E.tensor([1, 2, 3, 4], [2, 2], b);
    const r = E.reshape(a, [4]);
    a.dispose();
    expect(Array.from(r.dataSync())).toEqual([1, 2, 3, 4]);
    r.dispose();
    expect(b.memory.liveBytes).toBe(before);
  });
});

describe('shape errors name the op and the shapes', () => {
  const b = new CpuBackend();
  it.each([
    ['matmul', () => E.matmul(E.ones([2, 3], b), E.ones([4, 5], b)), /matmul: inner dimensions differ: \[2, 3\] · \[4, 5\]/],
    ['add', () => E.add(E.ones([2, 3], b), E.ones([4], b)), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/],
    ['reshape', () => E.reshape(E.ones([2, 3], b), [4]), /reshape: cannot reshape \[2, 3\] \(6 values\) to \[4\]/],
    ['concat', () => E.concat([E.ones([2, 3], b), E.ones([3, 3], b)], 1), /concat: shapes \[2, 3\], \[3, 3\] differ outside axis 1/],
    ['slice', () => E.slice(E.ones([2, 3], b), [0, 2], [1, 2]), /slice: range \[2, 4\) out of bounds for axis 1 of \[2, 3\]/],
    ['layerNorm', () => E.layerNorm(E.ones([2, 3], b), E.ones([4], b), E.ones([3], b)), /layerNorm: expected scale and offset of size 3/],
    ['tensor', () => E.tensor([1, 2, 3], [2, 2], b), /tensor: expected 4 values for shape \[2, 2\], got 3/],
    ['transpose', () => E.transpose(E.ones([2, 3], b), [0, 0]), /transpose: expected a permutation of 2 axes/],
    ['sum', () => E.sum(E.ones([2, 3], b), 2), /sum: axis 2 out of range for rank 2/],
    ['gaussianNll', () => E.gaussianNll(E.ones([2], b), E.ones([3], b), E.ones([2], b)), /gaussianNll: expected f, mean and std of one shape/],
  ])('%s', (_name, fn, re) => {
    expect(fn).toThrow(ShapeError);
    expect(fn).toThrow(re);
  });
});

describe('random numbers', () => {
  it('are reproducible, uniform in (0,1) and normal with the right moments', () => {
    const b = new CpuBackend();
    const u = E.randomUniform([20000], Rng.fromSeed(7), b).dataSync();
    const u2 = E.randomUniform([20000], Rng.fromSeed(7), b).dataSync();
    expect(u).toEqual(u2);
    expect(Math.min(...u)).toBeGreaterThan(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const mu = u.reduce((s, x) => s + x, 0) / u.length;
    expect(Math.abs(mu - 0.5)).toBeLessThan(0.01); // sd of the mean ≈ 0.002
    const n = E.randomNormal([20000], Rng.fromSeed(8), b).dataSync();
    const m = n.reduce((s, x) => s + x, 0) / n.length;
    const v = n.reduce((s, x) => s + (x - m) ** 2, 0) / n.length;
    expect(Math.abs(m)).toBeLessThan(0.03); // sd ≈ 0.007
    expect(Math.abs(v - 1)).toBeLessThan(0.05); // sd ≈ 0.01
  });
});
