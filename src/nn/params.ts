/**
 * Named parameters: a model's state is an ordered list of (dotted name, shape, initial values).
 * Training code works on `Tensor[]` in this order (valueAndGrad), layers read `Params` by name.
 */
import type { Backend } from '../engine/backend.js';
import { tensor } from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Float32Array;
}

/** Parameters by name, as layers read them. */
export type Params = ReadonlyMap<string, Tensor>;

export class ParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParamError';
  }
}

export function get(p: Params, name: string): Tensor {
  const t = p.get(name);
  if (!t) throw new ParamError(`params: missing parameter '${name}'`);
  return t;
}

/** Uploads initial values. */
export function materialise(specs: readonly ParamSpec[], backend: Backend): Tensor[] {
  return specs.map((s) => tensor(s.init, s.shape, backend));
}

export function toParams(specs: readonly ParamSpec[], values: readonly Tensor[]): Params {
  if (values.length !== specs.length) throw new ParamError(`params: expected ${specs.length} tensors, got ${values.length}`);
  const m = new Map<string, Tensor>();
  specs.forEach((s, i) => {
    const v = values[i]!;
    if (v.shape.join() !== s.shape.join()) {
      throw new ParamError(`params: '${s.name}' expected shape [${s.shape.join(', ')}], got [${v.shape.join(', ')}]`);
    }
    m.set(s.name, v);
  });
  return m;
}

export function countParams(specs: readonly ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.init.length, 0);
}
