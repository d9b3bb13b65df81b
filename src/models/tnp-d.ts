/**
 * TNP-D (baselines.md §1): context tokens concat(x?, s?, t?, f) and test tokens concat(x?, s?, t?,
 * 0) go through one input MLP and a stack of transformer blocks in which every token attends to
 * the valid context tokens only (the test tokens are masked as keys), then an MLP head on the test
 * rows. Post-norm (h = LN(h + MHA(h)), the 2D GP / SIR / ERA5 configs) or pre-norm (h = h +
 * MHA(LN(h)), final LayerNorm; Beijing / Gneiting).
 *
 * Since test tokens are never keys, the joint pass over [context; test] equals a context pass
 * (`encode`, keeping each block's projected keys/values) followed by a test pass reading them
 * (`decode`): same rows, exactly, and the test points can be streamed in chunks.
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import { Rng } from '../engine/random.js';
import { attend, projectKeys, type AttentionOptions } from '../nn/attention.js';
import { denseSpecs, layerNorm, layerNormSpecs, mlp, mlpSpecs } from '../nn/layers.js';
import type { ParamSpec, Params } from '../nn/params.js';
import type { ContextInputs, Coords, ModelInputs, ModelOutput } from './bsa-tnp.js';
import { tnpdTokenDims, type TnpDConfig } from './baseline-config.js';
import { GROUP_NAMES } from './config.js';
import {
  checkContext, checkCoords, forwardThroughCache, headOutput, headWidth, outputLoss, testCount, valueWidth,
  type EncodedContext, type NeuralProcess,
} from './neural-process.js';

interface TnpDCache extends EncodedContext {
  kv: { k: Tensor; v: Tensor }[];
  mask: Tensor | null;
  B: number;
}

export class TnpD implements NeuralProcess {
  readonly config: TnpDConfig;
  private readonly attn: AttentionOptions;

  constructor(config: TnpDConfig) {
    this.config = config;
    // Scan attention (kernels/bsa, no bias groups, the key mask): never materialises [Q, K], so memory is
    // linear in the number of test points; the same masked softmax as the dense path.
    this.attn = { heads: config.heads, headDim: config.headDim, kind: 'scan' };
  }

  specs(rng: Rng): ParamSpec[] {
    const c = this.config;
    const r = () => rng.split();
    const inner = c.heads * c.headDim;
    const block = (n: string, g: Rng): ParamSpec[] => [
      ...denseSpecs(`${n}.attn.q`, c.embedDim, inner, g),
      ...denseSpecs(`${n}.attn.k`, c.embedDim, inner, g),
      ...denseSpecs(`${n}.attn.v`, c.embedDim, inner, g),
      ...denseSpecs(`${n}.attn.out`, inner, c.embedDim, g),
      ...layerNormSpecs(`${n}.ln1`, c.embedDim),
      ...layerNormSpecs(`${n}.ln2`, c.embedDim),
      ...mlpSpecs(`${n}.ffn`, c.embedDim, c.ffn, g),
    ];
    return [
      ...mlpSpecs('mlp_in', tnpdTokenDims(c), c.inputMlp, r()),
      ...Array.from({ length: c.blocks }, (_, l) => block(`blocks.${l}`, r())).flat(),
      ...(c.norm === 'pre' ? layerNormSpecs('ln_out', c.embedDim) : []),
      ...mlpSpecs('head', c.embedDim, [...c.headHidden, headWidth(c)], r()),
    ];
  }

  /** concat(x?, s?, t?, f) per point (zeros for f at test points), through the input MLP. */
  private embed(p: Params, coords: Coords, f: Tensor | null, B: number, N: number): Tensor {
    return E.tidy(() => {
      const c = this.config;
      const parts: Tensor[] = GROUP_NAMES.filter((g) => c.groups[g]).map((g) => coords[g]!);
      parts.push(f ?? E.zeros([B, N, valueWidth(c)], (coords.x ?? coords.s ?? coords.t)!.backend));
      return mlp(p, 'mlp_in', c.inputMlp.length, c.activation, E.concat(parts, 2));
    });
  }

  /** One block's update of token rows `h` reading context keys/values `kv`. */
  private step(p: Params, l: number, h: Tensor, kv: { k: Tensor; v: Tensor }, mask: Tensor | null): Tensor {
    return E.tidy(() => {
      const c = this.config;
      const n = `blocks.${l}`;
      const ffn = (x: Tensor) => mlp(p, `${n}.ffn`, c.ffn.length, c.activation, x);
      if (c.norm === 'post') {
        const h1 = layerNorm(p, `${n}.ln1`, attend(p, `${n}.attn`, h, kv, mask, [], this.attn, undefined, h), c.layerNormEps);
        return layerNorm(p, `${n}.ln2`, E.add(h1, ffn(h1)), c.layerNormEps);
      }
      const h1 = attend(p, `${n}.attn`, layerNorm(p, `${n}.ln1`, h, c.layerNormEps), kv, mask, [], this.attn, undefined, h);
      return E.add(h1, ffn(layerNorm(p, `${n}.ln2`, h1, c.layerNormEps)));
    });
  }

  /** Keys/values a block's attention reads from context rows `h` (post-norm: h; pre-norm: LN1(h)). */
  private keys(p: Params, l: number, h: Tensor): { k: Tensor; v: Tensor } {
    return E.tidy(() => {
      const c = this.config;
      const x = c.norm === 'post' ? h : layerNorm(p, `blocks.${l}.ln1`, h, c.layerNormEps);
      return projectKeys(p, `blocks.${l}.attn`, x, c.heads);
    });
  }

  encode(p: Params, ctx: ContextInputs): TnpDCache {
    const c = this.config;
    const { B, Nc, mask } = checkContext(c, 'encode', ctx);
    const kv = E.tidy(() => {
      let h = this.embed(p, ctx.coords, ctx.f, B, Nc);
      const out: { k: Tensor; v: Tensor }[] = [];
      for (let l = 0; l < c.blocks; l++) {
        const kvl = this.keys(p, l, h);
        out.push(kvl);
        // After the last block nothing reads the context rows.
        if (l < c.blocks - 1) h = this.step(p, l, h, kvl, mask);
      }
      return out;
    });
    return { kv, mask, B, dispose() { for (const x of kv) { x.k.dispose(); x.v.dispose(); } } };
  }

  decode(p: Params, cache: EncodedContext, test: Coords): ModelOutput {
    const c = this.config;
    const k = cache as TnpDCache;
    const Nt = testCount(test);
    checkCoords(c, 'decode (test)', test, k.B, Nt);
    return E.tidy(() => {
      let h = this.embed(p, test, null, k.B, Nt);
      for (let l = 0; l < c.blocks; l++) h = this.step(p, l, h, k.kv[l]!, k.mask);
      if (c.norm === 'pre') h = layerNorm(p, 'ln_out', h, c.layerNormEps);
      return headOutput(c, p, 'head', c.headHidden.length + 1, c.activation, h);
    });
  }

  forward(p: Params, inputs: ModelInputs): ModelOutput {
    return forwardThroughCache(this, p, inputs);
  }

  loss(p: Params, inputs: ModelInputs, fTest: Tensor, maskTest?: Tensor): Tensor {
    return E.tidy(() => outputLoss(this.forward(p, inputs), fTest, maskTest));
  }
}
