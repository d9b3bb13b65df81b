/**
 * Typed configurations of the paper's baselines (baselines.md §1–§3): TNP-D, TE-TNP (pseudo-token
 * and vanilla) and ConvCNP, with their defaults (the reference's 2-D GP sizes), parsers and
 * parameter counts. Each is told apart from BSA-TNP's `ModelConfig` by its `kind` field; the other
 * paper baselines (SA-TNP, Geo-BSA-TNP, only_embed, only_bias) are BSA-TNP configurations
 * (registry.ts names them). No Node built-ins here; imports only types from config.ts.
 */
import {
  ConfigError,
  finiteNumber,
  nonNegativeInt,
  numberIn,
  object,
  oneOf,
  or,
  positiveInt,
  positiveIntArray,
} from './config-checks.js';
import { parseGroup, parseOutput } from './config-groups.js';
import type { Activation, GroupConfig, GroupName, OutputConfig } from './config.js';

export const BASELINE_KINDS = ['tnp-d', 'te-tnp', 'convcnp'] as const;
export type BaselineKind = (typeof BASELINE_KINDS)[number];

type Groups = { readonly x: GroupConfig | null; readonly s: GroupConfig | null; readonly t: GroupConfig | null };
const NAMES: readonly GroupName[] = ['x', 's', 't'];

/** TNP-D (baselines.md §1): every coordinate group in the tokens, dense attention, no bias. */
export interface TnpDConfig {
  readonly kind: 'tnp-d';
  /** Every present group has `embed: true` and `bias: null`. */
  readonly groups: Groups;
  readonly output: OutputConfig;
  /** `post`: h = LN(h + MHA(h)) (2D GP, SIR, ERA5); `pre`: h = h + MHA(LN(h)), final LN (Beijing, Gneiting). */
  readonly norm: 'post' | 'pre';
  readonly blocks: number;
  readonly embedDim: number;
  readonly heads: number;
  readonly headDim: number;
  /** Input MLP widths (no LayerNorm after it); the last must equal `embedDim`. */
  readonly inputMlp: readonly number[];
  readonly ffn: readonly number[];
  readonly headHidden: readonly number[];
  readonly activation: Activation;
  readonly layerNormEps: number;
}

/** TE-TNP (baselines.md §2): translation-equivariant attention, induced set of pseudo tokens. */
export interface TeTnpConfig {
  readonly kind: 'te-tnp';
  /** Coordinates z = concat of every present group; none is in the tokens (`embed: false`), no bias. */
  readonly groups: Groups;
  readonly output: OutputConfig;
  /** Encoder layers (5). */
  readonly layers: number;
  /** M pseudo tokens (32; TE-TNP-128: 128); 0 = TE-TNP-Vanilla (test tokens read the fixed context). */
  readonly pseudoTokens: number;
  readonly embedDim: number;
  readonly heads: number;
  readonly headDim: number;
  /** Embedding MLP of concat(f, flag); the last must equal `embedDim`. */
  readonly embedMlp: readonly number[];
  /** Hidden widths of the pairwise MLP on concat(logits, z_i − z_j); its output width is `heads`. */
  readonly pairMlp: readonly number[];
  readonly ffn: readonly number[];
  readonly headHidden: readonly number[];
  readonly activation: Activation;
  readonly layerNormEps: number;
}

/** ConvCNP (baselines.md §3), 2-D: SetConv onto a grid, depthwise-separable residual CNN, SetConv back. */
export interface ConvCnpConfig {
  readonly kind: 'convcnp';
  /** Only `s` (2 dims), not embedded, no bias. */
  readonly groups: Groups;
  readonly output: OutputConfig;
  /** Grid bounds per axis of s (the task domain with 0.5 padding). */
  readonly grid: { readonly lo: readonly number[]; readonly hi: readonly number[] };
  /** Grid points per unit: floor(pointsPerUnit·(hi − lo)) per axis, ends included. */
  readonly pointsPerUnit: number;
  readonly channels: number;
  readonly blocks: number;
  /** Odd depthwise kernel width (9). */
  readonly kernelSize: number;
  readonly headHidden: readonly number[];
  /** Initial θ of every SetConv lengthscale ℓ = 1e-6 + exp(θ). */
  readonly initLogScale: number;
}

export type BaselineConfig = TnpDConfig | TeTnpConfig | ConvCnpConfig;

