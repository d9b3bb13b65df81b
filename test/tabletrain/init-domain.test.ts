// `train --init` weight adaptation (new covariates get zero input rows: the starting function is
// the prior's whatever the new columns hold; other mismatches are named) and the map of user
// coordinates into a prior's domain (one scale for both axes; lon/lat through a local plane in km).
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import { toParams } from '../../src/nn/params.js';
import type { Tensor } from '../../src/engine/tensor.js';
import type { Weights } from '../../src/train/checkpoint.js';
import { adaptWeights } from '../../src/train/init-weights.js';
import { modelBase, type ModelSize } from '../../src/train/table-model.js';
import { parseConfig } from '../../src/models/config.js';

/** A model of `size` for s (2-D, Euclidean), t and x dims and Gaussian outputs. */
function modelForShape(shape: { s: number; t: number; x: number; output: { kind: 'gaussian'; dims: number } }, _distance: 'euclidean', size: ModelSize) {
  return parseConfig({
    ...modelBase(size),
    groups: {
      s: { dims: shape.s, embed: false, bias: { family: 'rbf', numBasis: 5, distance: 'euclidean' } },
      t: shape.t > 0 ? { dims: shape.t, embed: false, bias: { family: 'rbf', numBasis: 3, distance: 'euclidean' } } : null,
      x: shape.x > 0 ? { dims: shape.x, embed: true, bias: null } : null,
    },
    output: { kind: 'gaussian', dims: shape.output.dims, minStd: 0 },
  });
}
import { EARTH_RADIUS_KM, priorDomain, spatialMap, timeMap, withoutTime } from '../../src/train/prior-domain.js';
import { parseModelFolderConfig } from '../../src/models/config.js';

const backend = new CpuBackend();

async function predict(model: ReturnType<typeof modelForShape>, w: Weights, x: Float32Array, Dx: number): Promise<Float32Array> {
  const net = new BsaTnp(model);
  const specs = net.specs(Rng.fromSeed(0));
  const ts = specs.map((s) => E.tensor(w.get(s.name)!.data, s.shape, backend));
  const rng = Rng.fromSeed(9);
  const Nc = 6, Nt = 4;
  const s = E.tensor(Float32Array.from({ length: (Nc + Nt) * 2 }, () => rng.normal()), [1, Nc + Nt, 2], backend);
  const sc = E.slice(s, [0, 0, 0], [1, Nc, 2]), st = E.slice(s, [0, Nc, 0], [1, Nt, 2]);
  const xc = E.tensor(x.subarray(0, Nc * Dx), [1, Nc, Dx], backend), xt = E.tensor(x.subarray(Nc * Dx), [1, Nt, Dx], backend);
  const f = E.tensor(Float32Array.from({ length: Nc }, () => rng.normal()), [1, Nc, 1], backend);
  const out = net.forward(toParams(specs, ts), { ctx: { f, coords: { s: sc, x: xc } }, test: { s: st, x: xt } });
  if (out.kind !== 'gaussian') throw new Error('gaussian expected');
  const m = await out.mean.data();
  for (const t of [...ts, s, sc, st, xc, xt, f, out.mean, out.std]) t.dispose();
  return m;
}

