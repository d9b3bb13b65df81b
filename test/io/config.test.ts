import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CONFIG,
  DEFAULT_TRAIN_CONFIG,
  type ModelConfig,
  countParameters,
  learningRate,
  parseConfig,
  parseModelFolderConfig,
  parseTrainConfig,
  tokenDims,
} from '../../src/models/config.js';

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const rbf = (numBasis: number) => ({ family: 'rbf', numBasis, distance: 'euclidean' });

describe('model config defaults', () => {
  it('DEFAULT_CONFIG is the paper 2D GP BSA-TNP (model.md §8–9)', () => {
    expect(DEFAULT_CONFIG.blocks).toBe(6);
    expect(DEFAULT_CONFIG.reps).toBe(1);
    expect(DEFAULT_CONFIG.heads * DEFAULT_CONFIG.headDim).toBe(128);
    expect(DEFAULT_CONFIG.groups.s).toEqual({ dims: 2, embed: false, bias: rbf(5) });
    expect(DEFAULT_CONFIG.output).toEqual({ kind: 'gaussian', dims: 1, minStd: 0 });
    expect(tokenDims(DEFAULT_CONFIG)).toBe(5);
    expect(countParameters(DEFAULT_CONFIG)).toBe(475_770);
  });

  it('parseConfig({}) returns the defaults and round-trips through JSON', () => {
    expect(parseConfig({})).toEqual(DEFAULT_CONFIG);
    const full = parseConfig(JSON.parse(JSON.stringify(DEFAULT_CONFIG)));
    expect(full).toEqual(DEFAULT_CONFIG);
  });

  // Parameter counts of model.md §9 (token in-dim and params columns).
  const table: [string, unknown, number, number][] = [
    ['SA-TNP', { groups: { s: { embed: true, bias: null } } }, 7, 476_042],
    ['SIR', { groups: { s: { bias: { family: 'tisa' } } }, output: { kind: 'categorical', classes: 3 } }, 7, 476_467],
    ['ERA5', { groups: { x: { dims: 2 }, t: { dims: 1, embed: false, bias: {} } } }, 7, 476_426],
    ['Beijing embed+bias', { groups: { x: { dims: 27 }, s: { embed: true }, t: { dims: 1, bias: {} } }, output: { dims: 2 } }, 36, 483_980],
    ['Beijing only_bias', { groups: { x: { dims: 27 }, t: { dims: 1, embed: false, bias: rbf(3) } }, output: { dims: 2 } }, 33, 483_212],
    ['Beijing only_embed', { groups: { x: { dims: 27 }, s: { embed: true, bias: null }, t: { dims: 1 } }, output: { dims: 2 }, attention: 'dense' }, 36, 483_596],
    ['Gneiting embed+bias', { groups: { s: { embed: true }, t: { dims: 1, bias: {} } }, output: { minStd: 0.05 } }, 8, 476_682],
    ['Gneiting only_bias', { groups: { t: { dims: 1, embed: false, bias: {} } } }, 5, 475_914],
    ['Gneiting only_embed', { groups: { s: { embed: true, bias: null }, t: { dims: 1 } } }, 8, 476_298],
    ['v1 fixed effects', { groups: { x: { dims: 10 } } }, 15, 478_330],
    ['Geo-BSA-TNP', { groups: { s: { bias: { distance: 'great-circle' } } } }, 5, 475_770],
  ];
  for (const [name, json, tok, params] of table) {
    it(`${name}: token dim ${tok}, ${params} parameters`, () => {
      const c: ModelConfig = parseConfig(json);
      expect(tokenDims(c)).toBe(tok);
      expect(countParameters(c)).toBe(params);
    });
  }
});

describe('model config validation', () => {
  const cases: [unknown, string][] = [
    [{ blocks: -1 }, 'config.blocks: expected a positive integer, got -1'],
    [{ blocks: 2.5 }, 'config.blocks: expected a positive integer, got 2.5'],
    [{ heads: '4' }, 'config.heads: expected a positive integer, got "4"'],
    [{ blokcs: 6 }, "config.blokcs: unknown field; did you mean 'blocks'?"],
    [{ zzz: 1 }, 'config.zzz: unknown field; known fields: groups, output,'],
    [{ groups: { s: { bias: { family: 'rbff' } } } }, 'config.groups.s.bias.family: expected one of "rbf", "tisa", "exponential", "scalar", got "rbff"; did you mean "rbf"?'],
    [{ groups: { s: { bias: { numBasis: 0 } } } }, 'config.groups.s.bias.numBasis: expected a positive integer, got 0'],
    [{ groups: { s: { embedd: false } } }, "config.groups.s.embedd: unknown field; did you mean 'embed'?"],
    [{ groups: { x: { embed: true } } }, 'config.groups.x.dims: required (a positive integer)'],
    [{ groups: { s: { dims: 3, bias: { distance: 'great-circle' } } } }, 'config.groups.s.bias.distance: "great-circle" needs 2 dims'],
    [{ groups: { u: {} } }, 'config.groups.u: unknown field; known fields: x, s, t'],
    [{ groups: [] }, 'config.groups: expected an object, got []'],
    [{ output: { kind: 'poisson' } }, 'config.output.kind: expected one of "gaussian", "categorical", got "poisson"'],
    [{ output: { minStd: 1 } }, 'config.output.minStd: expected a number in [0, 1), got 1'],
    [{ output: { kind: 'categorical' } }, 'config.output.classes: required'],
    [{ output: { kind: 'categorical', classes: 3, minStd: 0.1 } }, "config.output.minStd: unknown field"],
    [{ inputMlp: [256, 128] }, 'config.inputMlp: last width must equal embedDim (64), got [256,128]'],
    [{ ffn: [] }, 'config.ffn: expected a non-empty array of positive integers, got []'],
    [{ headHidden: [256, 0] }, 'config.headHidden[1]: expected a positive integer, got 0'],
    [{ tile: { queries: 0 } }, 'config.tile.queries: expected a positive integer, got 0'],
    [{ activation: 'tanh' }, 'config.activation: expected one of "gelu", "relu", got "tanh"'],
    [null, 'config: expected an object, got null'],
  ];
  for (const [json, message] of cases) {
    it(message, () => {
      expect(errorOf(() => parseConfig(json))).toContain(message);
    });
  }
});