const S2 = { dims: 2, embed: false, bias: null } as const;
const GAUSS = { kind: 'gaussian', dims: 1, minStd: 0 } as const;

/** TNP-D of the 2-D GP config, post-norm: 474,754 parameters. */
export const DEFAULT_TNPD = {
  kind: 'tnp-d',
  groups: { x: null, s: { dims: 2, embed: true, bias: null }, t: null },
  output: GAUSS,
  norm: 'post',
  blocks: 6,
  embedDim: 64,
  heads: 4,
  headDim: 32,
  inputMlp: [256, 128, 64],
  ffn: [256, 64],
  headHidden: [256, 64],
  activation: 'relu',
  layerNormEps: 1e-6,
} as const satisfies TnpDConfig;

/** TE-TNP (M = 32) of the 2-D GP config: 1,832,378 parameters. */
export const DEFAULT_TETNP = {
  kind: 'te-tnp',
  groups: { x: null, s: S2, t: null },
  output: GAUSS,
  layers: 5,
  pseudoTokens: 32,
  embedDim: 128,
  heads: 8,
  headDim: 16,
  embedMlp: [128, 128],
  pairMlp: [128, 128],
  ffn: [128, 128],
  headHidden: [128, 128],
  activation: 'relu',
  layerNormEps: 1e-6,
} as const satisfies TeTnpConfig;

/** ConvCNP of the 2-D GP config (grid [-2.5, 2.5]², 80² points): 503,173 parameters. */
export const DEFAULT_CONVCNP = {
  kind: 'convcnp',
  groups: { x: null, s: S2, t: null },
  output: GAUSS,
  grid: { lo: [-2.5, -2.5], hi: [2.5, 2.5] },
  pointsPerUnit: 16,
  channels: 128,
  blocks: 8,
  kernelSize: 9,
  headHidden: [128, 128, 128],
  initLogScale: -1,
} as const satisfies ConvCnpConfig;

// ---------------------------------------------------------------------------------------------
// Sizes

function mlpParameters(input: number, widths: readonly number[]): number {
  let n = 0;
  let fanIn = input;
  for (const w of widths) {
    n += fanIn * w + w;
    fanIn = w;
  }
  return n;
}

/** parseOutput, refusing `standardize` (implemented for BSA-TNP only). */
function baselineOutput(v: unknown, path: string, base: OutputConfig): OutputConfig {
  const o = parseOutput(v, path, base);
  if (o.kind === 'gaussian' && o.standardize) throw new ConfigError(`${path}.standardize`, 'is implemented for BSA-TNP only; remove it for this baseline');
  return o;
}

function valueDims(o: OutputConfig): number {
  return o.kind === 'gaussian' ? o.dims : o.classes;
}

function headOutputDims(o: OutputConfig): number {
  return o.kind === 'gaussian' ? 2 * o.dims : o.classes;
}

/** Total dims of the present coordinate groups. */
export function coordDims(groups: Groups): number {
  return NAMES.reduce((n, g) => n + (groups[g]?.dims ?? 0), 0);
}

/** Width of a TNP-D token: every coordinate group, then f. */
export function tnpdTokenDims(c: TnpDConfig): number {
  return coordDims(c.groups) + valueDims(c.output);
}

/** Grid points per axis: floor(pointsPerUnit·(hi − lo)). */
export function gridSize(c: ConvCnpConfig): number[] {
  return c.grid.lo.map((lo, i) => Math.floor(c.pointsPerUnit * (c.grid.hi[i]! - lo) + 1e-9));
}