describe('adaptWeights', () => {
  const shape = (x: number) => ({ s: 2, t: 0, x, output: { kind: 'gaussian' as const, dims: 1 } });
  const prior = modelForShape(shape(1), 'euclidean', 'small');
  const priorW: Weights = new Map(new BsaTnp(prior).specs(Rng.fromSeed(4)).map((s) => [s.name, { shape: [...s.shape], data: s.init }]));

  it('a new covariate column starts with zero weight: predictions equal the prior\'s', async () => {
    const next = modelForShape(shape(2), 'euclidean', 'small');
    const w = adaptWeights(prior, priorW, ['elev'], next, ['elev', 'urban']);
    const rng = Rng.fromSeed(2);
    const elev = Array.from({ length: 10 }, () => rng.normal());
    const x1 = Float32Array.from(elev);
    const x2 = Float32Array.from(elev.flatMap((e) => [e, 5 * rng.normal()]));
    const a = await predict(prior, priorW, x1, 1);
    const b = await predict(next, w, x2, 2);
    expect(Array.from(b)).toEqual(Array.from(a));
    // And the new rows really are the only difference: a non-zero row would change the output.
    const moved: Weights = new Map(w);
    const m = w.get('mlp_in.0.weight')!;
    const data = Float32Array.from(m.data);
    const width = m.shape[1]!;
    const row = 4 + 1; // obs embedding (4), elev, then urban
    for (let j = 0; j < width; j++) { expect(data[row * width + j]).toBe(0); data[row * width + j] = 0.5; }
    moved.set('mlp_in.0.weight', { shape: m.shape, data });
    expect(Array.from(await predict(next, moved, x2, 2))).not.toEqual(Array.from(a));
  });

  it('mismatches are named', () => {
    const other = modelForShape({ ...shape(1), output: { kind: 'gaussian', dims: 2 } }, 'euclidean', 'small');
    expect(() => adaptWeights(prior, priorW, ['elev'], other, ['elev'])).toThrow(/--init: the model's output is .*"dims":1.*the new data needs .*"dims":2.*the outputs \(--f\) must be those of the initial model/);
    const big = modelForShape(shape(1), 'euclidean', 'paper');
    expect(() => adaptWeights(prior, priorW, ['elev'], big, ['elev'])).toThrow("--init: the model's blocks is 2, the new data needs 6");
    const noT = modelForShape({ ...shape(1), t: 1 }, 'euclidean', 'small');
    expect(() => adaptWeights(prior, priorW, ['elev'], noT, ['elev'])).toThrow("--init: the model's 't' group is null");
    expect(() => adaptWeights(prior, priorW, ['elev'], modelForShape(shape(1), 'euclidean', 'small'), ['slope'])).toThrow("the new data lacks covariate(s) 'elev' of the initial model");
  });

  it('output.standardize may be switched on: the same weights, which now see standardised values', () => {
    const std = { ...prior, output: { kind: 'gaussian' as const, dims: 1, minStd: 0, standardize: true } };
    const w = adaptWeights(prior, priorW, ['elev'], std, ['elev']);
    expect([...w.keys()]).toEqual([...priorW.keys()]);
    for (const [k, v] of w) expect(Array.from(v.data)).toEqual(Array.from(priorW.get(k)!.data));
    // minStd still has to match (it changes the function's range, not only its inputs).
    const floor = { ...prior, output: { kind: 'gaussian' as const, dims: 1, minStd: 0.1, standardize: true } };
    expect(() => adaptWeights(prior, priorW, ['elev'], floor, ['elev'])).toThrow("--init: the model's output is");
  });
});

describe('prior domain', () => {
  it('reads the box of a GP-trained model; none for a table-trained one', () => {
    const cfg = parseModelFolderConfig({
      formatVersion: 1, model: { groups: { t: { dims: 1, embed: false } } },
      training: { task: { name: 'gp-mixture', options: { lo: -3 } } },
    });
    expect(priorDomain(cfg)).toEqual({ s: { lo: [-3, -3], hi: [2, 2] }, t: { lo: 0, hi: 4 }, source: "training task 'gp-mixture'" });
    expect(priorDomain(parseModelFolderConfig({ formatVersion: 1, model: {}, training: { task: { name: 'table', options: {} } } }))).toBeNull();
  });

  it('space: one scale for both axes, the data box centred in the prior box', () => {
    const { stats, scale } = spatialMap(['a', 'b'], [Float64Array.of(10, 30), Float64Array.of(0, 5)], { lo: [-2, -2], hi: [2, 2] }, false);
    expect(scale).toBeCloseTo(4 / 20, 12);
    const z = (c: string, v: number) => (v - stats[c]!.mean) / stats[c]!.std;
    expect([z('a', 10), z('a', 30), z('b', 0), z('b', 5)].map((v) => +v.toFixed(12))).toEqual([-2, 2, -0.5, 0.5]);
  });

  it('lon/lat: distances in the prior\'s units are proportional to km on the local plane', () => {
    const lon = Float64Array.of(6, 15), lat = Float64Array.of(47, 55);
    const { stats, scale } = spatialMap(['lon', 'lat'], [lon, lat], { lo: [-2, -2], hi: [2, 2] }, true);
    const z = (c: string, v: number) => (v - stats[c]!.mean) / stats[c]!.std;
    // 1° of latitude = R·π/180 km anywhere; 1° of longitude at the centre latitude 51° = that × cos 51°.
    const kmLat = EARTH_RADIUS_KM * Math.PI / 180;
    expect(z('lat', 52) - z('lat', 51)).toBeCloseTo(kmLat * scale, 10);
    expect(z('lon', 11) - z('lon', 10)).toBeCloseTo(kmLat * Math.cos((51 * Math.PI) / 180) * scale, 10);
    // The larger extent (lat: 8° ≈ 890 km vs lon: 9°·cos 51° ≈ 630 km) fills [−2, 2].
    expect(z('lat', 47)).toBeCloseTo(-2, 10);
    expect(z('lat', 55)).toBeCloseTo(2, 10);
    expect(Math.abs(z('lon', 6))).toBeLessThan(2);
  });

  it('time: the span onto [0, tMax]; a single time onto 0', () => {
    const s = timeMap(Float64Array.of(100, 130, 110), { lo: 0, hi: 4 });
    expect((130 - s.mean) / s.std).toBeCloseTo(4, 12);
    expect((100 - s.mean) / s.std).toBeCloseTo(0, 12);
    const one = timeMap(Float64Array.of(7, 7), { lo: 0, hi: 4 });
    expect((7 - one.mean) / one.std).toBe(0);
  });
});

describe('withoutTime', () => {
  it('a space–time prior at one time equals the prior with its time bias dropped', async () => {
    const model = modelForShape({ s: 2, t: 1, x: 0, output: { kind: 'gaussian', dims: 1 } }, 'euclidean', 'small');
    const config = parseModelFolderConfig({ formatVersion: 1, model, training: { task: { name: 'gp-mixture', options: {} } } });
    const specs = new BsaTnp(model).specs(Rng.fromSeed(3));
    const weights = new Map(specs.map((s) => [s.name, { shape: [...s.shape], data: s.init }]));
    const dropped = withoutTime(config, weights)!;
    expect(dropped.config.model.groups.t).toBeNull();
    expect(dropped.weights.size).toBeLessThan(weights.size);
    expect([...dropped.weights.keys()].some((k) => k.includes('bias_t'))).toBe(false);
    const rng = Rng.fromSeed(8);
    const Nc = 7, Nt = 5;
    const r = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    const sc = r(Nc * 2), st = r(Nt * 2), f = r(Nc);
    const run = async (m: typeof model, w: typeof weights, withT: boolean) => {
      const net = new BsaTnp(m);
      const sp = net.specs(Rng.fromSeed(0));
      const ts = sp.map((s) => E.tensor(w.get(s.name)!.data, s.shape, backend));
      const made = [E.tensor(sc, [1, Nc, 2], backend), E.tensor(st, [1, Nt, 2], backend), E.tensor(f, [1, Nc, 1], backend),
        E.tensor(new Float32Array(Nc).fill(2.5), [1, Nc, 1], backend), E.tensor(new Float32Array(Nt).fill(2.5), [1, Nt, 1], backend)];
      const [a, b, fc, tc, tt] = made as [Tensor, Tensor, Tensor, Tensor, Tensor];
      const out = net.forward(toParams(sp, ts), { ctx: { f: fc, coords: withT ? { s: a, t: tc } : { s: a } }, test: withT ? { s: b, t: tt } : { s: b } });
      if (out.kind !== 'gaussian') throw new Error('gaussian expected');
      const res = [await out.mean.data(), await out.std.data()];
      for (const t of [...ts, ...made, out.mean, out.std]) t.dispose();
      return res;
    };
    const [m1, s1] = await run(model, weights, true);
    const [m2, s2] = await run(dropped.config.model as typeof model, dropped.weights, false);
    m1!.forEach((v, i) => expect(m2![i]).toBeCloseTo(v, 5));
    s1!.forEach((v, i) => expect(s2![i]).toBeCloseTo(v, 5));
    // An embedded time is not droppable.
    const emb = parseModelFolderConfig({ formatVersion: 1, model: { ...model, groups: { ...model.groups, t: { dims: 1, embed: true, bias: null } } } });
    expect(withoutTime(emb, weights)).toBeNull();
  });
});
