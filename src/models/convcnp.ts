/**
 * ConvCNP, 2-D (baselines.md §3; Gordon et al. 2020). Encoder: SetConv of the context onto a
 * regular grid with a density channel (per-channel RBF lengthscales), Dense to `channels`. CNN:
 * residual blocks of BatchNorm (inference-mode quirk: γ·x/√(1 + 1e-5) + β), ReLU, depthwise k×k
 * convolution, pointwise convolution, twice, the block input added before the last pointwise
 * convolution. Decoder: SetConv from the grid to the test points (signal channels + density, own
 * lengthscales), Dense, head MLP.
 *
 * `encode` = the grid features after the CNN; `decode` reads them at any test points.
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import { Rng } from '../engine/random.js';
import { normal } from '../nn/init.js';
import { dense, denseSpecs, layerNormSpecs, mlpSpecs } from '../nn/layers.js';
import { checkpoint, paramsUnder, withParams } from '../nn/checkpoint.js';
import { get, type ParamSpec, type Params } from '../nn/params.js';
import { depthwiseConv2d, gridToPoints, normaliseByDensity, pointsToGrid } from '../nn/setconv.js';
import type { ContextInputs, Coords, ModelInputs, ModelOutput } from './bsa-tnp.js';
import { gridSize, type ConvCnpConfig } from './baseline-config.js';
import {
  checkContext, checkCoords, forwardThroughCache, headOutput, headWidth, outputLoss, testCount, valueWidth,
  type EncodedContext, type NeuralProcess,
} from './neural-process.js';

/** BatchNorm in inference mode with running statistics (0, 1) that are never updated. */
const BN_SCALE = 1 / Math.sqrt(1 + 1e-5);

interface ConvCnpCache extends EncodedContext {
  grid: Tensor;
  B: number;
}

