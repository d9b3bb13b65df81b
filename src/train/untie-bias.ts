/**
 * Untying an RBF distance bias's basis functions in trained weights, keeping the model's function.
 *
 * model.md §5.2 notes that all basis functions of a head start equal and so stay tied for a whole
 * run: β_h(δ) = F·a_h·exp(−b_h·δ²), one bandwidth per head. `untieRbfBias` folds a head's F equal
 * terms into its first (a = F·a_h, b = b_h) and gives the other F − 1 amplitude 0 and the bandwidths
 * b = 1/ℓ² of the given lengthscales. The bias, and so every prediction, is unchanged (exactly, up to
 * float32 rounding of F·a); training can then grow the new terms (∂β/∂a_k = exp(−b_k·δ²) ≠ 0), which
 * gives each head a bias with several widths. No Node built-ins.
 */
import { biasParam, untiedRbf } from '../nn/bias.js';
import type { Weights } from './checkpoint.js';

/** Lengthscales of the new basis functions, per bias group name (`s`, `t`, `x`). */
export type UntieLengthscales = Readonly<Record<string, readonly number[]>>;

/**
 * New weights (the input is not changed). Every `…bias_G.a` / `…bias_G.b` pair of shape [H, F] whose
 * group G has lengthscales is untied; lengthscales must number F − 1 and be positive. A group whose
 * basis functions are not tied (any head's a or b differ across k) is an error: it has been untied
 * or trained from another initialisation already.
 */
export function untieRbfBias(weights: Weights, lengthscales: UntieLengthscales): Weights {
  const out: Weights = new Map(weights);
  let untied = 0;
  for (const [name, a] of weights) {
    const param = biasParam(name);
    if (param === null || param.field !== 'a') continue;
    const { group } = param;
    const ls = lengthscales[group];
    if (ls === undefined) continue;
    const bName = name.slice(0, -1) + 'b';
    const b = weights.get(bName);
    if (b === undefined) throw new RangeError(`untieRbfBias: ${name} has no matching ${bName}`);
    if (weights.has(name.slice(0, -1) + 'c')) throw new RangeError(`untieRbfBias: ${name} belongs to a TISA bias; expected an RBF bias`);
    const [H, F] = a.shape as [number, number];
    if (a.shape.length !== 2 || b.shape.join() !== a.shape.join()) {
      throw new RangeError(`untieRbfBias: expected ${name} and ${bName} of one shape [H, F], got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
    }
    if (ls.length !== F - 1 || ls.some((l) => !(l > 0 && Number.isFinite(l)))) {
      throw new RangeError(`untieRbfBias: group '${group}' has F = ${F} basis functions; expected ${F - 1} positive lengthscales, got [${ls.join(', ')}]`);
    }
    const headA = new Float32Array(H), headB = new Float32Array(H);
    for (let h = 0; h < H; h++) {
      headA[h] = a.data[h * F]!;
      headB[h] = b.data[h * F]!;
      for (let k = 1; k < F; k++) {
        if (a.data[h * F + k] !== headA[h] || b.data[h * F + k] !== headB[h]) {
          throw new RangeError(`untieRbfBias: ${name} head ${h} is not tied (basis ${k} differs from basis 0); nothing to untie`);
        }
      }
    }
    const u = untiedRbf(headA, headB, F, ls);
    out.set(name, { data: u.a, shape: a.shape });
    out.set(bName, { data: u.b, shape: b.shape });
    untied++;
  }
  if (untied === 0) throw new RangeError(`untieRbfBias: no RBF bias of the groups ${Object.keys(lengthscales).join(', ')} found`);
  return out;
}
