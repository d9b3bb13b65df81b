/**
 * `bsa-tnp info <model-folder>`: shows a model folder's configuration and the data schema (the
 * table columns it expects, with units, categories, time encoding, transforms and normalisation), after checking config.json and the model.safetensors header (weights are not loaded).
 */
import * as path from 'node:path';
import { type CommandSpec, CliError, EXIT_OK } from '../args.js';
import { type AnyModelConfig, type DataSchema, type GroupConfig, type ModelConfig, type TaskConfig, headOutputDims, tokenDims } from '../../models/config.js';
import { countModelParameters } from '../../models/registry.js';
import { outputColumnNames, schemaColumns } from '../../data/schema/index.js';
import { ModelFolderError, readModelFolderInfo, storedParameterCount } from '../../train/model-folder.js';

function describeGroup(name: string, g: GroupConfig | null): string {
  if (g === null) return `${name}: absent`;
  const bias = g.bias === null
    ? 'no bias'
    : `bias ${g.bias.family}${g.bias.family === 'scalar' ? '' : ` F=${g.bias.numBasis}`} on ${g.bias.distance} distance`;
  return `${name}: ${g.dims} dim${g.dims > 1 ? 's' : ''}, ${g.embed ? 'in tokens' : 'not in tokens'}, ${bias}`;
}

/** One line per trunk part of a baseline (baselines.md). */
function describeBaseline(m: Exclude<AnyModelConfig, ModelConfig>): string[] {
  if (m.kind === 'tnp-d') {
    return [`  TNP-D (${m.norm}-norm): ${m.blocks} blocks, width ${m.embedDim}, ${m.heads} heads x ${m.headDim}, dense attention; input MLP [${m.inputMlp.join(', ')}], FFN [${m.ffn.join(', ')}], head [${[...m.headHidden, headOutputDims(m)].join(', ')}] ${m.activation}`];
  }
  if (m.kind === 'te-tnp') {
    const pt = m.pseudoTokens > 0 ? `${m.pseudoTokens} pseudo tokens` : 'vanilla (no pseudo tokens)';
    return [`  TE-TNP: ${m.layers} layers, ${pt}, width ${m.embedDim}, ${m.heads} heads x ${m.headDim}; pairwise MLP [${[...m.pairMlp, m.heads].join(', ')}], head [${[...m.headHidden, headOutputDims(m)].join(', ')}] ${m.activation}`];
  }
  return [`  ConvCNP: grid [${m.grid.lo.join(', ')}] to [${m.grid.hi.join(', ')}] at ${m.pointsPerUnit} points per unit, ${m.blocks} residual blocks, ${m.channels} channels, ${m.kernelSize}x${m.kernelSize} depthwise kernels; head [${[...m.headHidden, headOutputDims(m)].join(', ')}]`];
}

function describeModel(m: AnyModelConfig): string[] {
  if (m.kind !== undefined && m.kind !== 'bsa-tnp') {
    const out = m.output.kind === 'gaussian' ? `gaussian, Df=${m.output.dims}, min std ${m.output.minStd}` : `categorical, ${m.output.classes} classes`;
    return [...describeBaseline(m as Exclude<AnyModelConfig, ModelConfig>), `  output: ${out}`, ...(['x', 's', 't'] as const).map((g) => `  ${describeGroup(g, m.groups[g])}`)];
  }
  const out = m.output.kind === 'gaussian'
    ? `gaussian, Df=${m.output.dims}, min std ${m.output.minStd}`
    : `categorical, ${m.output.classes} classes`;
  return [
    `  trunk: ${m.blocks} blocks x ${m.reps} repeat${m.reps > 1 ? 's' : ''}, width ${m.embedDim}, ${m.heads} heads x ${m.headDim}, ${m.attention} attention (tiles ${m.tile.queries}x${m.tile.keys})`,
    `  tokens: width ${tokenDims(m)} (obs embedding ${m.obsEmbedDim}); input MLP [${m.inputMlp.join(', ')}] ${m.activation} + LayerNorm`,
    `  FFN [${m.ffn.join(', ')}]; head [${[...m.headHidden, headOutputDims(m)].join(', ')}]; LayerNorm eps ${m.layerNormEps}`,
    `  output: ${out}`,
    ...(['x', 's', 't'] as const).map((g) => `  ${describeGroup(g, m.groups[g])}`),
  ];
}

/** Data and task settings of a model trained on a table (`train --data`) or fitted (`fit`). */
function describeTableTask(task: TaskConfig): string[] {
  const o = task.options as Record<string, unknown>;
  if (task.name === 'table') {
    const w = o.window === null ? 'all time steps' : `${String(o.window)} time step(s)`;
    return [
      `  data: ${String(o.file)} (${String(o.rows)} rows)`,
      `  task: ${String(o.kind)}${o.kind === 'forecast' ? `, the last ${String(o.horizon)} of each window of ${w}` : `, windows of ${w}`}; ` +
        `at most ${String(o.maxContext)} context and ${String(o.maxTargets)} target rows per task`,
      `  split: ${String(o.split)} (train, validation fractions; test = the rest); 'bsa-tnp eval --data FILE' scores the test part`,
    ];
  }
  if (task.name === 'fit') {
    return [
      `  fitted from the prior ${String(o.prior)} to ${String(o.file)} (${String(o.rows)} rows), ${Math.round(Number(o.holdout) * 100)} % held out for early stopping`,
      ...(typeof o.zeroShotNll === 'number' ? [`  held-out NLL of the prior before fitting: ${o.zeroShotNll.toFixed(4)} (model units)`] : []),
    ];
  }
  return [];
}

