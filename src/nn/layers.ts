/**
 * Basic layers as pure functions of named parameters (model.md §2): Dense with orthogonal init,
 * MLP, LayerNorm, embedding table. Each layer has a `*Specs` function declaring its parameters.
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import { Rng } from '../engine/random.js';
import { orthogonal, normal } from './init.js';
import { get, type ParamSpec, type Params } from './params.js';

export type Activation = 'gelu' | 'relu';

export function denseSpecs(name: string, inDim: number, outDim: number, rng: Rng): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [inDim, outDim], init: orthogonal(inDim, outDim, rng) },
    { name: `${name}.bias`, shape: [outDim], init: new Float32Array(outDim) },
  ];
}

/**
 * y = x W + b over the last axis of x [..., in]; `opts` fuses a residual r [..., out] (y + r) or the
 * GELU after it into the same kernel where the backend can (E.linear).
 */
export function dense(p: Params, name: string, x: Tensor, opts: E.LinearOptions = {}): Tensor {
  const w = get(p, `${name}.weight`);
  const inDim = w.shape[0]!;
  if (x.shape[x.rank - 1] !== inDim) {
    throw new E.ShapeError(`dense ${name}: expected input [..., ${inDim}], got [${x.shape.join(', ')}]`);
  }
  const outShape = [...x.shape.slice(0, -1), w.shape[1]!];
  const r = opts.residual;
  if (r && (r.rank !== outShape.length || r.shape.some((d, i) => d !== outShape[i]))) {
    throw new E.ShapeError(`dense ${name}: expected a residual [${outShape.join(', ')}], got [${r.shape.join(', ')}]`);
  }
  return E.linear(x, w, get(p, `${name}.bias`), opts);
}

export function activate(act: Activation, x: Tensor): Tensor {
  return act === 'gelu' ? E.gelu(x) : E.relu(x);
}

export function mlpSpecs(name: string, inDim: number, widths: readonly number[], rng: Rng): ParamSpec[] {
  const specs: ParamSpec[] = [];
  let fanIn = inDim;
  widths.forEach((w, i) => {
    specs.push(...denseSpecs(`${name}.${i}`, fanIn, w, rng));
    fanIn = w;
  });
  return specs;
}

/**
 * Dense → act → … → Dense (no activation after the last layer), plus `residual` on the last layer's
 * output. GELU and the residual run in the dense layers' kernels (see `dense`).
 */
export function mlp(p: Params, name: string, layers: number, act: Activation, x: Tensor, residual?: Tensor): Tensor {
  return E.tidy(() => {
    let h = x;
    for (let i = 0; i < layers; i++) {
      const last = i === layers - 1;
      h = dense(p, `${name}.${i}`, h, last ? { residual } : act === 'gelu' ? { act } : {});
      if (!last && act !== 'gelu') h = activate(act, h);
    }
    return h;
  });
}

export function layerNormSpecs(name: string, dim: number): ParamSpec[] {
  return [
    { name: `${name}.scale`, shape: [dim], init: new Float32Array(dim).fill(1) },
    { name: `${name}.offset`, shape: [dim], init: new Float32Array(dim) },
  ];
}

export function layerNorm(p: Params, name: string, x: Tensor, eps: number): Tensor {
  return E.layerNorm(x, get(p, `${name}.scale`), get(p, `${name}.offset`), eps);
}

/** A [rows, dim] table initialised N(0, 0.5²) (model.md §2). */
export function embeddingSpecs(name: string, rows: number, dim: number, rng: Rng): ParamSpec[] {
  return [{ name: `${name}.table`, shape: [rows, dim], init: normal(rows * dim, 0.5, rng) }];
}
