/**
 * ConvCNP (baselines.md §3) against a float64 reference written here from the spec's formulas,
 * with nothing factored (RBF weights from ‖u − s‖² over every grid cell, depthwise convolution by
 * direct loops with zero padding, BatchNorm as γ·x/√(1 + 1e-5) + β): outputs, loss, and gradients
 * (incl. the SetConv lengthscales) against central finite differences, on cpu and webgpu. Plus the
 * grid size rule, padding, chunked decoding and the 2-D GP parameter count.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { baselineParameters, DEFAULT_CONVCNP, gridSize, type ConvCnpConfig } from '../../src/models/baseline-config.js';
import { ConvCnp } from '../../src/models/convcnp.js';
import { countParams } from '../../src/nn/params.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { build, checkAgainstReference, decodeMeansInPieces, ours, randomTask, rows, type RefModel } from './harness.js';
import { dense, get, mlp, relu, type Mat, type P64 } from './ref.js';

const TINY: ConvCnpConfig = {
  ...DEFAULT_CONVCNP, grid: { lo: [-1.5, -1.5], hi: [1.5, 1.5] }, pointsPerUnit: 2, channels: 3, blocks: 1, kernelSize: 3,
  headHidden: [5],
};

function setConv(points: Mat, values: Mat, targets: Mat, theta: Float64Array): Mat {
  // values[j][c] for channels c ≥ 1; channel 0 is the density (value 1 per point).
  const w = (x: number[], y: number[], c: number) => {
    const l = 1e-6 + Math.exp(theta[c]!);
    return Math.exp(-((x[0]! - y[0]!) ** 2 + (x[1]! - y[1]!) ** 2) / (2 * l * l));
  };
  return targets.map((u) => {
    let dens = 0;
    for (let j = 0; j < points.length; j++) dens += w(u, points[j]!, 0);
    const out = [dens];
    for (let c = 1; c < theta.length; c++) {
      let s = 0;
      for (let j = 0; j < points.length; j++) s += values[j]![c - 1]! * w(u, points[j]!, c);
      out.push(s / (dens + 1e-8));
    }
    return out;
  });
}

function bn(P: P64, n: string, x: Mat): Mat {
  const g = get(P, `${n}.scale`);
  const b = get(P, `${n}.offset`);
  return x.map((r) => r.map((v, c) => (g[c]! * v) / Math.sqrt(1 + 1e-5) + b[c]!));
}

/** Depthwise k×k SAME convolution of grid rows x[i0·n1 + i1][c]. */
function depthwise(P: P64, n: string, x: Mat, n0: number, n1: number, k: number): Mat {
  const w = get(P, `${n}.weight`);
  const bias = get(P, `${n}.bias`);
  const C = bias.length;
  const r = (k - 1) / 2;
  return x.map((_, idx) => {
    const i0 = Math.floor(idx / n1);
    const i1 = idx % n1;
    return Array.from({ length: C }, (_, c) => {
      let s = bias[c]!;
      for (let dy = 0; dy < k; dy++) {
        for (let dx = 0; dx < k; dx++) {
          const y0 = i0 + dy - r;
          const y1 = i1 + dx - r;
          if (y0 < 0 || y0 >= n0 || y1 < 0 || y1 >= n1) continue;
          s += w[(dy * k + dx) * C + c]! * x[y0 * n1 + y1]![c]!;
        }
      }
      return s;
    });
  });
}

function reference(c: ConvCnpConfig): RefModel {
  return (P, t, b) => {
    const r = rows(t, b);
    const [n0, n1] = gridSize(c) as [number, number];
    const axis = (i: number, n: number) => Array.from({ length: n }, (_, q) => c.grid.lo[i]! + ((c.grid.hi[i]! - c.grid.lo[i]!) * q) / (n - 1));
    const a0 = axis(0, n0);
    const a1 = axis(1, n1);
    const grid: Mat = [];
    for (const u0 of a0) for (const u1 of a1) grid.push([u0, u1]);
    const pts = r.sc.filter((_, j) => r.valid[j]);
    const vals = r.f.filter((_, j) => r.valid[j]);
    let h = dense(P, 'enc.dense', setConv(pts, vals, grid, get(P, 'enc.log_scale')));
    for (let l = 0; l < c.blocks; l++) {
      const n = `cnn.${l}`;
      let y = relu(bn(P, `${n}.bn1`, h));
      y = dense(P, `${n}.pw1`, depthwise(P, `${n}.dw1`, y, n0, n1, c.kernelSize));
      y = depthwise(P, `${n}.dw2`, relu(bn(P, `${n}.bn2`, y)), n0, n1, c.kernelSize);
      h = dense(P, `${n}.pw2`, y.map((row, i) => row.map((v, ch) => v + h[i]![ch]!)));
    }
    const z = dense(P, 'dec.dense', setConv(grid, h, r.st, get(P, 'dec.log_scale')));
    return mlp(P, 'head', c.headHidden.length + 1, z);
  };
}

describe('ConvCNP', () => {
  const b = cpuBackend();
  afterAll(() => b.destroy());

  it('grids the 2-D GP domain [-2.5, 2.5]² with 80 points per axis; 503,173 parameters (formula = layout)', () => {
    expect(gridSize(DEFAULT_CONVCNP)).toEqual([80, 80]);
    expect(gridSize({ ...DEFAULT_CONVCNP, grid: { lo: [-4.5, -4.5], hi: [4.5, 4.5] } })).toEqual([144, 144]);
    expect(baselineParameters(DEFAULT_CONVCNP)).toBe(503_173);
    expect(countParams(new ConvCnp(DEFAULT_CONVCNP).specs(Rng.fromSeed(0)))).toBe(503_173);
  });

  it('padded context rows (mask 0, values 10000) change nothing; chunked decoding equals one pass', async () => {
    const model = new ConvCnp(TINY);
    const m = build(model, b, 2);
    const t = randomTask(3, 1, 7, 5);
    const base = await ours(model, m.p, b, t);
    const sCtx = new Float64Array(20).fill(10000);
    sCtx.set(t.sCtx);
    const f = new Float64Array(10).fill(10000);
    f.set(t.f);
    const mask = new Float64Array(10);
    mask.fill(1, 0, 7);
    const padded = await ours(model, m.p, b, { ...t, Nc: 10, sCtx, f, mask });
    expect(allclose(padded.mean, base.mean, 1e-5, 1e-6)).toBeNull();
    expect(allclose(padded.std, base.std, 1e-5, 1e-6)).toBeNull();
    const means = await decodeMeansInPieces(model, m.p, b, t, [[0, 2], [2, 3]]);
    expect(allclose(means, base.mean, 1e-5, 1e-6)).toBeNull();
    m.dispose();
  });
});

describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('ConvCNP against the float64 reference on $name', ({ get }) => {
  it.each([
    { label: 'one pass', chunk: undefined },
    // Budget B·(C + 1)·n·3 = 2·4·6·3: the decoder's SetConv in checkpointed chunks of 3 test points (3 + 1).
    { label: 'decoder in checkpointed chunks of test points', chunk: 2 * 4 * 6 * 3 },
  ])('outputs, loss and gradients (finite differences): $label', async ({ chunk }) => {
    const b = await get();
    if (!b) return;
    const t = randomTask(13, 2, 6, 4);
    t.mask[5] = 0;
    await checkAgainstReference(new ConvCnp(TINY, { setConvChunkElements: chunk }), reference(TINY), b, t, { seed: 1 });
  });
});
