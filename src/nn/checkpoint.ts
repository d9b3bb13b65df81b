/**
 * Gradient checkpointing: `checkpoint(inputs, fn)` is fn(inputs) whose intermediates are not kept
 * for the backward pass; the backward runs fn again on the saved inputs, under its own tape, and
 * returns the vector-Jacobian product. Peak memory of a training step then holds one call's
 * intermediates at a time instead of every call's, at the price of one more forward. Used to
 * chunk ops whose intermediates are large per row (TE attention's pairwise MLP, ConvCNP's SetConv
 * decoder) with exact results. `fn` must be deterministic and read only `inputs` as tensors that
 * need gradients (anything else it reads is treated as a constant).
 */
import * as E from '../engine/ops.js';
import { needsGrad, record, save, type Tensor } from '../engine/custom.js';
import { noGrad } from '../engine/tensor.js';
import type { Params } from './params.js';

export function checkpoint(inputs: readonly Tensor[], fn: (xs: readonly Tensor[]) => Tensor): Tensor {
  if (!needsGrad(inputs)) return E.tidy(() => fn(inputs));
  const y = noGrad(() => E.tidy(() => fn(inputs)));
  const saved = inputs.map((t) => save(t));
  record(inputs, [y], ([dy]) => {
    if (!dy) return inputs.map(() => null);
    const r = E.valueAndGrad((xs) => E.sum(E.mul(fn(xs), dy)))(saved);
    r.value.dispose();
    return r.grads;
  });
  return y;
}

/** The parameters of `p` whose names start with one of `prefixes` (for a checkpoint's inputs). */
export function paramsUnder(p: Params, prefixes: readonly string[]): { names: string[]; values: Tensor[] } {
  const names = [...p.keys()].filter((n) => prefixes.some((x) => n.startsWith(x)));
  return { names, values: names.map((n) => p.get(n)!) };
}

/** `p` with `names[i]` bound to `values[i]`. */
export function withParams(p: Params, names: readonly string[], values: readonly Tensor[]): Params {
  const m = new Map(p);
  names.forEach((n, i) => m.set(n, values[i]!));
  return m;
}
