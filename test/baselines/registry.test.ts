/**
 * The model registry: named paper models → configurations with the spec's parameter counts
 * (baselines.md, model.md §9), count formulas equal to the built layouts, configurations that
 * round-trip through JSON, model folders without `kind` still BSA-TNP, and error texts.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import { DEFAULT_CONFIG, parseAnyConfig, parseModelFolderConfig, type AnyModelConfig } from '../../src/models/config.js';
import { buildModel, countModelParameters, MODEL_NAMES, modelConfigFor, regridFor, type TaskShape } from '../../src/models/registry.js';
import { resolveTask } from '../../src/train/tasks.js';
import { ConvCnp } from '../../src/models/convcnp.js';
import { countParams } from '../../src/nn/params.js';
import { TnpD } from '../../src/models/tnp-d.js';
import * as E from '../../src/engine/ops.js';
import { materialise, toParams } from '../../src/nn/params.js';
import { cpuBackend } from '../helpers/backends.js';

const GNEITING: TaskShape = { dims: { s: 2, t: 1 }, output: { kind: 'gaussian', dims: 1, minStd: 0.05 } };
const BEIJING: TaskShape = { dims: { x: 27, s: 2, t: 1 }, output: { kind: 'gaussian', dims: 2, minStd: 0 } };
const SIR: TaskShape = { output: { kind: 'categorical', classes: 3 } };

/** A small copy of a configuration (same kind and groups) so its layout builds in milliseconds. */
function shrink(c: AnyModelConfig): AnyModelConfig {
  switch (c.kind) {
    case 'tnp-d': return { ...c, blocks: 2, embedDim: 8, heads: 2, headDim: 4, inputMlp: [8], ffn: [6, 8], headHidden: [5] };
    case 'te-tnp': return { ...c, layers: 2, pseudoTokens: Math.min(c.pseudoTokens, 3), embedDim: 8, heads: 2, headDim: 4, embedMlp: [8], pairMlp: [4], ffn: [8], headHidden: [5] };
    case 'convcnp': return { ...c, channels: 4, blocks: 1, kernelSize: 3, headHidden: [5] };
    default: return { ...c, blocks: 2, embedDim: 8, heads: 2, headDim: 4, inputMlp: [8], ffn: [6, 8], headHidden: [5] };
  }
}

