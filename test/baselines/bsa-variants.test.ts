/**
 * The paper's BSA-TNP variants (baselines.md §4–§5: SA-TNP, only_embed, only_bias, Geo-BSA-TNP),
 * built by the registry, against a float64 reference of the BSA-TNP forward written here from
 * model.md §3–§6 (observed/unobserved embedding, GELU MLPs, pre-norm KR blocks whose test and
 * context calls share LN1, attention and FFN, RBF biases on Euclidean or great-circle distance
 * in degrees): outputs, loss, and gradients against central finite differences on cpu and webgpu.
 * Plus Geo-BSA-TNP's invariance to rotations of the sphere, which the Euclidean model lacks.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import type { ModelConfig } from '../../src/models/config.js';
import { modelConfigFor } from '../../src/models/registry.js';
import { cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { build, checkAgainstReference, ours, randomTask, rows, type RefModel, type Task } from './harness.js';
import { add, dense, get, layerNorm, mixHeads, mlpGelu, type Mat, type P64 } from './ref.js';

function tiny(name: string): ModelConfig {
  const c = modelConfigFor(name);
  if (c.kind !== undefined) throw new Error(`${name} is not a BSA-TNP configuration`);
  return { ...c, blocks: 2, embedDim: 8, heads: 2, headDim: 4, inputMlp: [12, 8], ffn: [10, 8], headHidden: [6], tile: { queries: 4, keys: 4 } };
}

const DEG = Math.PI / 180;

function distance(kind: 'euclidean' | 'great-circle', a: number[], b: number[]): number {
  if (kind === 'euclidean') return Math.hypot(...a.map((v, i) => v - b[i]!));
  const [l1, p1] = [a[0]! * DEG, a[1]! * DEG];
  const [l2, p2] = [b[0]! * DEG, b[1]! * DEG];
  const dl = Math.abs(l1 - l2);
  const y = Math.hypot(Math.cos(p2) * Math.sin(dl), Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl));
  const x = Math.sin(p1) * Math.sin(p2) + Math.cos(p1) * Math.cos(p2) * Math.cos(dl);
  return Math.atan2(y, x) / DEG;
}

function reference(c: ModelConfig): RefModel {
  const s = c.groups.s!;
  return (P: P64, t: Task, b: number) => {
    const r = rows(t, b);
    const table = get(P, 'obs_embed.table');
    const flag = (k: number) => Array.from(table.subarray(k * c.obsEmbedDim, (k + 1) * c.obsEmbedDim));
    const token = (k: number, loc: number[], f: number) => [...flag(k), ...(s.embed ? loc : []), f];
    const embed = (x: Mat) => layerNorm(P, 'ln_in', mlpGelu(P, 'mlp_in', c.inputMlp.length, x), c.layerNormEps);
    let q = embed(r.st.map((loc) => token(0, loc, 0)));
    let k = embed(r.sc.map((loc, i) => token(1, loc, r.f[i]![0]!)));
    const d = c.headDim;
    const attn = (n: string, qs: Mat, ks: Mat, qloc: Mat): Mat => {
      const Q = dense(P, `${n}.q`, qs);
      const K = dense(P, `${n}.k`, ks);
      const V = dense(P, `${n}.v`, ks);
      const logit = (h: number, i: number, j: number) => {
        let v = 0;
        for (let e = 0; e < d; e++) v += Q[i]![h * d + e]! * K[j]![h * d + e]!;
        v /= Math.sqrt(d);
        if (s.bias) {
          const delta = distance(s.bias.distance, qloc[i]!, r.sc[j]!);
          const a = get(P, `${n}.bias_s.a`);
          const bb = get(P, `${n}.bias_s.b`);
          for (let f = 0; f < s.bias.numBasis; f++) v += a[h * s.bias.numBasis + f]! * Math.exp(-bb[h * s.bias.numBasis + f]! * delta * delta);
        }
        return v;
      };
      return dense(P, `${n}.out`, mixHeads(qs.length, ks.length, c.heads, d, r.valid, logit, V));
    };
    for (let l = 0; l < c.blocks; l++) {
      const n = `blocks.${l}`;
      const qn = layerNorm(P, `${n}.ln1`, q, c.layerNormEps);
      const kn = layerNorm(P, `${n}.ln1`, k, c.layerNormEps);
      const q1 = add(q, attn(`${n}.attn`, qn, kn, r.st));
      const k1 = add(k, attn(`${n}.attn`, kn, kn, r.sc));
      const ffn = (x: Mat) => add(x, mlpGelu(P, `${n}.ffn`, c.ffn.length, layerNorm(P, `${n}.ln2`, x, c.layerNormEps)));
      q = ffn(q1);
      k = ffn(k1);
    }
    return mlpGelu(P, 'head', c.headHidden.length + 1, layerNorm(P, 'ln_out', q, c.layerNormEps));
  };
}

/** Locations as (lon°, lat°) around latitude 60°, where great-circle and chart distances differ. */
function geoTask(seed: number, B: number, Nc: number, Nt: number): Task {
  const t = randomTask(seed, B, Nc, Nt);
  const geo = (a: Float64Array) => a.map((v, i) => Math.fround(i % 2 === 0 ? 2 * v : 60 + v));
  return { ...t, sCtx: geo(t.sCtx), sTest: geo(t.sTest) };
}

