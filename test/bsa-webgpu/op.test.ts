/**
 * The differentiable engine op `biasedScanAttention` on the WebGPU backend: value and gradients
 * (q, k, v and every bias parameter) through `valueAndGrad`, against the same op on the CPU backend.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as E from '../../src/engine/ops.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { biasedScanAttention, type ScanGroup } from '../../src/kernels/bsa/op.js';
import { cpuBackend } from '../helpers/backends.js';
import { makeProblem, randomF32, relErr } from '../bsa/helpers.js';
import { gpu } from './helpers.js';

async function lossAndGrads(be: Backend): Promise<Float32Array[]> {
  const { desc, data } = makeProblem({ B: 2, H: 2, Q: 13, K: 11, d: 8, dv: 8, maskFrac: 0.2, seed: 5,
    groups: [{ M: 2, distance: 'euclidean', family: 'tisa', F: 2 }, { M: 1, distance: 'euclidean', family: 'rbf', F: 3 }] });
  const T = (a: Float32Array, shape: number[]): Tensor => E.tensor(a, shape, be);
  const { B, H, Q, K, d, dv } = desc;
  const q = T(data.q, [B, H, Q, d]), k = T(data.k, [B, H, K, d]), v = T(data.v, [B, H, K, dv]);
  const mask = T(data.mask!, [B, K]);
  const fixed = desc.groups.map((g, i) => ({ cq: T(data.groups[i]!.cq, [B, Q, g.M]), ck: T(data.groups[i]!.ck, [B, K, g.M]) }));
  const params: Tensor[] = [q, k, v];
  desc.groups.forEach((g, i) => {
    const gd = data.groups[i]!;
    params.push(T(gd.a, [H, g.F]), T(gd.b!, [H, g.F]));
    if (gd.c) params.push(T(gd.c, [H, g.F]));
  });
  const w = T(randomF32(B * H * Q * dv, 77), [B, H, Q, dv]);
  const { value, grads } = E.valueAndGrad((ps: Tensor[]) => {
    const groups: ScanGroup[] = [
      { family: 'tisa', distance: 'euclidean', ...fixed[0]!, a: ps[3]!, b: ps[4]!, c: ps[5]! },
      { family: 'rbf', distance: 'euclidean', ...fixed[1]!, a: ps[6]!, b: ps[7]! },
    ];
    const o = biasedScanAttention(ps[0]!, ps[1]!, ps[2]!, mask, groups, { tileQ: 8, tileK: 4 });
    return E.sum(E.mul(o, w));
  })(params);
  const out = [await value.data(), ...(await Promise.all(grads.map((g: Tensor) => g.data())))];
  value.dispose();
  grads.forEach((g: Tensor) => g.dispose());
  for (const t of [...params, mask, w, ...fixed.flatMap((f) => [f.cq, f.ck])]) t.dispose();
  return out;
}

describe('biasedScanAttention op on webgpu', () => {
  it('value and gradients wrt q, k, v and all bias parameters match the cpu backend', async () => {
    const be = await gpu();
    if (!be) return;
    const got = await lossAndGrads(be);
    const ref = await lossAndGrads(cpuBackend());
    const names = ['loss', 'q', 'k', 'v', 'tisa.a', 'tisa.b', 'tisa.c', 'rbf.a', 'rbf.b'];
    ref.forEach((r, i) => expect(relErr(got[i]!, r), names[i]).toBeLessThan(1e-5));
  }, 400_000);
});

describe('shared query (queryRows): one q row for all query rows', () => {
  // 'bnhd' q [B,1,H,d] against the same op with q broadcast to [B,Q,H,d] on the CPU backend (the
  // dense-checked kernel), masked keys, two bias groups, ragged tiles; f16 precision asked for too
  // (the shared-query kernel is float32 whatever the precision).
  async function run(be: Backend, shared: boolean, precision?: 'f16-fast'): Promise<Float32Array> {
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 37, K: 45, d: 8, dv: 8, maskFrac: 0.2, seed: 15,
      groups: [{ M: 2, distance: 'euclidean', family: 'rbf', F: 5 }, { M: 1, distance: 'euclidean', family: 'exp', F: 2 }] });
    const { B, H, Q, K, d, dv } = desc;
    const T = (a: Float32Array, shape: number[]): Tensor => E.tensor(a, shape, be);
    const q1 = T(data.q.slice(0, B * H * d), [B, 1, H, d]);
    const q = shared ? q1 : E.broadcastTo(q1, [B, Q, H, d]);
    const k = T(data.k, [B, K, H, d]), v = T(data.v, [B, K, H, dv]);
    const mask = T(data.mask!, [B, K]);
    const groups: ScanGroup[] = desc.groups.map((g, i) => {
      const gd = data.groups[i]!;
      return { family: g.family, distance: g.distance, cq: T(gd.cq, [B, Q, g.M]), ck: T(gd.ck, [B, K, g.M]),
        a: T(gd.a, [H, g.F]), b: T(gd.b!, [H, g.F]) };
    });
    const o = biasedScanAttention(q, k, v, mask, groups, { tileQ: 8, tileK: 8, layout: 'bnhd', precision,
      queryRows: shared ? Q : undefined });
    expect(o.shape).toEqual([B, Q, H, dv]);
    const out = await o.data();
    for (const t of [o, q1, q, k, v, mask, ...groups.flatMap((g) => [g.cq, g.ck, g.a, g.b!])]) if (!t.disposed) t.dispose();
    return out;
  }

  it('webgpu shared-query kernel = cpu with the query broadcast (f32, and with f16-fast asked for)', async () => {
    const be = await gpu();
    if (!be) return;
    const ref = await run(cpuBackend(), false);
    expect(relErr(await run(cpuBackend(), true), ref), 'cpu shared').toBe(0);
    expect(relErr(await run(be, true), ref), 'webgpu shared').toBeLessThan(1e-5);
    expect(relErr(await run(be, true, 'f16-fast'), ref), 'webgpu shared, f16-fast asked').toBeLessThan(1e-5);
  }, 400_000);
});
