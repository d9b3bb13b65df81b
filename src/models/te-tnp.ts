/**
 * TE-TNP (baselines.md §2; "PT-TE-TNP" in the paper's plots): translation-equivariant TNP with an
 * induced set of M pseudo tokens. Context tokens embed concat(f, 1), test tokens concat(0, 0); the
 * locations z = concat(x?, s?, t?) enter only through TE attention (differences z_i − z_j). The
 * pseudo tokens sit at learned locations plus the masked mean of the context locations (what keeps
 * equivariance). Per layer l: P ← context, context ← P, test ← P, each a TE block of its own.
 * With M = 0 (TE-TNP-Vanilla) the test tokens read the fixed context embeddings in each layer.
 *
 * `encode` runs the pseudo tokens and context through every layer and keeps each layer's P;
 * `decode` runs test tokens against them (test rows never interact: exact in chunks).
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import { Rng } from '../engine/random.js';
import { normal } from '../nn/init.js';
import { mlp, mlpSpecs } from '../nn/layers.js';
import { get, type ParamSpec, type Params } from '../nn/params.js';
import { teBlock, teBlockSpecs, type TeBlockConfig } from '../nn/te-attention.js';
import type { ContextInputs, Coords, ModelInputs, ModelOutput } from './bsa-tnp.js';
import { coordDims, type TeTnpConfig } from './baseline-config.js';
import {
  checkContext, checkCoords, concatCoords, forwardThroughCache, headOutput, headWidth, outputLoss, testCount, valueWidth,
  type EncodedContext, type NeuralProcess,
} from './neural-process.js';

interface TeTnpCache extends EncodedContext {
  /** Per layer, the tokens the test stream reads: [B, M, E] pseudo tokens; vanilla: one entry, the fixed context. */
  keys: Tensor[];
  /** Their locations [B, M or Nc, Dz]. */
  z: Tensor;
  /** Key mask (null for pseudo tokens, which are all real). */
  mask: Tensor | null;
  B: number;
}

export class TeTnp implements NeuralProcess {
  readonly config: TeTnpConfig;
  private readonly block: TeBlockConfig;

  /** `pairChunkElements`: budget of one chunk of the pairwise tensors (nn/te-attention.ts; tests force chunking with it). */
  constructor(config: TeTnpConfig, options: { pairChunkElements?: number } = {}) {
    this.config = config;
    this.block = {
      embedDim: config.embedDim, heads: config.heads, headDim: config.headDim, coordDims: coordDims(config.groups),
      pairMlp: config.pairMlp, ffn: config.ffn, activation: config.activation, eps: config.layerNormEps,
      pairChunkElements: options.pairChunkElements,
    };
  }

  private get roles(): string[] {
    return this.config.pseudoTokens > 0 ? ['pc', 'cp', 'tp'] : ['tc'];
  }

  specs(rng: Rng): ParamSpec[] {
    const c = this.config;
    const r = () => rng.split();
    const M = c.pseudoTokens;
    const dz = this.block.coordDims;
    const pseudo: ParamSpec[] = M > 0 ? [
      { name: 'pseudo.tokens', shape: [M, c.embedDim], init: normal(M * c.embedDim, 1, r()) },
      { name: 'pseudo.locations', shape: [M, dz], init: normal(M * dz, 1, r()) },
    ] : [];
    return [
      ...mlpSpecs('embed', valueWidth(c) + 1, c.embedMlp, r()),
      ...pseudo,
      ...Array.from({ length: c.layers }, (_, l) => this.roles.flatMap((role) => teBlockSpecs(`layers.${l}.${role}`, this.block, r()))).flat(),
      ...mlpSpecs('head', c.embedDim, [...c.headHidden, headWidth(c)], r()),
    ];
  }

  private embed(p: Params, f: Tensor | null, B: number, N: number, backend: Tensor['backend']): Tensor {
    return E.tidy(() => {
      const flag = E.full([B, N, 1], f ? 1 : 0, backend);
      const vals = f ?? E.zeros([B, N, valueWidth(this.config)], backend);
      return mlp(p, 'embed', this.config.embedMlp.length, this.config.activation, E.concat([vals, flag], 2));
    });
  }

  encode(p: Params, ctx: ContextInputs): TeTnpCache {
    const c = this.config;
    const { B, Nc, mask } = checkContext(c, 'encode', ctx);
    const M = c.pseudoTokens;
    const dz = this.block.coordDims;
    const out = E.tidy(() => {
      let C = this.embed(p, ctx.f, B, Nc, ctx.f.backend);
      const zc = concatCoords(c, ctx.coords);
      if (M === 0) return { keys: [C], z: zc };
      // Pseudo locations: learned offsets + the (masked) mean context location.
      const m3 = mask ? E.reshape(mask, [B, Nc, 1]) : E.ones([B, Nc, 1], ctx.f.backend);
      const mean = E.div(E.sum(E.mul(E.where(m3, zc, 0), m3), 1, true), E.maximum(E.sum(m3, 1, true), 1)); // [B, 1, Dz]
      const zp = E.add(E.reshape(get(p, 'pseudo.locations'), [1, M, dz]), mean);
      let P = E.broadcastTo(E.reshape(get(p, 'pseudo.tokens'), [1, M, c.embedDim]), [B, M, c.embedDim]);
      const keys: Tensor[] = [];
      for (let l = 0; l < c.layers; l++) {
        P = teBlock(p, `layers.${l}.pc`, this.block, P, C, zp, zc, mask);
        keys.push(P);
        if (l < c.layers - 1) C = teBlock(p, `layers.${l}.cp`, this.block, C, P, zc, zp, null);
      }
      return { keys, z: zp };
    });
    const keyMask = M === 0 ? mask : null;
    return {
      ...out, mask: keyMask, B,
      dispose() { out.keys.forEach((t) => t.dispose()); out.z.dispose(); },
    };
  }

  decode(p: Params, cache: EncodedContext, test: Coords): ModelOutput {
    const c = this.config;
    const k = cache as TeTnpCache;
    const Nt = testCount(test);
    checkCoords(c, 'decode (test)', test, k.B, Nt);
    return E.tidy(() => {
      const zt = concatCoords(c, test);
      let T = this.embed(p, null, k.B, Nt, zt.backend);
      const role = c.pseudoTokens > 0 ? 'tp' : 'tc';
      for (let l = 0; l < c.layers; l++) T = teBlock(p, `layers.${l}.${role}`, this.block, T, k.keys[c.pseudoTokens > 0 ? l : 0]!, zt, k.z, k.mask);
      return headOutput(c, p, 'head', c.headHidden.length + 1, c.activation, T);
    });
  }

  forward(p: Params, inputs: ModelInputs): ModelOutput {
    return forwardThroughCache(this, p, inputs);
  }

  loss(p: Params, inputs: ModelInputs, fTest: Tensor, maskTest?: Tensor): Tensor {
    return E.tidy(() => outputLoss(this.forward(p, inputs), fTest, maskTest));
  }
}
