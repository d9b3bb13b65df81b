/**
 * BSA-TNP (model.md §3–§6): tokens → shared input MLP + LayerNorm → L KRBlocks (× R repeats) →
 * LayerNorm → head → diagonal Gaussian or categorical.
 *
 * The forward is split into `encode` (the context stream through every block, keeping each
 * block's projected context keys/values) and `decode` (test points through the blocks, reading
 * that cache). Test points never interact, so `decode` can stream them in chunks of any size
 * with identical results; `forward` = decode(encode(·)).
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import { Rng } from '../engine/random.js';
import type { Precision } from '../kernels/bsa/desc.js';
import type { AttentionOptions } from '../nn/attention.js';
import { krBlockContext, krBlockJoint, krBlockKeys, krBlockSpecs, krBlockTest, type BlockCoords, type KRBlockConfig } from '../nn/krblock.js';
import { embeddingSpecs, layerNorm, layerNormSpecs, mlp, mlpSpecs } from '../nn/layers.js';
import { get, type ParamSpec, type Params } from '../nn/params.js';
import { GROUP_NAMES, headOutputDims, tokenDims, valueDims, type GroupName, type ModelConfig } from './config.js';
import { disposeTrend, fitTrend, trendAt, type Trend, type TrendKind } from './trend.js';

/** Coordinates of a set of points: [B, N, dims] per configured group. */
export type Coords = Partial<Record<GroupName, Tensor>>;

export interface ContextInputs {
  /** Observed values [B, Nc, Df] (one-hot for categorical outputs). */
  f: Tensor;
  /** [B, Nc], 1 = real point, 0 = padding. Absent = all real. */
  mask?: Tensor | null;
  coords: Coords;
}

export interface ModelInputs {
  ctx: ContextInputs;
  test: Coords;
}

export type ModelOutput =
  | { kind: 'gaussian'; mean: Tensor; std: Tensor }
  | { kind: 'categorical'; logits: Tensor };

/** What `decode` needs from the context: per block (and repeat) the projected context K, V. */
export interface ContextCache {
  kv: { k: Tensor; v: Tensor }[];
  mask: Tensor | null;
  /** The context values' mean and std per task [B, 1, Df] (output.standardize), else null. */
  scale: ContextScale | null;
  coords: Coords;
  B: number;
  dispose(): void;
}

/**
 * Per-task location and scale of the context values (output.standardize): mean m and std s
 * [B, 1, Df]; with output.trend also a spatial trend, and s is then the residuals' std.
 */
export interface ContextScale {
  m: Tensor;
  s: Tensor;
  trend: Trend | null;
}

/** Floor under the context values' variance (so a constant context is not divided by zero). */
export const STANDARDIZE_VARIANCE_FLOOR = 1e-6;

/**
 * Mean m and std s = √(var + floor) per task and output over the valid context rows [B, 1, Df]
 * (population variance; padded rows, mask 0, are left out whatever their values). With a trend
 * kind and the context locations `s`, the trend is fitted too and s is the std of the residuals
 * from m + trend. Also returns the context values in those standard units, (f − m − trend) / s
 * (0 − m over s on padded rows, which nothing reads).
 */
export function standardizeContext(f: Tensor, mask: Tensor | null, trend: { kind: TrendKind; s: Tensor } | null = null): { scale: ContextScale; f: Tensor } {
  return E.tidy(() => {
    const [B, Nc] = f.shape as [number, number, number];
    const m3 = mask && E.reshape(mask, [B, Nc, 1]);
    const w = m3 ?? E.onesLike(E.slice(f, [0, 0, 0], [B, Nc, 1]));
    const n = E.sum(w, 1, true);
    const fz = m3 ? E.where(m3, f, 0) : f;
    const m = E.div(E.sum(E.mul(fz, w), 1, true), n);
    let tr: Trend | null = null;
    let centred = E.sub(fz, m);
    if (trend) {
      // Padded rows' locations may hold anything.
      const sz = m3 ? E.where(m3, trend.s, 0) : trend.s;
      tr = fitTrend(trend.kind, fz, sz, w, n);
      centred = E.sub(centred, trendAt(tr, sz));
    }
    const v = E.div(E.sum(E.mul(E.square(centred), w), 1, true), n);
    const s = E.sqrt(E.add(v, STANDARDIZE_VARIANCE_FLOOR));
    return { scale: { m, s, trend: tr }, f: E.div(centred, s) };
  });
}

