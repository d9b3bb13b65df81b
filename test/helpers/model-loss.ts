/**
 * A BSA-TNP's training loss (context and test tokens through the blocks together) and the NLL of
 * its encode + decode outputs, each with its gradient with respect to every parameter, for tests
 * that check the two paths agree.
 */
import * as E from '../../src/engine/ops.js';
import type { Tensor } from '../../src/engine/tensor.js';
import type { BsaTnp, ModelInputs, ModelOutput } from '../../src/models/bsa-tnp.js';
import type { Params } from '../../src/nn/params.js';

export interface LossAndGrads {
  value: number;
  /** In the order of `names`. */
  grads: Float32Array[];
}

/** Disposes every tensor of model inputs. */
export function disposeInputs(x: ModelInputs): void {
  x.ctx.f.dispose();
  x.ctx.mask?.dispose();
  Object.values(x.ctx.coords).forEach((t) => t?.dispose());
  Object.values(x.test).forEach((t) => t?.dispose());
}

/** `model.loss` and the Gaussian NLL of `model.forward`, on fresh inputs from `makeInputs` each. */
export async function jointAndSeparateLoss(model: BsaTnp, p: Params, makeInputs: () => ModelInputs, fTest: Tensor):
  Promise<{ names: string[]; joint: LossAndGrads; separate: LossAndGrads }> {
  const names = [...p.keys()];
  const run = async (f: (ps: Params, x: ModelInputs) => Tensor): Promise<LossAndGrads> => {
    const x = makeInputs();
    const { value, grads } = E.valueAndGrad((ps) => f(new Map(names.map((n, i) => [n, ps[i]!])), x))(names.map((n) => p.get(n)!));
    disposeInputs(x);
    const out = { value: (await value.data())[0]!, grads: await Promise.all(grads.map((g) => g.data())) };
    value.dispose();
    grads.forEach((g) => g.dispose());
    return out;
  };
  const joint = await run((ps, x) => model.loss(ps, x, fTest));
  const separate = await run((ps, x) => {
    const out = model.forward(ps, x) as Extract<ModelOutput, { kind: 'gaussian' }>;
    return E.gaussianNll(fTest, out.mean, out.std);
  });
  return { names, joint, separate };
}
