/**
 * WebGPU BSA kernels vs the dense float64 reference (outputs, L, gradients wrt q, k, v and every
 * bias parameter), on lavapipe in CI. Small sizes: lavapipe is a CPU. Its LLVM compiles each new
 * pipeline in 5–40 s (more under load), hence the long per-test timeout.
 */
import { describe, expect, it } from 'vitest';
import type { BsaGroup } from '../../src/kernels/bsa/desc.js';
import { makeProblem, randomF32, relErr, S2_RBF5, T1_RBF3, type ProblemOptions } from '../bsa/helpers.js';
import { loopSplit } from '../../src/kernels/bsa/webgpu/backward.js';
import { bsaForwardWebGPU } from '../../src/kernels/bsa/webgpu.js';
import { checkAgainstDense, gpu, runGpu, upload } from './helpers.js';

const SLOW = 400_000;

const FAMILIES: BsaGroup[] = [
  { M: 2, distance: 'euclidean', family: 'rbf', F: 5 },
  { M: 2, distance: 'euclidean', family: 'tisa', F: 3 },
  { M: 3, distance: 'euclidean', family: 'exp', F: 2 },
  { M: 1, distance: 'euclidean', family: 'scalar', F: 1 },
  { M: 2, distance: 'greatCircle', family: 'rbf', F: 4 },
  { M: 2, distance: 'greatCircle', family: 'exp', F: 2 },
  { M: 6, distance: 'euclidean', family: 'rbf', F: 2 },
];