/** `standardizeContext`'s scale alone. */
export function contextScale(f: Tensor, mask: Tensor | null, trend: { kind: TrendKind; s: Tensor } | null = null): ContextScale {
  const r = standardizeContext(f, mask, trend);
  r.f.dispose();
  return r.scale;
}

/** The scale's location at points with locations `s` (m, plus the trend there): [B, N or 1, Df]. */
function locationAt(scale: ContextScale, s: Tensor | undefined): Tensor {
  if (!scale.trend) return scale.m.alias(scale.m.shape);
  return E.tidy(() => E.add(scale.m, trendAt(scale.trend!, s!)));
}

export class ModelInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelInputError';
  }
}

/** Run-time options that do not change the model (its parameters or its config file). */
export interface BsaTnpOptions {
  /**
   * The attention's q·kᵀ and P·v in half precision on WebGPU (tensor cores; kernels/bsa/desc.ts
   * Precision), for inference; gradients always use float32 (kernels/bsa/op.ts). Default 'f32'.
   */
  precision?: Precision;
  /** Attention tile sizes (query rows × keys) for the scan kernels; default: each kernel's own. */
  tileQ?: number;
  tileK?: number;
}

export class BsaTnp {
  readonly config: ModelConfig;
  private readonly block: KRBlockConfig;

  constructor(config: ModelConfig, options: BsaTnpOptions = {}) {
    this.config = config;
    // Tile sizes are left to each backend's kernel (results do not depend on them beyond
    // round-off, bsa.md §8); `config.tile` records the reference's XLA chunking (1024 × 1024).
    const attention: AttentionOptions = { heads: config.heads, headDim: config.headDim, kind: config.attention,
      precision: options.precision, tileQ: options.tileQ, tileK: options.tileK };
    this.block = {
      embedDim: config.embedDim, heads: config.heads, headDim: config.headDim, ffn: config.ffn,
      activation: config.activation, eps: config.layerNormEps, attention,
      biases: GROUP_NAMES.flatMap((g) => {
        const b = config.groups[g]?.bias;
        return b ? [{ name: g, bias: b }] : [];
      }),
    };
  }

  /** Parameter specs with initial values drawn from `rng` (deterministic order and names). */
  specs(rng: Rng): ParamSpec[] {
    const c = this.config;
    const r = () => rng.split();
    return [
      ...embeddingSpecs('obs_embed', 2, c.obsEmbedDim, r()),
      ...mlpSpecs('mlp_in', tokenDims(c), c.inputMlp, r()),
      ...layerNormSpecs('ln_in', c.embedDim),
      ...Array.from({ length: c.blocks }, (_, l) => krBlockSpecs(`blocks.${l}`, this.block, r())).flat(),
      ...layerNormSpecs('ln_out', c.embedDim),
      ...mlpSpecs('head', c.embedDim, [...c.headHidden, headOutputDims(c)], r()),
    ];
  }

  private checkCoords(where: string, coords: Coords, B: number, N: number): void {
    for (const g of GROUP_NAMES) {
      const gc = this.config.groups[g];
      const t = coords[g];
      if (gc && !t) throw new ModelInputError(`${where}: missing coordinates '${g}' [${B}, ${N}, ${gc.dims}]`);
      if (!gc && t) throw new ModelInputError(`${where}: the model has no '${g}' group, but '${g}' coordinates were given`);
      if (gc && t && (t.rank !== 3 || t.shape[0] !== B || t.shape[1] !== N || t.shape[2] !== gc.dims)) {
        throw new ModelInputError(`${where}: expected '${g}' of shape [${B}, ${N}, ${gc.dims}], got [${t.shape.join(', ')}]`);
      }
    }
  }

  /** Tokens [B, N, tokenDims]: obs embedding, embedded groups, f (zeros for test points). */
  /** Validates context inputs (values, coordinates, mask) for `where`; returns B, Nc and the mask. */
  private checkContext(where: string, ctx: ContextInputs): { B: number; Nc: number; mask: Tensor | null } {
    const vd = valueDims(this.config);
    if (ctx.f.rank !== 3 || ctx.f.shape[2] !== vd) {
      throw new ModelInputError(`${where}: expected context values f of shape [B, Nc, ${vd}], got [${ctx.f.shape.join(', ')}]`);
    }
    const [B, Nc] = ctx.f.shape as [number, number];
    if (Nc === 0) throw new ModelInputError(`${where}: the context is empty (Nc = 0); at least one observation is needed`);
    this.checkCoords(`${where} (context)`, ctx.coords, B, Nc);
    const mask = ctx.mask ?? null;
    if (mask && (mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== Nc)) {
      throw new ModelInputError(`${where}: expected mask of shape [${B}, ${Nc}], got [${mask.shape.join(', ')}]`);
    }
    return { B, Nc, mask };
  }