describe('model registry', () => {
  it.each([
    ['bsa-tnp', {}, 475_770],
    ['tnp-d', {}, 474_754],
    ['tnp-d-prenorm', {}, 474_754 + 128],
    ['te-tnp', {}, 1_832_378],
    ['te-tnp-128', {}, 1_844_858],
    ['convcnp', {}, 503_173],
    ['sa-tnp', {}, 476_042],
    ['geo-bsa-tnp', {}, 475_770],
    ['bsa-tnp', SIR, 476_467],
    ['only-embed', GNEITING, 476_298],
    ['only-bias', GNEITING, 475_914],
    ['only-embed', BEIJING, 483_596],
    ['only-bias', BEIJING, 483_212],
  ] as [string, TaskShape, number][])('%s for %j: %d parameters', (name, task, n) => {
    expect(countModelParameters(modelConfigFor(name, task))).toBe(n);
  });

  it('named variants are the spec\'s configurations', () => {
    const sa = modelConfigFor('sa-tnp');
    const geo = modelConfigFor('geo-bsa-tnp');
    const oe = modelConfigFor('only-embed', GNEITING);
    if (sa.kind || geo.kind || oe.kind) throw new Error('expected BSA-TNP configurations');
    expect(sa.groups.s).toEqual({ dims: 2, embed: true, bias: null });
    expect(sa.attention).toBe('scan');
    expect(geo.groups.s?.bias).toEqual({ family: 'rbf', numBasis: 5, distance: 'great-circle' });
    expect(oe.attention).toBe('dense');
    expect([oe.groups.s?.embed, oe.groups.t?.embed, oe.groups.s?.bias, oe.groups.t?.bias]).toEqual([true, true, null, null]);
    const cc = modelConfigFor('convcnp', { domain: { lo: [8, 8], hi: [12, 12] } });
    expect(cc.kind === 'convcnp' && cc.grid).toEqual({ lo: [7.5, 7.5], hi: [12.5, 12.5] });
    expect(modelConfigFor('te-tnp-vanilla')).toMatchObject({ kind: 'te-tnp', pseudoTokens: 0 });
  });

  it('evaluation copies: ConvCNP trained on the 2-D GP is re-gridded onto the shifted ([7.5, 12.5]², 80²) and scaled ([-4.5, 4.5]², 144²) domains; other models are unchanged', () => {
    const train = resolveTask({ name: 'gp2d', options: {} }, 8).shape;
    const cc = modelConfigFor('convcnp', train);
    const shifted = regridFor(cc, resolveTask({ name: 'gp2d-shifted', options: {} }, 8).shape);
    const scaled = regridFor(cc, resolveTask({ name: 'gp2d-scaled', options: {} }, 8).shape);
    if (shifted.kind !== 'convcnp' || scaled.kind !== 'convcnp') throw new Error('expected ConvCNP configurations');
    expect([shifted.grid, new ConvCnp(shifted).gridShape]).toEqual([{ lo: [7.5, 7.5], hi: [12.5, 12.5] }, [80, 80]]);
    expect([scaled.grid, new ConvCnp(scaled).gridShape]).toEqual([{ lo: [-4.5, -4.5], hi: [4.5, 4.5] }, [144, 144]]);
    expect({ ...scaled, grid: cc.kind === 'convcnp' ? cc.grid : null }).toEqual(cc);
    const tnpd = modelConfigFor('tnp-d', train);
    expect(regridFor(tnpd, resolveTask({ name: 'gp2d-scaled', options: {} }, 8).shape)).toBe(tnpd);
  });

  it.each(MODEL_NAMES.map((n) => [n]))('%s: the count formula equals the built layout, and the config round-trips through JSON', (name) => {
    const small = shrink(modelConfigFor(name));
    expect(countParams(buildModel(small).specs(Rng.fromSeed(0)))).toBe(countModelParameters(small));
    expect(parseAnyConfig(JSON.parse(JSON.stringify(small)))).toEqual(small);
    const folder = parseModelFolderConfig({ formatVersion: 1, model: JSON.parse(JSON.stringify(small)) });
    expect(folder.model).toEqual(small);
  });

  it('a configuration without kind (every folder written before the baselines) is BSA-TNP', () => {
    const c = parseModelFolderConfig({ formatVersion: 1, model: {} }).model;
    expect(c).toEqual(DEFAULT_CONFIG);
    expect(buildModel(c)).toBeInstanceOf(BsaTnp);
    expect(parseAnyConfig({ kind: 'bsa-tnp' })).toEqual(DEFAULT_CONFIG);
    expect(buildModel(parseAnyConfig({ kind: 'tnp-d' }))).toBeInstanceOf(TnpD);
  });

  it.each([
    [{ kind: 'tnp' }, 'config.kind: expected one of "bsa-tnp", "tnp-d", "te-tnp", "convcnp", got "tnp"'],
    [{ kind: 'tnp-d', groups: { s: { embed: false } } }, 'config.groups.s.embed: must be true: TNP-D puts every coordinate group in the tokens'],
    [{ kind: 'tnp-d', groups: { s: { bias: {} } } }, 'config.groups.s.bias: must be null: TNP-D'],
    [{ kind: 'te-tnp', pseudoTokens: -1 }, 'config.pseudoTokens: expected a non-negative integer, got -1'],
    [{ kind: 'te-tnp', obsEmbedDim: 4 }, 'config.obsEmbedDim'],
    [{ kind: 'convcnp', groups: { t: { dims: 1 } } }, 'config.groups: ConvCNP here is 2-D: expected only "s" with 2 dims'],
    [{ kind: 'convcnp', kernelSize: 4 }, 'config.kernelSize: expected an odd width (SAME padding), got 4'],
    [{ kind: 'convcnp', grid: { lo: [0, 0], hi: [0.1, 1] } }, 'config.grid: gives a 1 × 16 grid'],
  ])('%j fails with "%s"', (json, message) => {
    expect(() => parseAnyConfig(json)).toThrow(message);
  });

  it('unknown names and tasks a model cannot take fail with errors that say what is expected', () => {
    expect(() => modelConfigFor('tnp')).toThrow(`model: unknown model 'tnp'; expected one of ${MODEL_NAMES.join(', ')}`);
    expect(() => modelConfigFor('convcnp', { dims: { s: 2, t: 1 } })).toThrow('model: convcnp is 2-D: it takes tasks with 2-D s and no x or t');
    expect(() => modelConfigFor('geo-bsa-tnp', { dims: { s: 3 } })).toThrow('geo-bsa-tnp needs s = (lon°, lat°), 2 dims');
  });

  it.each(['tnp-d', 'te-tnp', 'convcnp'])('%s with a categorical output (SIR shape): logits [B, Nt, 3] and a finite cross-entropy', async (name) => {
    const b = cpuBackend();
    const c = shrink(modelConfigFor(name, SIR));
    const model = buildModel(c);
    const specs = model.specs(Rng.fromSeed(0));
    const vals = materialise(specs, b);
    const p = toParams(specs, vals);
    const rng = Rng.fromSeed(3);
    const onehot = (n: number) => E.tensor(Array.from({ length: n * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)), [1, n, 3], b);
    const T = (n: number) => E.tensor(Array.from({ length: n * 2 }, () => rng.normal()), [1, n, 2], b);
    const x = { ctx: { f: onehot(6), coords: { s: T(6) } }, test: { s: T(4) } };
    const out = model.forward(p, x);
    expect(out.kind).toBe('categorical');
    if (out.kind !== 'categorical') return;
    expect(out.logits.shape).toEqual([1, 4, 3]);
    const labels = onehot(4);
    const loss = model.loss(p, x, labels);
    expect(Number.isFinite((await loss.data())[0])).toBe(true);
    [out.logits, loss, labels, x.ctx.f, x.ctx.coords.s, x.test.s, ...vals].forEach((t) => t.dispose());
    b.destroy();
  });
});