describe('bsa webgpu vs dense reference', () => {
  for (const g of FAMILIES) {
    it(`family ${g.family}, ${g.distance}, M=${g.M}, F=${g.F}`, async () => {
      const be = await gpu();
      if (!be) return;
      const { desc, data } = makeProblem({ B: 2, H: 3, Q: 23, K: 37, d: 8, dv: 6, groups: [g], tileQ: 8,
        tileK: 16, maskFrac: 0.2, seed: 7 });
      await checkAgainstDense(be, desc, data, g.family);
    }, SLOW);
  }

  it('tied basis functions (BSA-TNP init and training: equal b within a head) take the merged path', async () => {
    const be = await gpu();
    if (!be) return;
    const tisa: BsaGroup = { M: 2, distance: 'euclidean', family: 'tisa', F: 3 };
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 21, K: 19, d: 8, dv: 8, groups: [S2_RBF5, tisa, T1_RBF3],
      maskFrac: 0.2, seed: 17 });
    // Head 0 tied in every group, head 1 tied only in group 0 (mixed per head and group).
    for (const [gi, F] of [[0, 5], [1, 3], [2, 3]] as const) {
      const gd = data.groups[gi]!;
      for (let k = 0; k < F; k++) {
        gd.b![k] = gd.b![0]!;
        if (gd.c) gd.c[k] = gd.c[0]!;
        if (gi === 0) gd.b![F + k] = gd.b![F]!;
      }
    }
    await checkAgainstDense(be, desc, data, 'tied');
 }, SLOW);

  it('no bias groups and no mask (plain scan attention), default tiles', async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 19, K: 21, d: 5, dv: 3, groups: [], seed: 3 });
    await checkAgainstDense(be, desc, data, 'plain');
 }, SLOW);

  it('several groups at once: s 2-D RBF 5 + t 1-D RBF 3, d = 32, default tiles', async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 2, H: 4, Q: 33, K: 29, d: 32, dv: 32, groups: [S2_RBF5, T1_RBF3],
      maskFrac: 0.3, seed: 11 });
    await checkAgainstDense(be, desc, data, 's+t');
 }, SLOW);

  it('ragged lengths Q=77, K=45 with small tiles (8×12), great circle + TISA + scalar', async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 77, K: 45, d: 6, dv: 5, tileQ: 8, tileK: 12, maskFrac: 0.2,
      groups: [S2_RBF5, { M: 2, distance: 'greatCircle', family: 'tisa', F: 2 }, { M: 1, distance: 'euclidean', family: 'scalar', F: 1 }],
      seed: 31 });
    await checkAgainstDense(be, desc, data, 'ragged');
 }, SLOW);

  it('backward loops split into runs (9 query and 9 key tiles: two runs each, see loopSplit)', async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 70, K: 70, d: 8, dv: 8, tileQ: 8, tileK: 8, maskFrac: 0.2,
      groups: [S2_RBF5], seed: 41 });
    expect(loopSplit(desc.B * desc.H * 9, 9)).toBe(2);
    await checkAgainstDense(be, desc, data, 'split runs');
  }, SLOW);

  it("layout 'bnhd' ([B,N,H,d] streams): the same outputs and gradients as 'bhnd', transposed; f32 with split runs and f16", async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 2, H: 3, Q: 70, K: 70, d: 8, dv: 6, tileQ: 8, tileK: 8, maskFrac: 0.2,
      groups: [S2_RBF5], seed: 43 });
    const { B, H, Q, K } = desc;
    // [B, A, C, w] → [B, C, A, w] (its own inverse with A and C swapped).
    const swap = (x: Float32Array, A: number, C: number): Float32Array => {
      const w = x.length / (B * A * C);
      const y = new Float32Array(x.length);
      for (let b = 0; b < B; b++) for (let a = 0; a < A; a++) for (let c = 0; c < C; c++) {
        y.set(x.subarray(((b * A + a) * C + c) * w, ((b * A + a) * C + c + 1) * w), ((b * C + c) * A + a) * w);
      }
      return y;
    };
    const dO = randomF32(B * H * Q * desc.dv, 98);
    const ref = await runGpu(be, desc, data, dO);
    const nData = { ...data, q: swap(data.q, H, Q), k: swap(data.k, H, K), v: swap(data.v, H, K) };
    const got = await runGpu(be, { ...desc, layout: 'bnhd' }, nData, swap(dO, H, Q));
    const same = (a: Float32Array, b: Float32Array, what: string): void => expect(relErr(a, b), what).toBeLessThanOrEqual(1e-6);
    same(swap(got.o, Q, H), ref.o, 'O');
    same(got.lse, ref.lse, 'L');
    same(swap(got.dq, Q, H), ref.dq, 'dq');
    same(swap(got.dk, K, H), ref.dk, 'dk');
    same(swap(got.dv, K, H), ref.dv, 'dv');
    same(got.groups[0]!.da, ref.groups[0]!.da, 'da');
    same(got.groups[0]!.db!, ref.groups[0]!.db!, 'db');
    if (!be.hasF16) return;
    // The f16 kernels differ from each other only inside the products; the layout touches the K/V
    // conversion pass, the q loads and the O stores, which all precisions share: one suffices.
    for (const precision of ['f16-fast'] as const) {
      const f16 = async (d: typeof desc, x: typeof data): Promise<Float32Array> => {
        const { x: xs, all } = upload(be, x);
        const f = bsaForwardWebGPU(be, { ...d, precision, tileQ: 16, tileK: 16 }, xs);
        const o = await be.read(f.o);
        for (const st of [...all, f.o, f.lse]) be.free(st);
        return o;
      };
      same(swap(await f16({ ...desc, layout: 'bnhd' }, nData), Q, H), await f16(desc, data), `O ${precision}`);
    }
  }, SLOW);

  it('scores rising across the key tiles by tens of nats (and falling, in the other head)', async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 9, K: 40, d: 4, dv: 4, groups: [S2_RBF5], tileQ: 8, tileK: 8,
      maskFrac: 0.1, seed: 29 });
    // q ≈ 1, k_j = 0.4·j (head 0) or 0.4·(K − j) (head 1): scores step by ~0.8 per key, ~46 in base 2
    // over the keys, so head 0 moves its reference maximum many times.
    for (let x = 0; x < data.q.length; x++) data.q[x] = 1 + 0.1 * data.q[x]!;
    for (let h = 0; h < 2; h++) {
      for (let j = 0; j < 40; j++) {
        for (let c = 0; c < 4; c++) data.k[(h * 40 + j) * 4 + c] = 0.4 * (h === 0 ? j : 40 - j);
      }
    }
    await checkAgainstDense(be, desc, data, 'rising');
  }, SLOW);

  it('all-masked rows give O = 0, L = −∞ and zero gradients', async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 9, K: 13, groups: [S2_RBF5], maskFrac: 0.2, seed: 4 });
    data.mask!.fill(0, 0, 13); // batch 0: every key masked
    data.groups[0]!.cq[(1 * 9 + 2) * 2] = Infinity; // batch 1, query 2: every pair invalid
    const got = await checkAgainstDense(be, desc, data, 'all-masked');
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 9; i++) {
        const row = (0 * 2 + h) * 9 + i;
        expect(got.lse[row]).toBe(-Infinity);
        for (let c = 0; c < 8; c++) {
          expect(got.o[row * 8 + c]).toBe(0);
          expect(got.dq[row * 8 + c]).toBe(0);
        }
      }
      const row = (1 * 2 + h) * 9 + 2;
      expect(got.lse[row]).toBe(-Infinity);
      for (let c = 0; c < 8; c++) expect(got.o[row * 8 + c]).toBe(0);
    }
    for (let x = 0; x < 2 * 13 * 8; x++) expect(got.dk[x]).toBe(0);
    for (const gg of got.groups) for (const arr of [gg.da, gg.db!]) for (const x of arr) expect(Number.isFinite(x)).toBe(true);
  }, SLOW);

  it('padded batches: key loops stop after the last unmasked key, tiles of excluded query rows skip theirs (forward, dQ, dK/dV); same results as dense', async () => {
    // Batch 0: 33 keys then padding, the last valid key the first of its 16-key tile (an end off by
    // one would drop it); batch 1: 3 keys; batch 2: no padding. Masked keys inside the valid range too.
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 3, H: 2, Q: 20, K: 70, d: 8, dv: 8, groups: [S2_RBF5], tileQ: 8, tileK: 16,
      maskFrac: 0.15, seed: 23 });
    data.mask!.fill(0, 33, 70);
    data.mask![32] = 1;
    data.mask!.fill(0, 70 + 3, 140);
    data.mask![70 + 2] = 1;
    // Batch 0, query rows 8–15 (one whole 8-row tile) and 17 without coordinates: excluded rows,
    // whose tile skips its key loop in every pass.
    for (const i of [8, 9, 10, 11, 12, 13, 14, 15, 17]) data.groups[0]!.cq[i * 2] = NaN;
    const got = await checkAgainstDense(be, desc, data, 'padded');
    for (let h = 0; h < 2; h++) {
      for (let i = 8; i < 16; i++) {
        expect(got.lse[(0 * 2 + h) * 20 + i]).toBe(-Infinity);
        for (let c = 0; c < 8; c++) expect(got.dq[((0 * 2 + h) * 20 + i) * 8 + c]).toBe(0);
      }
    }
    for (let h = 0; h < 2; h++) {
      for (let j = 33; j < 70; j++) for (let c = 0; c < 8; c++) expect(got.dk[((0 * 2 + h) * 70 + j) * 8 + c]).toBe(0);
    }
  }, SLOW);

  it('non-finite key distances exclude exactly those keys', async () => {
    const be = await gpu();
    if (!be) return;
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 11, K: 17, groups: [S2_RBF5, T1_RBF3], seed: 8 });
    data.groups[0]!.ck[2 * 3] = Infinity;
    data.groups[1]!.ck[5] = NaN;
    data.groups[0]!.ck[2 * 9 + 1] = -Infinity;
    const a = await checkAgainstDense(be, desc, data, 'non-finite');
    const clean = makeProblem({ B: 1, H: 2, Q: 11, K: 17, groups: [S2_RBF5, T1_RBF3], seed: 8 });
    const mask = new Float32Array(17).fill(1);
    mask[3] = 0; mask[5] = 0; mask[9] = 0;
    const b = await runGpu(be, { ...clean.desc, hasMask: true }, { ...clean.data, mask }, randomF32(a.o.length, 99));
    expect(relErr(a.o, b.o)).toBeLessThan(1e-6);
    expect(relErr(a.dq, b.dq)).toBeLessThan(1e-6);
  }, SLOW);

  it('results do not depend on tile size', async () => {
    const be = await gpu();
    if (!be) return;
    const base: ProblemOptions = { B: 1, H: 2, Q: 70, K: 45, d: 12, dv: 4, groups: [S2_RBF5, T1_RBF3],
      maskFrac: 0.2, seed: 21 };
    const ref = makeProblem({ ...base, tileQ: 4, tileK: 4 });
    const dO = randomF32(1 * 2 * 70 * 4, 3);
    const r0 = await runGpu(be, ref.desc, ref.data, dO);
    for (const [tq, tk] of [[70, 45], [6, 10]] as const) {
      const p = makeProblem({ ...base, tileQ: tq, tileK: tk });
      const r = await runGpu(be, p.desc, p.data, dO);
      expect(relErr(r.o, r0.o), `tiles ${tq}×${tk}`).toBeLessThan(1e-5);
      expect(relErr(r.dq, r0.dq), `tiles ${tq}×${tk} dq`).toBeLessThan(1e-5);
      expect(relErr(r.dk, r0.dk), `tiles ${tq}×${tk} dk`).toBeLessThan(1e-5);
      expect(relErr(r.groups[1]!.db!, r0.groups[1]!.db!), `tiles ${tq}×${tk} db`).toBeLessThan(1e-5);
    }
  }, SLOW);
});