  private tokens(p: Params, coords: Coords, f: Tensor | null, B: number, N: number): Tensor {
    return E.tidy(() => {
      const c = this.config;
      const table = get(p, 'obs_embed.table');
      const flag = E.slice(table, [f ? 1 : 0, 0], [1, c.obsEmbedDim]);
      const parts: Tensor[] = [E.broadcastTo(E.reshape(flag, [1, 1, c.obsEmbedDim]), [B, N, c.obsEmbedDim])];
      for (const g of GROUP_NAMES) if (c.groups[g]?.embed) parts.push(coords[g]!);
      parts.push(f ?? E.zeros([B, N, valueDims(c)], table.backend));
      return E.concat(parts, 2);
    });
  }

  private embed(p: Params, tokens: Tensor): Tensor {
    return E.tidy(() => layerNorm(p, 'ln_in', mlp(p, 'mlp_in', this.config.inputMlp.length, this.config.activation, tokens), this.config.layerNormEps));
  }

  /** Runs the context stream through every block. */
  encode(p: Params, ctx: ContextInputs): ContextCache {
    const c = this.config;
    const { B, Nc, mask } = this.checkContext('encode', ctx);
    const { scale, f } = this.standardize(ctx, mask);
    const kv = E.tidy(() => {
      let k = this.embed(p, this.tokens(p, ctx.coords, f, B, Nc));
      const out: { k: Tensor; v: Tensor }[] = [];
      const coords = this.blockCoords(ctx.coords, ctx.coords);
      for (let l = 0; l < c.blocks; l++) {
        for (let r = 0; r < c.reps; r++) {
          if (l === c.blocks - 1 && r === c.reps - 1) {
            out.push(krBlockKeys(p, `blocks.${l}`, this.block, k));
            break;
          }
          const step = krBlockContext(p, `blocks.${l}`, this.block, k, mask, coords);
          k = step.k;
          out.push(step.kv);
        }
      }
      return out;
    });
    f.dispose();
    return {
      kv, mask, coords: ctx.coords, B, scale,
      dispose() {
        for (const x of kv) { x.k.dispose(); x.v.dispose(); }
        scale?.m.dispose();
        scale?.s.dispose();
        if (scale?.trend) disposeTrend(scale.trend);
      },
    };
  }

  private blockCoords(test: Coords, ctx: Coords): BlockCoords {
    const m = (c: Coords) => new Map(GROUP_NAMES.filter((g) => c[g]).map((g) => [g as string, c[g]!]));
    return { test: m(test), ctx: m(ctx) };
  }

  /** Predictive distribution at test points [B, Nt, ·] given an encoded context. */
  decode(p: Params, cache: ContextCache, test: Coords): ModelOutput {
    const c = this.config;
    const first = GROUP_NAMES.map((g) => test[g]).find((t) => t);
    const Nt = first ? first.shape[1]! : 0;
    this.checkCoords('decode (test)', test, cache.B, Nt);
    // Test tokens that embed no coordinates are all one token until the first block's attention
    // tells the rows apart (through the biases): embed it once and share its query (exact).
    const shared = Nt > 1 && GROUP_NAMES.every((g) => !c.groups[g]?.embed);
    return E.tidy(() => {
      let q = this.embed(p, this.tokens(p, test, null, cache.B, shared ? 1 : Nt));
      const coords = this.blockCoords(test, cache.coords);
      let i = 0;
      for (let l = 0; l < c.blocks; l++) {
        for (let r = 0; r < c.reps; r++) {
          q = krBlockTest(p, `blocks.${l}`, this.block, q, cache.kv[i]!, cache.mask, coords, shared && i === 0 ? Nt : undefined);
          i++;
        }
      }
      return this.head(p, q, cache.B, Nt, cache.scale, test.s);
    });
  }