// On webgpu (lavapipe) a scan-attention variant compiles its own kernels: ~22 s each on 2 busy
// cores with a cold Mesa shader cache, ~1–3 s once the cache holds them.
describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('BSA-TNP variants against the float64 reference on $name', ({ get }) => {
  it.each(['sa-tnp', 'only-embed', 'only-bias', 'geo-bsa-tnp'])('%s: outputs, loss and gradients (finite differences)', async (name) => {
    const b = await get();
    if (!b) return;
    const c = tiny(name);
    const t = name === 'geo-bsa-tnp' ? geoTask(21, 2, 6, 5) : randomTask(21, 2, 6, 5);
    t.mask[5] = 0;
    await checkAgainstReference(new BsaTnp(c), reference(c), b, t, { seed: 1, rtol: 2e-4, atol: 2e-4 });
  });
});

describe('Geo-BSA-TNP', () => {
  it('rotating every point on the sphere leaves predictions unchanged; the Euclidean (lon, lat) bias does not', async () => {
    const b = cpuBackend();
    const t = geoTask(31, 1, 9, 6);
    // Rotation about the x axis (through lon 0°, lat 0°) by 25°, then about the z axis by 40°.
    const rot = (a: Float64Array) => {
      const out = new Float64Array(a.length);
      for (let i = 0; i < a.length; i += 2) {
        const [lon, lat] = [a[i]! * DEG, a[i + 1]! * DEG];
        let [x, y, z] = [Math.cos(lat) * Math.cos(lon), Math.cos(lat) * Math.sin(lon), Math.sin(lat)];
        const [c1, s1] = [Math.cos(25 * DEG), Math.sin(25 * DEG)];
        [y, z] = [c1 * y - s1 * z, s1 * y + c1 * z];
        const [c2, s2] = [Math.cos(40 * DEG), Math.sin(40 * DEG)];
        [x, y] = [c2 * x - s2 * y, s2 * x + c2 * y];
        out[i] = Math.fround(Math.atan2(y, x) / DEG);
        out[i + 1] = Math.fround(Math.asin(z) / DEG);
      }
      return out;
    };
    const moved = { ...t, sCtx: rot(t.sCtx), sTest: rot(t.sTest) };
    const gap = async (name: string) => {
      const model = new BsaTnp(tiny(name));
      const m = build(model, b, 5);
      const [x, y] = [await ours(model, m.p, b, t), await ours(model, m.p, b, moved)];
      m.dispose();
      return Math.max(...x.mean.map((v, i) => Math.abs(v - y.mean[i]!)), ...x.std.map((v, i) => Math.abs(v - y.std[i]!)));
    };
    const [geo, chart] = [await gap('geo-bsa-tnp'), await gap('bsa-tnp')];
    // Measured: 9e-8 (float32 round-off) against 1.1e-2.
    expect(geo).toBeLessThan(1e-5);
    expect(chart).toBeGreaterThan(5e-3);
    b.destroy();
  });
});