/** The data schema in words: columns by role with units, time encoding, categories, transforms, normalisation. */
export function describeSchema(d: DataSchema, model: AnyModelConfig): string[] {
  const unit = (c: string) => (d.units[c] !== undefined ? ` [${d.units[c]}]` : '');
  const cols = (names: readonly string[]) => names.map((c) => `${c}${unit(c)}`).join(', ');
  const roles = schemaColumns(d);
  const xText = roles.x.map((c) => {
    const cats = d.categories?.[c];
    return cats ? `${c} (text, one-hot: ${cats.join(', ')})` : `${c}${unit(c)}`;
  }).join(', ');
  const tText = roles.t.map((c) => {
    const enc = d.times?.[c];
    return enc?.format === 'iso' ? `${c} (ISO 8601 dates/times, counted in ${enc.unit}s since 1970-01-01)` : `${c}${unit(c)}`;
  }).join(', ');
  const fText = roles.f.map((c) => {
    const tr = d.transforms?.[c];
    const cats = d.categories?.[c];
    const extra = cats ? ` (classes: ${cats.join(', ')})`
      : model.output.kind === 'categorical' ? ' (integer class label)'
      : tr ? ` (modelled as ${tr.kind === 'boxcox' ? `Box-Cox, lambda ${tr.lambda.toPrecision(4)}` : `${tr.kind}(${c})`})` : '';
    return `${c}${unit(c)}${extra}`;
  }).join(', ');
  const lines = [
    'table columns (CSV, Parquet or GeoJSON):',
    ...(roles.s.length > 0 ? [`  s (location): ${cols(roles.s)}; distance ${d.distance}`] : []),
    ...(roles.t.length > 0 ? [`  t (time): ${tText}`] : []),
    ...(roles.x.length > 0 ? [`  x (covariates): ${xText}`] : []),
    `  f (values): ${fText}`,
    `  context CSV needs: ${[...roles.s, ...roles.t, ...roles.x, ...roles.f].join(', ')}`,
    `  query CSV needs: ${[...roles.s, ...roles.t, ...roles.x].join(', ') || '(no columns)'}`,
    '  (CSV, Parquet or GeoJSON; other columns are ignored in the context and carried through from the targets)',
    `  predictions: ${outputColumnNames(d, model.output.kind, model.output.kind === 'categorical' ? model.output.classes : 0).join(', ')}`,
  ];
  const norm = Object.entries(d.normalization);
  if (norm.length > 0) {
    lines.push('normalisation (from training data):', ...norm.map(([c, s]) => `  ${c}: mean ${s.mean}, std ${s.std}${d.transforms?.[c] ? ` (of ${d.transforms[c]!.kind}-transformed values)` : ''}`));
  }
  return lines;
}

export const infoCommand: CommandSpec = {
  name: 'info',
  summary: 'Show a model folder: configuration, expected table columns (schema), weights.',
  positionals: { names: ['<model-folder>'], min: 1, max: 1 },
  description: `
Reads <model-folder>/config.json and the header of <model-folder>/model.safetensors, checks that
they are valid and agree, and prints the model configuration and the CSV columns that 'predict'
expects. Exits 1 with the reason if the folder is missing, incomplete or corrupt.

Example:
  bsa-tnp info runs/gp2d`,
  options: {
    json: { type: 'boolean', description: 'print everything as one JSON object' },
  },
  async run(args, ctx) {
    const folder = path.resolve(ctx.cwd, args.positionals[0]!);
    let info;
    try {
      info = readModelFolderInfo(folder);
    } catch (e) {
      if (e instanceof ModelFolderError) throw new CliError(`info: ${e.message}`);
      throw e;
    }
    const { config, header } = info;
    const expected = countModelParameters(config.model);
    const stored = storedParameterCount(header);
    if (stored !== expected) {
      throw new CliError(
        `info: ${path.join(info.folder, 'model.safetensors')} holds ${stored} parameters in ${header.entries.length} tensors, ` +
          `but config.json's model needs ${expected}: the weights do not belong to this configuration`,
      );
    }
    if (info.recovered) ctx.stderr.write(`info: restored ${info.folder} from ${info.folder}.old (an interrupted write)\n`);
    if (args.values.json === true) {
      ctx.stdout.write(`${JSON.stringify({
        folder: info.folder,
        config,
        parameters: stored,
        tensors: header.entries.map((e) => ({ name: e.name, shape: e.shape })),
        metadata: header.metadata,
      }, null, 2)}\n`);
      return EXIT_OK;
    }
    const lines = [
      `model folder: ${info.folder}`,
      `format version: ${config.formatVersion}`,
      `parameters: ${stored.toLocaleString('en-US')} in ${header.entries.length} tensors`,
      'model:',
      ...describeModel(config.model),
      ...describeSchema(config.data, config.model),
    ];
    if (config.training !== null) {
      const t = config.training;
      const after = t.initSteps ? ` after ${t.initSteps} steps of earlier training (train --init; ${t.steps + t.initSteps} in all)` : '';
      lines.push(`training: task ${t.task.name}, ${t.steps} steps${after}, batch ${t.batchSize}, lr ${t.lr} (${t.schedule}), seed ${t.seed}`);
      lines.push(...describeTableTask(t.task));
    }
    const meta = Object.entries(header.metadata);
    if (meta.length > 0) lines.push('metadata:', ...meta.map(([k, v]) => `  ${k}: ${v}`));
    ctx.stdout.write(`${lines.join('\n')}\n`);
    return EXIT_OK;
  },
};
