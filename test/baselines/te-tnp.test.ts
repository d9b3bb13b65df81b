/**
 * TE-TNP (baselines.md §2) against a float64 reference written here from the spec's formulas
 * (pairwise MLP on per-head logits and z_i − z_j, pseudo tokens at learned locations plus the
 * masked mean context location; P ← C, C ← P, T ← P per layer; vanilla: T ← fixed C): outputs,
 * loss, and gradients against central finite differences, on cpu and webgpu. Plus translation
 * invariance of the predictions, padding, and the 2-D GP parameter counts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { baselineParameters, DEFAULT_TETNP, type TeTnpConfig } from '../../src/models/baseline-config.js';
import { TeTnp } from '../../src/models/te-tnp.js';
import { countParams } from '../../src/nn/params.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { build, checkAgainstReference, ours, randomTask, rows, type RefModel } from './harness.js';
import { add, dense, get, layerNorm, mixHeads, mlp, type Mat, type P64 } from './ref.js';

const TINY: TeTnpConfig = {
  ...DEFAULT_TETNP, layers: 2, pseudoTokens: 3, embedDim: 8, heads: 2, headDim: 4,
  embedMlp: [6, 8], pairMlp: [5], ffn: [7, 8], headHidden: [6],
};

function teBlock(P: P64, n: string, c: TeTnpConfig, a: Mat, b: Mat, za: Mat, zb: Mat, valid: boolean[]): Mat {
  const an = layerNorm(P, `${n}.ln1`, a, c.layerNormEps);
  const bn = layerNorm(P, `${n}.ln1`, b, c.layerNormEps);
  const d = c.headDim;
  const Q = dense(P, `${n}.attn.q`, an);
  const K = dense(P, `${n}.attn.k`, bn);
  const V = dense(P, `${n}.attn.v`, bn);
  const pair: number[][][] = Q.map((q, i) => K.map((k, j) => {
    const logits = Array.from({ length: c.heads }, (_, h) => {
      let s = 0;
      for (let e = 0; e < d; e++) s += q[h * d + e]! * k[h * d + e]!;
      return s / Math.sqrt(d);
    });
    return mlp(P, `${n}.attn.pair`, c.pairMlp.length + 1, [[...logits, ...za[i]!.map((v, x) => v - zb[j]![x]!)]])[0]!;
  }));
  const att = dense(P, `${n}.attn.out`, mixHeads(a.length, b.length, c.heads, d, valid, (h, i, j) => pair[i]![j]![h]!, V));
  const a1 = add(a, att);
  return add(a1, mlp(P, `${n}.ffn`, c.ffn.length, layerNorm(P, `${n}.ln2`, a1, c.layerNormEps)));
}

function reference(c: TeTnpConfig): RefModel {
  return (P, t, b) => {
    const r = rows(t, b);
    const embed = (x: Mat) => mlp(P, 'embed', c.embedMlp.length, x);
    let C = embed(r.f.map((f) => [f[0]!, 1]));
    let T = embed(r.st.map(() => [0, 0]));
    const M = c.pseudoTokens;
    if (M === 0) {
      for (let l = 0; l < c.layers; l++) T = teBlock(P, `layers.${l}.tc`, c, T, C, r.st, r.sc, r.valid);
    } else {
      const nValid = r.valid.filter((v) => v).length;
      const mean = Array.from({ length: t.D }, (_, x) => r.sc.reduce((s, z, j) => s + (r.valid[j] ? z[x]! : 0), 0) / nValid);
      const locs = get(P, 'pseudo.locations');
      const toks = get(P, 'pseudo.tokens');
      const zp: Mat = Array.from({ length: M }, (_, m) => mean.map((v, x) => v + locs[m * t.D + x]!));
      let Pt: Mat = Array.from({ length: M }, (_, m) => Array.from(toks.subarray(m * c.embedDim, (m + 1) * c.embedDim)));
      const all = Pt.map(() => true);
      for (let l = 0; l < c.layers; l++) {
        Pt = teBlock(P, `layers.${l}.pc`, c, Pt, C, zp, r.sc, r.valid);
        C = teBlock(P, `layers.${l}.cp`, c, C, Pt, r.sc, zp, all);
        T = teBlock(P, `layers.${l}.tp`, c, T, Pt, r.st, zp, all);
      }
    }
    return mlp(P, 'head', c.headHidden.length + 1, T);
  };
}

describe('TE-TNP', () => {
  const b = cpuBackend();
  afterAll(() => b.destroy());

  it('2-D GP parameter counts: 1,832,378 (M = 32; spec ~1.83 M), 1,844,858 (M = 128; ~1.84 M); the count formula matches the layout', () => {
    // Building the full-size specs (orthogonal inits of 1.8 M weights) takes ~9 s on 2 cores, so the
    // full sizes go through the formula and the formula is checked against the layout at small sizes.
    expect(baselineParameters(DEFAULT_TETNP)).toBe(1_832_378);
    expect(baselineParameters({ ...DEFAULT_TETNP, pseudoTokens: 128 })).toBe(1_844_858);
    for (const c of [TINY, { ...TINY, pseudoTokens: 0 }, { ...TINY, groups: { ...TINY.groups, t: { dims: 1, embed: false, bias: null } } }]) {
      expect(countParams(new TeTnp(c).specs(Rng.fromSeed(0)))).toBe(baselineParameters(c));
    }
  });

  it('translating every location changes no prediction; padded rows change nothing', async () => {
    const model = new TeTnp(TINY);
    const m = build(model, b, 2);
    const t = randomTask(3, 2, 7, 5);
    const base = await ours(model, m.p, b, t);
    const shift = (a: Float64Array) => a.map((v, i) => Math.fround(v + (i % 2 === 0 ? 30 : -12)));
    const moved = await ours(model, m.p, b, { ...t, sCtx: shift(t.sCtx), sTest: shift(t.sTest) });
    expect(allclose(moved.mean, base.mean, 1e-3, 2e-4)).toBeNull();
    expect(allclose(moved.std, base.std, 1e-3, 2e-4)).toBeNull();
    const one = randomTask(4, 1, 7, 5);
    const ref = await ours(model, m.p, b, one);
    const sCtx = new Float64Array(20).fill(10000);
    sCtx.set(one.sCtx);
    const f = new Float64Array(10).fill(10000);
    f.set(one.f);
    const mask = new Float64Array(10);
    mask.fill(1, 0, 7);
    const padded = await ours(model, m.p, b, { ...one, Nc: 10, sCtx, f, mask });
    expect(allclose(padded.mean, ref.mean, 1e-5, 1e-6)).toBeNull();
    m.dispose();
  });
});

describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('TE-TNP against the float64 reference on $name', ({ get }) => {
  it.each([
    { label: 'pseudo tokens (M = 3)', config: TINY },
    { label: 'vanilla (M = 0)', config: { ...TINY, pseudoTokens: 0 } },
    // A pairwise budget of a few rows: every TE attention runs in checkpointed query chunks
    // (uneven last chunk included), forward and backward against the same unchunked reference.
    { label: 'pseudo tokens, query rows in checkpointed chunks', config: TINY, chunk: 1 },
    { label: 'vanilla, query rows in checkpointed chunks', config: { ...TINY, pseudoTokens: 0 }, chunk: 1 },
  ])('$label: outputs, loss and gradients (finite differences)', async ({ config, chunk }: { config: TeTnpConfig; chunk?: number }) => {
    const b = await get();
    if (!b) return;
    const t = randomTask(12, 2, 5, 3);
    t.mask[4] = 0;
    // Budget B·2·5·width: 2 query rows per chunk over the 5 context keys, 3 over the 3 pseudo tokens.
    const width = Math.max(config.heads + 2, ...config.pairMlp, config.embedDim);
    const model = new TeTnp(config, chunk ? { pairChunkElements: 2 * 2 * 5 * width } : {});
    await checkAgainstReference(model, reference(config), b, t, { seed: 1 });
  });
});
