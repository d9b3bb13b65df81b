/**
 * Float64 dense reference layers for the baseline tests, written directly from the formulas of
 * model.md §2 and baselines.md with plain loops over rows (number[][]), sharing no code with
 * src/: Dense, MLP, LayerNorm, softplus, masked multi-head attention, Gaussian NLL.
 */
export type Mat = number[][];
/** Parameters by name as float64 arrays (row-major, the shapes of the model's specs). */
export type P64 = Map<string, Float64Array>;

export function get(P: P64, name: string): Float64Array {
  const v = P.get(name);
  if (!v) throw new Error(`ref: missing parameter ${name}`);
  return v;
}

export function dense(P: P64, name: string, x: Mat): Mat {
  const W = get(P, `${name}.weight`);
  const b = get(P, `${name}.bias`);
  const n = b.length;
  return x.map((row) => {
    const out = Array.from(b);
    for (let i = 0; i < row.length; i++) for (let j = 0; j < n; j++) out[j]! += row[i]! * W[i * n + j]!;
    return out;
  });
}

export const relu = (x: Mat): Mat => x.map((r) => r.map((v) => Math.max(0, v)));

export function mlp(P: P64, name: string, layers: number, x: Mat): Mat {
  let h = x;
  for (let i = 0; i < layers; i++) {
    h = dense(P, `${name}.${i}`, h);
    if (i < layers - 1) h = relu(h);
  }
  return h;
}

export function layerNorm(P: P64, name: string, x: Mat, eps: number): Mat {
  const g = get(P, `${name}.scale`);
  const b = get(P, `${name}.offset`);
  return x.map((r) => {
    const m = r.reduce((a, v) => a + v, 0) / r.length;
    const v = r.reduce((a, u) => a + (u - m) ** 2, 0) / r.length;
    return r.map((u, j) => ((u - m) / Math.sqrt(v + eps)) * g[j]! + b[j]!);
  });
}

export const add = (a: Mat, b: Mat): Mat => a.map((r, i) => r.map((v, j) => v + b[i]![j]!));
export const softplus = (z: number): number => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

/**
 * softmax_j over valid keys of `logit(h, i, j)` per head, mixing values V[j] (head h's columns);
 * rows with no valid key give 0. Returns [Q, H·d] before the output projection.
 */
export function mixHeads(Q: number, K: number, H: number, d: number, valid: boolean[], logit: (h: number, i: number, j: number) => number, V: Mat): Mat {
  const out: Mat = Array.from({ length: Q }, () => new Array<number>(H * d).fill(0));
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < Q; i++) {
      const s = Array.from({ length: K }, (_, j) => (valid[j] ? logit(h, i, j) : -Infinity));
      const m = Math.max(...s);
      if (m === -Infinity) continue;
      const w = s.map((v) => (v === -Infinity ? 0 : Math.exp(v - m)));
      const z = w.reduce((a, v) => a + v, 0);
      for (let j = 0; j < K; j++) for (let c = 0; c < d; c++) out[i]![h * d + c]! += (w[j]! / z) * V[j]![h * d + c]!;
    }
  }
  return out;
}

/** Multi-head softmax attention (q, k, v, out projections) of rows `q` over rows `kv`. */
export function mha(P: P64, name: string, q: Mat, kv: Mat, valid: boolean[], H: number, d: number): Mat {
  const Qp = dense(P, `${name}.q`, q);
  const Kp = dense(P, `${name}.k`, kv);
  const Vp = dense(P, `${name}.v`, kv);
  const logit = (h: number, i: number, j: number) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += Qp[i]![h * d + c]! * Kp[j]![h * d + c]!;
    return s / Math.sqrt(d);
  };
  return dense(P, `${name}.out`, mixHeads(q.length, kv.length, H, d, valid, logit, Vp));
}

/** Mean Gaussian NLL over rows of targets f [N][D] given the head output [N][2D]. */
export function gaussianNll(head: Mat, f: Mat): number {
  let s = 0;
  let n = 0;
  head.forEach((row, i) => {
    const D = row.length / 2;
    for (let k = 0; k < D; k++) {
      const mu = row[k]!;
      const sd = softplus(row[D + k]!);
      s += Math.log(sd) + 0.5 * Math.log(2 * Math.PI) + (f[i]![k]! - mu) ** 2 / (2 * sd * sd);
      n++;
    }
  });
  return s / n;
}

/** GELU, tanh approximation (model.md §2). */
export const gelu = (x: Mat): Mat => x.map((r) => r.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))));

/** MLP with GELU between layers. */
export function mlpGelu(P: P64, name: string, layers: number, x: Mat): Mat {
  let h = x;
  for (let i = 0; i < layers; i++) {
    h = dense(P, `${name}.${i}`, h);
    if (i < layers - 1) h = gelu(h);
  }
  return h;
}
