/**
 * TNP-D (baselines.md §1) against a float64 reference of the *joint* formulation written here:
 * context and test tokens concatenated, every token a query, keys = valid context tokens only (the
 * test tokens masked as keys), post-norm and pre-norm; outputs and loss, and autodiff gradients
 * against central finite differences of the reference, on cpu and webgpu. Plus padding, chunked
 * decoding and the parameter count of the 2-D GP config.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { DEFAULT_TNPD, type TnpDConfig } from '../../src/models/baseline-config.js';
import { TnpD } from '../../src/models/tnp-d.js';
import { countParams } from '../../src/nn/params.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { build, checkAgainstReference, decodeMeansInPieces, ours, randomTask, rows, type RefModel } from './harness.js';
import { add, layerNorm, mha, mlp, type Mat } from './ref.js';

const TINY: TnpDConfig = {
  ...DEFAULT_TNPD, blocks: 2, embedDim: 8, heads: 2, headDim: 4, inputMlp: [12, 8], ffn: [10, 8], headHidden: [6],
};

/** The joint TNP-D pass over [context; test] rows of one batch element. */
function reference(c: TnpDConfig): RefModel {
  return (P, t, b) => {
    const r = rows(t, b);
    const tokens: Mat = [...r.sc.map((s, i) => [...s, r.f[i]![0]!]), ...r.st.map((s) => [...s, 0])];
    const valid = [...r.valid, ...r.st.map(() => false)];
    let h = mlp(P, 'mlp_in', c.inputMlp.length, tokens);
    for (let l = 0; l < c.blocks; l++) {
      const n = `blocks.${l}`;
      const ffn = (x: Mat) => mlp(P, `${n}.ffn`, c.ffn.length, x);
      if (c.norm === 'post') {
        h = layerNorm(P, `${n}.ln1`, add(h, mha(P, `${n}.attn`, h, h, valid, c.heads, c.headDim)), c.layerNormEps);
        h = layerNorm(P, `${n}.ln2`, add(h, ffn(h)), c.layerNormEps);
      } else {
        const hn = layerNorm(P, `${n}.ln1`, h, c.layerNormEps);
        h = add(h, mha(P, `${n}.attn`, hn, hn, valid, c.heads, c.headDim));
        h = add(h, ffn(layerNorm(P, `${n}.ln2`, h, c.layerNormEps)));
      }
    }
    if (c.norm === 'pre') h = layerNorm(P, 'ln_out', h, c.layerNormEps);
    return mlp(P, 'head', c.headHidden.length + 1, h.slice(t.Nc));
  };
}

describe('TNP-D', () => {
  const b = cpuBackend();
  afterAll(() => b.destroy());

  it('the 2-D GP config (post-norm) has 474,754 parameters (baselines.md §1), pre-norm one final LayerNorm more', () => {
    expect(countParams(new TnpD(DEFAULT_TNPD).specs(Rng.fromSeed(0)))).toBe(474_754);
    expect(countParams(new TnpD({ ...DEFAULT_TNPD, norm: 'pre' }).specs(Rng.fromSeed(0)))).toBe(474_754 + 128);
  });

  it('padded context rows (mask 0, values 10000) change nothing', async () => {
    const model = new TnpD(TINY);
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
    m.dispose();
  });

  it('decoding the test points in chunks equals decoding them at once', async () => {
    const model = new TnpD(TINY);
    const m = build(model, b, 4);
    const t = randomTask(5, 1, 6, 7);
    const whole = await ours(model, m.p, b, t);
    const means = await decodeMeansInPieces(model, m.p, b, t, [[0, 3], [3, 4]]);
    expect(allclose(means, whole.mean, 1e-5, 1e-6)).toBeNull();
    m.dispose();
  });
});

describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('TNP-D against the float64 joint reference on $name', ({ get }) => {
  it.each([
    { norm: 'post' as const },
    { norm: 'pre' as const },
  ])('$norm-norm: outputs, loss and gradients (finite differences)', async ({ norm }) => {
    const b = await get();
    if (!b) return;
    const c = { ...TINY, norm };
    const t = randomTask(11, 2, 6, 4);
    t.mask[5] = 0; // one padded context row in the first task
    await checkAgainstReference(new TnpD(c), reference(c), b, t, { seed: 1 });
  });
});