describe('model folder config', () => {
  it('fills the data schema from the model', () => {
    const c = parseModelFolderConfig({ formatVersion: 1, model: {} });
    expect(c.data).toEqual({ columns: { x: [], s: ['s0', 's1'], t: [], f: ['f'] }, units: {}, distance: 'euclidean', normalization: {} });
    expect(c.training).toBeNull();
  });

  it('accepts a full schema', () => {
    const c = parseModelFolderConfig({
      formatVersion: 1,
      model: { groups: { s: { bias: { distance: 'great-circle' } }, x: { dims: 1 } } },
      data: {
        columns: { x: ['elev'], s: ['lon', 'lat'], f: ['temp'] },
        units: { lon: 'degrees', temp: 'K' },
        distance: 'great-circle',
        normalization: { temp: { mean: 280, std: 10 }, elev: { mean: 0, std: 1 } },
      },
      training: { steps: 10 },
    });
    expect(c.data.columns.s).toEqual(['lon', 'lat']);
    expect(c.training?.steps).toBe(10);
  });

  const cases: [unknown, string][] = [
    [{ model: {} }, 'config.json.formatVersion: required'],
    [{ formatVersion: 2, model: {} }, 'config.json.formatVersion: expected 1, got 2'],
    [{ formatVersion: 1 }, 'config.json.model: required'],
    [{ formatVersion: 1, model: { blocks: 0 } }, 'config.json.model.blocks: expected a positive integer, got 0'],
    [{ formatVersion: 1, model: {}, data: { columns: { s: ['a'] } } }, 'config.json.data.columns.s: expected 2 column name(s) (model.groups.s.dims), got ["a"]'],
    [{ formatVersion: 1, model: {}, data: { columns: { x: ['a'] } } }, 'config.json.data.columns.x: expected 0 column name(s) (model.groups.x is null)'],
    [{ formatVersion: 1, model: {}, data: { columns: { s: ['a', 'f'] } } }, "config.json.data.columns.f: column 'f' is already used by columns.s"],
    [{ formatVersion: 1, model: {}, data: { distance: 'great-circle' } }, 'config.json.data.distance: "great-circle" disagrees with model.groups.s.bias.distance "euclidean"'],
    [{ formatVersion: 1, model: {}, data: { normalization: { f: { mean: 0, std: 0 } } } }, 'config.json.data.normalization.f.std: expected a number in (0,'],
    [{ formatVersion: 1, model: {}, data: { normalization: { g: { mean: 0, std: 1 } } } }, 'config.json.data.normalization.g: unknown field; known fields: s0, s1, f'],
    [{ formatVersion: 1, model: {}, data: { units: { s0: '' } } }, 'config.json.data.units.s0: expected a non-empty string, got ""'],
    [{ formatVersion: 1, model: {}, training: { lr: -1 } }, 'config.json.training.lr: expected a number in (0, 1], got -1'],
  ];
  for (const [json, message] of cases) {
    it(message, () => {
      expect(errorOf(() => parseModelFolderConfig(json))).toContain(message);
    });
  }
});

describe('training config', () => {
  it('defaults follow experiments.md §1 (2D GP row)', () => {
    const c = parseTrainConfig({});
    expect(c).toEqual(DEFAULT_TRAIN_CONFIG);
    expect(c).toMatchObject({ steps: 100_000, batchSize: 8, lr: 1e-4, alpha: 2e-5, clipNorm: 0.5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, validEvery: 10_000, validBatches: 5000 });
  });

  it('cosine schedule ends at alpha·lr0', () => {
    const c = parseTrainConfig({ steps: 100, lr: 1e-3, alpha: 0.1 });
    expect(learningRate(c, 0)).toBeCloseTo(1e-3, 15);
    expect(learningRate(c, 50)).toBeCloseTo(1e-3 * (0.9 * 0.5 + 0.1), 15);
    expect(learningRate(c, 100)).toBeCloseTo(1e-4, 15);
    expect(learningRate(c, 200)).toBeCloseTo(1e-4, 15);
    expect(learningRate(parseTrainConfig({ schedule: 'constant', lr: 5e-4 }), 77)).toBe(5e-4);
  });

  const cases: [unknown, string][] = [
    [{ steps: 0 }, 'train.steps: expected a positive integer, got 0'],
    [{ batch: 8 }, "train.batch: unknown field; did you mean 'batchSize'?"],
    [{ alpha: 2 }, 'train.alpha: expected a number in [0, 1], got 2'],
    [{ beta2: 1 }, 'train.beta2: expected a number in [0, 1), got 1'],
    [{ schedule: 'linear' }, 'train.schedule: expected one of "cosine", "constant", got "linear"'],
    [{ task: { name: '' } }, 'train.task.name: expected a non-empty string, got ""'],
    [{ task: { options: [1] } }, 'train.task.options: expected an object, got an array'],
    [{ seed: -3 }, 'train.seed: expected a non-negative integer, got -3'],
  ];
  for (const [json, message] of cases) {
    it(message, () => {
      expect(errorOf(() => parseTrainConfig(json))).toContain(message);
    });
  }
});