export function baselineParameters(c: BaselineConfig): number {
  const P = headOutputDims(c.output);
  const Df = valueDims(c.output);
  if (c.kind === 'tnp-d') {
    const e = c.embedDim;
    const inner = c.heads * c.headDim;
    const block = 2 * (2 * e) + 3 * (e * inner + inner) + (inner * e + e) + mlpParameters(e, c.ffn);
    return mlpParameters(tnpdTokenDims(c), c.inputMlp) + c.blocks * block + (c.norm === 'pre' ? 2 * e : 0) +
      mlpParameters(e, [...c.headHidden, P]);
  }
  if (c.kind === 'te-tnp') {
    const e = c.embedDim;
    const inner = c.heads * c.headDim;
    const dz = coordDims(c.groups);
    const block = 2 * e + 3 * (e * inner + inner) + (inner * e + e) + mlpParameters(c.heads + dz, [...c.pairMlp, c.heads]) +
      2 * e + mlpParameters(e, c.ffn);
    const perLayer = c.pseudoTokens > 0 ? 3 : 1;
    return mlpParameters(Df + 1, c.embedMlp) + c.layers * perLayer * block + c.pseudoTokens * (e + dz) +
      mlpParameters(e, [...c.headHidden, P]);
  }
  const C = c.channels;
  const k2 = c.kernelSize * c.kernelSize;
  const block = 2 * (2 * C) + 2 * (k2 * C + C) + 2 * (C * C + C);
  return (Df + 1) + ((Df + 1) * C + C) + c.blocks * block + (C + 1) + ((C + 1) * C + C) + mlpParameters(C, [...c.headHidden, P]);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * The `groups` section with the baseline's rule on `embed` and `bias`: absent fields take the
 * rule's values (`embed`), a group that breaks the rule is an error that says why.
 */
function parseGroups(v: unknown, path: string, defaults: Groups, embed: boolean, why: string): Groups {
  const o = object(or(v, {}), path, NAMES);
  const out: Record<GroupName, GroupConfig | null> = { x: null, s: null, t: null };
  for (const g of NAMES) {
    const p = `${path}.${g}`;
    let raw = o[g];
    if (raw !== undefined && raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
      const r = raw as Record<string, unknown>;
      raw = { ...r, embed: r.embed ?? embed, bias: r.bias === undefined ? null : r.bias };
    }
    const grp = parseGroup(or(raw, defaults[g]), p, g, defaults[g]);
    if (grp && grp.embed !== embed) throw new ConfigError(`${p}.embed`, `must be ${embed}: ${why}`);
    if (grp && grp.bias !== null) throw new ConfigError(`${p}.bias`, `must be null: ${why}`);
    out[g] = grp;
  }
  if (coordDims(out) === 0) throw new ConfigError(path, 'at least one coordinate group (x, s or t) is needed');
  return out;
}

function activation(v: unknown, path: string, d: Activation): Activation {
  return oneOf(or(v, d), path, ['gelu', 'relu'] as const);
}

function lastIs(widths: readonly number[], e: number, path: string, what: string): void {
  if (widths.at(-1) !== e) throw new ConfigError(path, `last width must equal ${what} (${e}), got ${JSON.stringify(widths)}`);
}

function parseTnpD(json: unknown, path: string): TnpDConfig {
  const d: TnpDConfig = DEFAULT_TNPD;
  const o = object(json, path, Object.keys(d));
  const c: TnpDConfig = {
    kind: 'tnp-d',
    groups: parseGroups(o.groups, `${path}.groups`, d.groups, true, 'TNP-D puts every coordinate group in the tokens and has no attention bias'),
    output: baselineOutput(or(o.output, {}), `${path}.output`, d.output),
    norm: oneOf(or(o.norm, d.norm), `${path}.norm`, ['post', 'pre'] as const),
    blocks: positiveInt(or(o.blocks, d.blocks), `${path}.blocks`),
    embedDim: positiveInt(or(o.embedDim, d.embedDim), `${path}.embedDim`),
    heads: positiveInt(or(o.heads, d.heads), `${path}.heads`),
    headDim: positiveInt(or(o.headDim, d.headDim), `${path}.headDim`),
    inputMlp: positiveIntArray(or(o.inputMlp, d.inputMlp), `${path}.inputMlp`),
    ffn: positiveIntArray(or(o.ffn, d.ffn), `${path}.ffn`),
    headHidden: positiveIntArray(or(o.headHidden, d.headHidden), `${path}.headHidden`),
    activation: activation(o.activation, `${path}.activation`, d.activation),
    layerNormEps: numberIn(or(o.layerNormEps, d.layerNormEps), `${path}.layerNormEps`, 0, 1, { lo: true }),
  };
  lastIs(c.inputMlp, c.embedDim, `${path}.inputMlp`, 'embedDim');
  lastIs(c.ffn, c.embedDim, `${path}.ffn`, 'embedDim for the residual');
  return c;
}

function parseTeTnp(json: unknown, path: string): TeTnpConfig {
  const d: TeTnpConfig = DEFAULT_TETNP;
  const o = object(json, path, Object.keys(d));
  const c: TeTnpConfig = {
    kind: 'te-tnp',
    groups: parseGroups(o.groups, `${path}.groups`, d.groups, false, 'TE-TNP reads every coordinate group only through differences z_i − z_j'),
    output: baselineOutput(or(o.output, {}), `${path}.output`, d.output),
    layers: positiveInt(or(o.layers, d.layers), `${path}.layers`),
    pseudoTokens: nonNegativeInt(or(o.pseudoTokens, d.pseudoTokens), `${path}.pseudoTokens`),
    embedDim: positiveInt(or(o.embedDim, d.embedDim), `${path}.embedDim`),
    heads: positiveInt(or(o.heads, d.heads), `${path}.heads`),
    headDim: positiveInt(or(o.headDim, d.headDim), `${path}.headDim`),
    embedMlp: positiveIntArray(or(o.embedMlp, d.embedMlp), `${path}.embedMlp`),
    pairMlp: positiveIntArray(or(o.pairMlp, d.pairMlp), `${path}.pairMlp`),
    ffn: positiveIntArray(or(o.ffn, d.ffn), `${path}.ffn`),
    headHidden: positiveIntArray(or(o.headHidden, d.headHidden), `${path}.headHidden`),
    activation: activation(o.activation, `${path}.activation`, d.activation),
    layerNormEps: numberIn(or(o.layerNormEps, d.layerNormEps), `${path}.layerNormEps`, 0, 1, { lo: true }),
  };
  lastIs(c.embedMlp, c.embedDim, `${path}.embedMlp`, 'embedDim');
  lastIs(c.ffn, c.embedDim, `${path}.ffn`, 'embedDim for the residual');
  return c;
}

function numberPair(v: unknown, path: string): number[] {
  if (!Array.isArray(v) || v.length !== 2) throw new ConfigError(path, `expected 2 numbers (one per axis of s), got ${JSON.stringify(v)}`);
  return v.map((x, i) => finiteNumber(x, `${path}[${i}]`));
}

function parseConvCnp(json: unknown, path: string): ConvCnpConfig {
  const d: ConvCnpConfig = DEFAULT_CONVCNP;
  const o = object(json, path, Object.keys(d));
  const groups = parseGroups(o.groups, `${path}.groups`, d.groups, false, 'ConvCNP reads locations only by gridding them');
  if (groups.x !== null || groups.t !== null || groups.s?.dims !== 2) {
    throw new ConfigError(`${path}.groups`, 'ConvCNP here is 2-D: expected only "s" with 2 dims (x and t null)');
  }
  const g = object(or(o.grid, {}), `${path}.grid`, ['lo', 'hi']);
  const grid = { lo: numberPair(or(g.lo, d.grid.lo), `${path}.grid.lo`), hi: numberPair(or(g.hi, d.grid.hi), `${path}.grid.hi`) };
  const c: ConvCnpConfig = {
    kind: 'convcnp',
    groups,
    output: baselineOutput(or(o.output, {}), `${path}.output`, d.output),
    grid,
    pointsPerUnit: numberIn(or(o.pointsPerUnit, d.pointsPerUnit), `${path}.pointsPerUnit`, 0, 1e6, { lo: true }),
    channels: positiveInt(or(o.channels, d.channels), `${path}.channels`),
    blocks: nonNegativeInt(or(o.blocks, d.blocks), `${path}.blocks`),
    kernelSize: positiveInt(or(o.kernelSize, d.kernelSize), `${path}.kernelSize`),
    headHidden: positiveIntArray(or(o.headHidden, d.headHidden), `${path}.headHidden`),
    initLogScale: finiteNumber(or(o.initLogScale, d.initLogScale), `${path}.initLogScale`),
  };
  if (c.kernelSize % 2 !== 1) throw new ConfigError(`${path}.kernelSize`, `expected an odd width (SAME padding), got ${c.kernelSize}`);
  const n = gridSize(c);
  if (n.some((k) => k < 2)) {
    throw new ConfigError(`${path}.grid`, `gives a ${n.join(' × ')} grid; expected at least 2 points per axis (hi > lo, pointsPerUnit·(hi − lo) ≥ 2)`);
  }
  return c;
}

/** Validates a baseline configuration of the given kind; absent fields take the defaults above. */
export function parseBaselineConfig(json: unknown, path: string, kind: 'bsa-tnp' | BaselineKind): BaselineConfig {
  switch (kind) {
    case 'tnp-d': return parseTnpD(json, path);
    case 'te-tnp': return parseTeTnp(json, path);
    case 'convcnp': return parseConvCnp(json, path);
    default: throw new ConfigError(`${path}.kind`, `"${kind}" is not a baseline kind`);
  }
}