  /**
   * The context values' scale and the values in its units when the model standardises them
   * (output.standardize), else no scale and the values as they are (a handle to dispose).
   */
  private standardize(ctx: ContextInputs, mask: Tensor | null): { scale: ContextScale | null; f: Tensor } {
    const o = this.config.output;
    if (o.kind !== 'gaussian' || o.standardize !== true) return { scale: null, f: ctx.f.alias(ctx.f.shape) };
    return standardizeContext(ctx.f, mask, o.trend ? { kind: o.trend, s: ctx.coords.s! } : null);
  }

  forward(p: Params, inputs: ModelInputs): ModelOutput {
    const cache = this.encode(p, inputs.ctx);
    try {
      return this.decode(p, cache, inputs.test);
    } finally {
      cache.dispose();
    }
  }

  /** Mean NLL (Gaussian) or cross-entropy (categorical) of test targets [B, Nt, Df] (model.md §6). */
  loss(p: Params, inputs: ModelInputs, fTest: Tensor, maskTest?: Tensor): Tensor {
    return E.tidy(() => {
      const out = this.jointOutput(p, inputs);
      if (out.kind === 'gaussian') return E.gaussianNll(fTest, out.mean, out.std, maskTest);
      return E.crossEntropy(out.logits, fTest, maskTest);
    });
  }

  /**
   * `forward` for training: context and test tokens go through every block together
   * (krBlockJoint: the same rows as encode + decode, half the kernels). Inference keeps encode and
   * decode, whose context cache serves any number of test chunks.
   */
  private jointOutput(p: Params, inputs: ModelInputs): ModelOutput {
    const c = this.config;
    const ctx = inputs.ctx;
    const { B, Nc, mask } = this.checkContext('loss', ctx);
    const first = GROUP_NAMES.map((g) => inputs.test[g]).find((t) => t);
    const Nt = first ? first.shape[1]! : 0;
    this.checkCoords('loss (test)', inputs.test, B, Nt);
    return E.tidy(() => {
      const { scale, f } = this.standardize(ctx, mask);
      const tokens = E.concat([this.tokens(p, ctx.coords, f, B, Nc), this.tokens(p, inputs.test, null, B, Nt)], 1);
      let x = this.embed(p, tokens);
      // Query coordinates of the joint rows. Padded context rows (mask 0) get none (NaN): as
      // queries they then have no valid pair, so their attention outputs are 0 and the kernels
      // skip tiles made of them. Nothing reads those rows (they are masked as keys and carry no
      // target), so the loss and every gradient are unchanged.
      const all: Coords = {};
      const m3 = mask && E.reshape(mask, [B, Nc, 1]);
      for (const g of GROUP_NAMES) {
        if (ctx.coords[g]) all[g] = E.concat([m3 ? E.where(m3, ctx.coords[g]!, NaN) : ctx.coords[g]!, inputs.test[g]!], 1);
      }
      const coords = this.blockCoords(all, ctx.coords);
      for (let l = 0; l < c.blocks; l++) {
        for (let r = 0; r < c.reps; r++) x = krBlockJoint(p, `blocks.${l}`, this.block, x, Nc, mask, coords);
      }
      const q = E.slice(x, [0, Nc, 0], [B, Nt, c.embedDim]);
      return this.head(p, q, B, Nt, scale, inputs.test.s);
    });
  }

  /** The output head on final test tokens [B, Nt, E]; `scale` maps a standardised prediction back (test locations `s` for its trend). */
  private head(p: Params, q: Tensor, B: number, Nt: number, scale: ContextScale | null = null, s?: Tensor): ModelOutput {
    const c = this.config;
    const h = mlp(p, 'head', c.headHidden.length + 1, c.activation, layerNorm(p, 'ln_out', q, c.layerNormEps));
    if (c.output.kind === 'categorical') return { kind: 'categorical', logits: h } as const;
    const D = c.output.dims;
    const mean = E.slice(h, [0, 0, 0], [B, Nt, D]);
    const raw = E.slice(h, [0, 0, D], [B, Nt, D]);
    const m = c.output.minStd;
    const std = m > 0 ? E.add(E.mul(E.softplus(raw), 1 - m), m) : E.softplus(raw);
    if (scale) return { kind: 'gaussian', mean: E.add(E.mul(mean, scale.s), locationAt(scale, s)), std: E.mul(std, scale.s) } as const;
    return { kind: 'gaussian', mean, std } as const;
  }
}
