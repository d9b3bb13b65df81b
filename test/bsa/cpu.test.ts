/** BSA on the CPU: tiled kernel vs the dense float64 reference, and the reference vs finite differences. */
import { describe, expect, it } from 'vitest';
import { bsaBackwardCpu, bsaForwardCpu } from '../../src/kernels/bsa/cpu.js';
import { bsaDenseBackward, bsaDenseForward } from '../../src/kernels/bsa/dense.js';
import type { BsaData, BsaDesc, BsaGroup } from '../../src/kernels/bsa/desc.js';
import { BsaError, validate } from '../../src/kernels/bsa/desc.js';
import { makeProblem, randomF32, relErr, S2_RBF5, T1_RBF3, toF64, type ProblemOptions } from './helpers.js';

const TOL = 1e-5;

function checkAgainstDense(desc: BsaDesc, data: BsaData, label: string, js = false): void {
  const ref = bsaDenseForward(desc, data);
  const got = bsaForwardCpu(desc, data, { js });
  expect(relErr(got.o, ref.o), `${label}: O`).toBeLessThanOrEqual(TOL);
  for (let r = 0; r < ref.lse.length; r++) {
    if (ref.lse[r] === -Infinity) expect(got.lse[r], `${label}: L[${r}]`).toBe(-Infinity);
    else expect(Math.abs(got.lse[r]! - ref.lse[r]!), `${label}: L[${r}]`).toBeLessThan(1e-4);
  }
  const dO = randomF32(got.o.length, 99);
  const gRef = bsaDenseBackward(desc, data, dO);
  const g = bsaBackwardCpu(desc, data, got, dO, { js });
  expect(relErr(g.dq, gRef.dq), `${label}: dq`).toBeLessThanOrEqual(TOL);
  expect(relErr(g.dk, gRef.dk), `${label}: dk`).toBeLessThanOrEqual(TOL);
  expect(relErr(g.dv, gRef.dv), `${label}: dv`).toBeLessThanOrEqual(TOL);
  desc.groups.forEach((_, gi) => {
    const a = g.groups[gi]!, e = gRef.groups[gi]!;
    expect(relErr(a.da, e.da), `${label}: group ${gi} da`).toBeLessThanOrEqual(TOL);
    if (e.db) expect(relErr(a.db!, e.db), `${label}: group ${gi} db`).toBeLessThanOrEqual(TOL);
    if (e.dc) expect(relErr(a.dc!, e.dc), `${label}: group ${gi} dc`).toBeLessThanOrEqual(TOL);
  });
}

const FAMILIES: BsaGroup[] = [
  { M: 2, distance: 'euclidean', family: 'rbf', F: 5 },
  { M: 2, distance: 'euclidean', family: 'tisa', F: 3 },
  { M: 3, distance: 'euclidean', family: 'exp', F: 2 },
  { M: 1, distance: 'euclidean', family: 'scalar', F: 1 },
  { M: 2, distance: 'greatCircle', family: 'rbf', F: 4 },
  { M: 2, distance: 'greatCircle', family: 'exp', F: 2 },
];

