/**
 * `decode`: the model's outputs in model space → columns in the data's units, named after the
 * user's columns. Gaussian outputs: per output column `pm10`, `pm10_mean, pm10_std, pm10_lo90,
 * pm10_hi90` (normalisation undone, then the transform's back-transform of transforms.ts: mean and
 * std of the back-transformed distribution, the 90% interval from the transformed quantiles).
 * Categorical outputs: `cover_p_<label>` per class when the schema has labels, else `cover_p0…`
 * (the original format), probabilities from a softmax of the logits. No Node built-ins.
 */
import type { DataSchema } from '../../models/data-schema.js';
import { backTransform } from './transforms.js';

/** Names of the output columns for a schema: Gaussian (4 per output) or categorical (one per class). */
export function outputColumnNames(schema: DataSchema, kind: 'gaussian' | 'categorical', classes = 0): string[] {
  const f = schema.columns.f;
  if (kind === 'gaussian') return f.flatMap((n) => [`${n}_mean`, `${n}_std`, `${n}_lo90`, `${n}_hi90`]);
  const labels = schema.categories?.[f[0]!];
  if (labels) return labels.map((l) => `${f[0]}_p_${l}`);
  return Array.from({ length: classes }, (_, c) => `${f[0]}_p${c}`);
}

/**
 * Gaussian outputs: `mean`, `std` [n, D] row-major in model space (D = `schema.columns.f.length`)
 * → one Float64Array per output column of `outputColumnNames(schema, 'gaussian')`, in data units.
 * Without a transform the values are rounded to float32 (the model's precision; short CSV text).
 */
export function decodeGaussian(schema: DataSchema, mean: ArrayLike<number>, std: ArrayLike<number>, n: number): Float64Array[] {
  const f = schema.columns.f;
  const D = f.length;
  const out: Float64Array[] = [];
  f.forEach((name, d) => {
    const st = schema.normalization[name] ?? { mean: 0, std: 1 };
    const tr = schema.transforms?.[name];
    const cols = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)] as const;
    for (let i = 0; i < n; i++) {
      // Rounded to float32 first, as the model computed it: results do not depend on the path.
      const m = Math.fround(mean[i * D + d]! * st.std + st.mean);
      const s = Math.fround(std[i * D + d]! * st.std);
      const b = backTransform(tr, m, s);
      cols[0][i] = Math.fround(b.mean);
      cols[1][i] = Math.fround(b.std);
      cols[2][i] = Math.fround(b.lo90);
      cols[3][i] = Math.fround(b.hi90);
    }
    out.push(...cols);
  });
  return out;
}

/** Categorical outputs: logits [n, C] row-major → C probability columns (softmax), float32-rounded. */
export function decodeCategorical(logits: ArrayLike<number>, n: number, classes: number): Float64Array[] {
  const probs = Array.from({ length: classes }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let c = 0; c < classes; c++) mx = Math.max(mx, logits[i * classes + c]!);
    let z = 0;
    for (let c = 0; c < classes; c++) z += Math.exp(logits[i * classes + c]! - mx);
    for (let c = 0; c < classes; c++) probs[c]![i] = Math.fround(Math.exp(logits[i * classes + c]! - mx) / z);
  }
  return probs;
}