/** linspace(lo, hi, n), ends included. */
export function gridAxis(lo: number, hi: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

export class ConvCnp implements NeuralProcess {
  readonly config: ConvCnpConfig;
  readonly gridShape: [number, number];

  private readonly setConvChunkElements: number | undefined;

  /** `setConvChunkElements`: budget of one chunk of the decoder's SetConv weights (nn/setconv.ts; tests force chunking with it). */
  constructor(config: ConvCnpConfig, options: { setConvChunkElements?: number } = {}) {
    this.config = config;
    this.setConvChunkElements = options.setConvChunkElements;
    this.gridShape = gridSize(config) as [number, number];
  }

  specs(rng: Rng): ParamSpec[] {
    const c = this.config;
    const r = () => rng.split();
    const C = c.channels;
    const k = c.kernelSize;
    const Df = valueWidth(c);
    const theta = (name: string, n: number): ParamSpec => ({ name, shape: [n], init: new Float32Array(n).fill(c.initLogScale) });
    const block = (n: string, g: Rng): ParamSpec[] => [
      ...layerNormSpecs(`${n}.bn1`, C),
      { name: `${n}.dw1.weight`, shape: [k, k, C], init: normal(k * k * C, 1 / k, g) },
      { name: `${n}.dw1.bias`, shape: [C], init: new Float32Array(C) },
      ...denseSpecs(`${n}.pw1`, C, C, g),
      ...layerNormSpecs(`${n}.bn2`, C),
      { name: `${n}.dw2.weight`, shape: [k, k, C], init: normal(k * k * C, 1 / k, g) },
      { name: `${n}.dw2.bias`, shape: [C], init: new Float32Array(C) },
      ...denseSpecs(`${n}.pw2`, C, C, g),
    ];
    return [
      theta('enc.log_scale', Df + 1),
      ...denseSpecs('enc.dense', Df + 1, C, r()),
      ...Array.from({ length: c.blocks }, (_, l) => block(`cnn.${l}`, r())).flat(),
      theta('dec.log_scale', C + 1),
      ...denseSpecs('dec.dense', C + 1, C, r()),
      ...mlpSpecs('head', C, [...c.headHidden, headWidth(c)], r()),
    ];
  }

  private axes(backend: Tensor['backend']): [Tensor, Tensor] {
    const c = this.config;
    return [0, 1].map((i) => E.tensor(gridAxis(c.grid.lo[i]!, c.grid.hi[i]!, this.gridShape[i]!), [this.gridShape[i]!], backend)) as [Tensor, Tensor];
  }

  private bn(p: Params, name: string, x: Tensor): Tensor {
    const C = this.config.channels;
    return E.add(E.mul(x, E.reshape(E.mul(get(p, `${name}.scale`), BN_SCALE), [1, 1, 1, C])), E.reshape(get(p, `${name}.offset`), [1, 1, 1, C]));
  }

  private resBlock(p: Params, n: string, x: Tensor): Tensor {
    return E.tidy(() => {
      let h = E.relu(this.bn(p, `${n}.bn1`, x));
      h = depthwiseConv2d(h, get(p, `${n}.dw1.weight`), get(p, `${n}.dw1.bias`));
      h = dense(p, `${n}.pw1`, h);
      h = E.relu(this.bn(p, `${n}.bn2`, h));
      h = depthwiseConv2d(h, get(p, `${n}.dw2.weight`), get(p, `${n}.dw2.bias`));
      return dense(p, `${n}.pw2`, E.add(h, x));
    });
  }

  encode(p: Params, ctx: ContextInputs): ConvCnpCache {
    const c = this.config;
    const { B, Nc, mask } = checkContext(c, 'encode', ctx);
    const grid = E.tidy(() => {
      const [a0, a1] = this.axes(ctx.f.backend);
      const m3 = mask ? E.reshape(mask, [B, Nc, 1]) : E.ones([B, Nc, 1], ctx.f.backend);
      // Padded rows: weight 0 and a harmless location, so nothing (not even NaN) leaks.
      const s = E.where(m3, ctx.coords.s!, 0);
      const vals = E.concat([m3, E.mul(E.where(m3, ctx.f, 0), m3)], 2);
      let h = dense(p, 'enc.dense', normaliseByDensity(pointsToGrid(s, vals, get(p, 'enc.log_scale'), a0, a1)));
      // Each residual block is checkpointed (nn/checkpoint.ts): a training step keeps one block's
      // [B, n0, n1, C] intermediates at a time (about ten per block) instead of all of them.
      for (let l = 0; l < c.blocks; l++) {
        const own = paramsUnder(p, [`cnn.${l}.`]);
        h = checkpoint([h, ...own.values], ([x, ...w]) => this.resBlock(withParams(p, own.names, w), `cnn.${l}`, x!));
      }
      return h;
    });
    return { grid, B, dispose() { grid.dispose(); } };
  }

  decode(p: Params, cache: EncodedContext, test: Coords): ModelOutput {
    const c = this.config;
    const k = cache as ConvCnpCache;
    const Nt = testCount(test);
    checkCoords(c, 'decode (test)', test, k.B, Nt);
    return E.tidy(() => {
      const [a0, a1] = this.axes(k.grid.backend);
      const [B, n0, n1] = k.grid.shape as [number, number, number];
      const withDensity = E.concat([E.ones([B, n0, n1, 1], k.grid.backend), k.grid], 3);
      const z = normaliseByDensity(gridToPoints(withDensity, get(p, 'dec.log_scale'), a0, a1, test.s!, this.setConvChunkElements));
      return headOutput(c, p, 'head', c.headHidden.length + 1, 'relu', dense(p, 'dec.dense', z));
    });
  }

  forward(p: Params, inputs: ModelInputs): ModelOutput {
    return forwardThroughCache(this, p, inputs);
  }

  loss(p: Params, inputs: ModelInputs, fTest: Tensor, maskTest?: Tensor): Tensor {
    return E.tidy(() => outputLoss(this.forward(p, inputs), fTest, maskTest));
  }
}