describe('bsa cpu vs dense reference', () => {
  for (const g of FAMILIES) {
    it(`family ${g.family}, ${g.distance}, M=${g.M}, F=${g.F}`, () => {
      const { desc, data } = makeProblem({ B: 2, H: 3, Q: 23, K: 37, d: 8, dv: 6, groups: [g], tileQ: 8,
        tileK: 16, maskFrac: 0.2, seed: 7 });
      checkAgainstDense(desc, data, g.family);
    });
  }

  it('no bias groups and no mask (plain scan attention)', () => {
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 19, K: 21, d: 5, dv: 3, groups: [], seed: 3 });
    checkAgainstDense(desc, data, 'plain');
  });

  it('several groups at once: s 2-D RBF 5 + t 1-D RBF 3', () => {
    const { desc, data } = makeProblem({ B: 2, H: 4, Q: 33, K: 29, d: 8, dv: 8, groups: [S2_RBF5, T1_RBF3],
      tileQ: 16, tileK: 8, maskFrac: 0.3, seed: 11 });
    checkAgainstDense(desc, data, 's+t');
  });

  it('ragged lengths Q=313, K=77 with tiles 32×64, d=32', () => {
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 313, K: 77, d: 32, dv: 32, groups: [S2_RBF5],
      tileQ: 32, tileK: 64, maskFrac: 0.1, seed: 5 });
    checkAgainstDense(desc, data, 'ragged');
  });

  it('pure-JS fallback kernel matches too (several groups, great circle, ragged tiles)', () => {
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 37, K: 29, d: 6, dv: 5, tileQ: 8, tileK: 12, maskFrac: 0.2,
      groups: [S2_RBF5, { M: 2, distance: 'greatCircle', family: 'tisa', F: 2 }, { M: 1, distance: 'euclidean', family: 'scalar', F: 1 }],
      seed: 31 });
    checkAgainstDense(desc, data, 'js', true);
  });

  it('all-masked rows give O = 0, L = −∞ and zero gradients', () => {
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 9, K: 13, groups: [S2_RBF5], maskFrac: 0.2, seed: 4 });
    data.mask!.fill(0, 0, 13); // batch 0: every key masked
    // batch 1, query 2: infinite coordinate -> every pair of that row invalid
    data.groups[0]!.cq[(1 * 9 + 2) * 2] = Infinity;
    checkAgainstDense(desc, data, 'all-masked');
    const f = bsaForwardCpu(desc, data);
    const g = bsaBackwardCpu(desc, data, f, randomF32(f.o.length, 5));
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 9; i++) {
        const row = (0 * 2 + h) * 9 + i;
        expect(f.lse[row]).toBe(-Infinity);
        for (let c = 0; c < 8; c++) {
          expect(f.o[row * 8 + c]).toBe(0);
          expect(g.dq[row * 8 + c]).toBe(0);
        }
      }
      const row = (1 * 2 + h) * 9 + 2;
      expect(f.lse[row]).toBe(-Infinity);
      for (let c = 0; c < 8; c++) expect(f.o[row * 8 + c]).toBe(0);
    }
    for (let x = 0; x < 2 * 13 * 8; x++) expect(g.dk[x]).toBe(0); // batch 0 keys
    for (const gg of g.groups) for (const arr of [gg.da, gg.db!]) for (const x of arr) expect(Number.isFinite(x)).toBe(true);
  });

  it('padded batches: key-tile loops stop after the last unmasked key, query tiles of excluded rows are skipped (forward and backward)', () => {
    // Batch 0: 33 keys then padding, its last valid key the first of a 16-key tile (an end off by
    // one would drop it); batch 1: 3 keys; masked keys inside the valid range too.
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 20, K: 70, groups: [S2_RBF5], tileQ: 8, tileK: 16, maskFrac: 0.15, seed: 23 });
    data.mask!.fill(0, 33, 70);
    data.mask![32] = 1;
    data.mask!.fill(0, 70 + 3, 140);
    data.mask![70 + 2] = 1;
    // Batch 0, query rows 8–15 (one whole 8-row tile) and 17 without coordinates: excluded rows,
    // whose tile skips its key loop.
    for (const i of [8, 9, 10, 11, 12, 13, 14, 15, 17]) data.groups[0]!.cq[i * 2] = NaN;
    checkAgainstDense(desc, data, 'padded');
    const f = bsaForwardCpu(desc, data);
    const g = bsaBackwardCpu(desc, data, f, randomF32(f.o.length, 5));
    for (let h = 0; h < 2; h++) {
      for (let x = 33 * 8; x < 70 * 8; x++) expect(g.dk[h * 70 * 8 + x]).toBe(0);
      for (let i = 8; i < 16; i++) {
        expect(f.lse[h * 20 + i]).toBe(-Infinity);
        for (let c = 0; c < 8; c++) expect(g.dq[(h * 20 + i) * 8 + c]).toBe(0);
      }
    }
  });

  it('non-finite key distances exclude exactly those keys', () => {
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 11, K: 17, groups: [S2_RBF5, T1_RBF3], seed: 8 });
    data.groups[0]!.ck[2 * 3] = Infinity;
    data.groups[1]!.ck[5] = NaN;
    data.groups[0]!.ck[2 * 9 + 1] = -Infinity;
    checkAgainstDense(desc, data, 'non-finite');
    // Same as masking those keys.
    const clean = makeProblem({ B: 1, H: 2, Q: 11, K: 17, groups: [S2_RBF5, T1_RBF3], seed: 8 });
    const mask = new Float32Array(17).fill(1);
    mask[3] = 0; mask[5] = 0; mask[9] = 0;
    const a = bsaForwardCpu(desc, data);
    const b = bsaForwardCpu({ ...clean.desc, hasMask: true }, { ...clean.data, mask });
    expect(relErr(a.o, b.o)).toBeLessThan(1e-6);
  });

  it('results do not depend on tile size', () => {
    const base: ProblemOptions = { B: 1, H: 2, Q: 70, K: 45, d: 12, dv: 4, groups: [S2_RBF5, T1_RBF3],
      maskFrac: 0.2, seed: 21 };
    const ref = makeProblem({ ...base, tileQ: 4, tileK: 4 });
    const f0 = bsaForwardCpu(ref.desc, ref.data);
    const dO = randomF32(f0.o.length, 3);
    const g0 = bsaBackwardCpu(ref.desc, ref.data, f0, dO);
    for (const [tq, tk] of [[8, 12], [32, 64], [70, 45], [128, 128], [6, 10]] as const) {
      const p = makeProblem({ ...base, tileQ: tq, tileK: tk });
      const f = bsaForwardCpu(p.desc, p.data);
      const g = bsaBackwardCpu(p.desc, p.data, f, dO);
      expect(relErr(f.o, f0.o), `tiles ${tq}×${tk}`).toBeLessThan(1e-5);
      expect(relErr(g.dq, g0.dq), `tiles ${tq}×${tk} dq`).toBeLessThan(1e-5);
      expect(relErr(g.dk, g0.dk), `tiles ${tq}×${tk} dk`).toBeLessThan(1e-5);
      expect(relErr(g.groups[1]!.db!, g0.groups[1]!.db!), `tiles ${tq}×${tk} db`).toBeLessThan(1e-5);
    }
  });

  it('validation errors read "bsa: expected X, got Y"', () => {
    const { desc, data } = makeProblem({ Q: 4, K: 5, seed: 1 });
    expect(() => validate({ ...desc, Q: 0 }, data)).toThrow(/bsa: expected desc\.Q to be a positive integer, got 0/);
    expect(() => validate({ ...desc, hasMask: true }, data)).toThrow(BsaError);
    expect(() => validate({ ...desc, groups: [{ M: 3, distance: 'greatCircle', family: 'rbf', F: 2 }] }, data))
      .toThrow(/bsa: expected groups\[0\]\.M = 2 for greatCircle/);
    expect(() => validate(desc, { ...data, q: new Float32Array(3) })).toThrow(/bsa: expected q .* got length 3/);
  });
});

