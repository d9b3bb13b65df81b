/**
 * The model configuration a data schema needs: `base` (trunk widths, heads, …) with its groups and
 * output replaced to fit the schema's columns. `s` keeps the base's bias family (default RBF, F=5)
 * on the schema's distance and is not put in the tokens when great-circle (raw degrees);
 * `t` gets an RBF bias (F=3) on its z-scores; `x` covariates go into the tokens without a bias
 * (one-hot categories have no useful distance). No Node built-ins.
 */
import { type GroupConfig, type ModelConfig, DEFAULT_CONFIG, parseConfig } from '../../models/config.js';
import type { DataSchema } from '../../models/data-schema.js';
import { schemaShape } from './fit.js';

export function modelForSchema(schema: DataSchema, base: ModelConfig = DEFAULT_CONFIG): ModelConfig {
  const shape = schemaShape(schema);
  const s: GroupConfig | null = shape.s === 0 ? null : {
    dims: shape.s,
    embed: schema.distance === 'great-circle' ? false : (base.groups.s?.embed ?? false),
    bias: { family: base.groups.s?.bias?.family ?? 'rbf', numBasis: base.groups.s?.bias?.numBasis ?? 5, distance: schema.distance },
  };
  const t: GroupConfig | null = shape.t === 0 ? null : {
    dims: shape.t,
    embed: base.groups.t?.embed ?? false,
    bias: { family: base.groups.t?.bias?.family ?? 'rbf', numBasis: base.groups.t?.bias?.numBasis ?? 3, distance: 'euclidean' },
  };
  const x: GroupConfig | null = shape.x === 0 ? null : { dims: shape.x, embed: true, bias: null };
  const output = shape.output.kind === 'gaussian'
    ? { kind: 'gaussian' as const, dims: shape.output.dims, minStd: base.output.kind === 'gaussian' ? base.output.minStd : 0 }
    : shape.output;
  return parseConfig(JSON.parse(JSON.stringify({ ...base, groups: { x, s, t }, output })));
}