describe('dense reference gradients vs central finite differences (float64)', () => {
  const groupsSets: BsaGroup[][] = [
    [{ M: 2, distance: 'euclidean', family: 'rbf', F: 2 }, { M: 1, distance: 'euclidean', family: 'exp', F: 2 }],
    [{ M: 2, distance: 'euclidean', family: 'tisa', F: 2 }, { M: 1, distance: 'euclidean', family: 'scalar', F: 1 }],
    [{ M: 2, distance: 'greatCircle', family: 'rbf', F: 2 }],
  ];
  for (const groups of groupsSets) {
    it(groups.map((g) => `${g.family}/${g.distance}`).join(' + '), () => {
      const { desc, data: d32 } = makeProblem({ B: 2, H: 2, Q: 5, K: 7, d: 3, dv: 2, groups, maskFrac: 0.25, seed: 13 });
      d32.groups[0]!.ck[0] = Infinity; // a non-finite distance in batch 0
      const data = toF64(d32);
      const G = Float64Array.from(randomF32(desc.B * desc.H * desc.Q * desc.dv, 17));
      const loss = (): number => {
        const o = bsaDenseForward(desc, data).o;
        let s = 0;
        for (let i = 0; i < o.length; i++) s += o[i]! * G[i]!;
        return s;
      };
      const grads = bsaDenseBackward(desc, data, G);
      const eps = 1e-6;
      const check = (arr: Float64Array, grad: Float64Array, name: string): void => {
        for (let i = 0; i < arr.length; i++) {
          const x = arr[i]!;
          arr[i] = x + eps; const lp = loss();
          arr[i] = x - eps; const lm = loss();
          arr[i] = x;
          const fd = (lp - lm) / (2 * eps);
          expect(Math.abs(fd - grad[i]!), `${name}[${i}] fd ${fd} vs ${grad[i]}`).toBeLessThan(1e-6 + 1e-4 * Math.abs(fd));
        }
      };
      check(data.q, grads.dq, 'q');
      check(data.k, grads.dk, 'k');
      check(data.v, grads.dv, 'v');
      groups.forEach((_, gi) => {
        const gd = data.groups[gi]!, gg = grads.groups[gi]!;
        check(gd.a, gg.da, `g${gi}.a`);
        if (gd.b) check(gd.b, gg.db!, `g${gi}.b`);
        if (gd.c) check(gd.c, gg.dc!, `g${gi}.c`);
      });
    });
  }
});
