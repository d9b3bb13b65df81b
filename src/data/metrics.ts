/**
 * Per-batch evaluation metrics (experiments.md §1), masked to valid test entries with all output
 * dims pooled, and a running mean over batches (reported metric = arithmetic mean of per-batch
 * metrics, so e.g. RMSE is a mean of per-batch RMSEs).
 *
 * Gaussian: NLL = mean of −log N(f | μ, σ²); RMSE = sqrt(mean (f − μ)²); MAE = mean |f − μ|;
 * coverage = fraction of entries with μ − 1.95996σ ≤ f ≤ μ + 1.95996σ.
 * Categorical: NLL = mean cross-entropy −log p(true class) per valid point; accuracy of the argmax.
 */

export const Z95 = 1.95996;
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

export interface GaussianMetrics {
  nll: number;
  rmse: number;
  mae: number;
  coverage: number;
  /** Number of valid entries scored. */
  count: number;
}

export interface CategoricalMetrics {
  nll: number;
  accuracy: number;
  count: number;
}

/**
 * **Arguments**: `f`, `mu`, `sigma` [B, Nt, Df] flat; `Df`; `mask` [B, Nt] (1 valid; absent = all).
 * **Returns** the pooled metrics; NaN fields if no entry is valid.
 */
export function gaussianMetrics(f: ArrayLike<number>, mu: ArrayLike<number>, sigma: ArrayLike<number>, Df = 1,
  mask?: ArrayLike<number>): GaussianMetrics {
  if (mu.length !== f.length || sigma.length !== f.length) {
    throw new RangeError(`gaussianMetrics: expected f, mu, sigma of equal length, got ${f.length}, ${mu.length}, ${sigma.length}`);
  }
  if (mask !== undefined && mask.length * Df !== f.length) {
    throw new RangeError(`gaussianMetrics: mask [B, Nt] has ${mask.length} entries, expected ${f.length / Df}`);
  }
  let nll = 0, se = 0, ae = 0, cov = 0, count = 0;
  for (let i = 0; i < f.length; i++) {
    if (mask !== undefined && !(mask[Math.floor(i / Df)]! > 0.5)) continue;
    const e = f[i]! - mu[i]!;
    const s = sigma[i]!;
    nll += Math.log(s) + HALF_LOG_2PI + (0.5 * e * e) / (s * s);
    se += e * e;
    ae += Math.abs(e);
    if (Math.abs(e) <= Z95 * s) cov++;
    count++;
  }
  return { nll: nll / count, rmse: Math.sqrt(se / count), mae: ae / count, coverage: cov / count, count };
}

/**
 * **Arguments**: `f` one-hot [B, Nt, C]; `scores` [B, Nt, C] probabilities or logits (`from`);
 * `C` classes; `mask` [B, Nt]. Logits go through a stable log-softmax; probabilities are clamped
 * at 1e-12 before the log.
 */
export function categoricalMetrics(f: ArrayLike<number>, scores: ArrayLike<number>, C: number,
  from: 'probs' | 'logits', mask?: ArrayLike<number>): CategoricalMetrics {
  if (scores.length !== f.length || f.length % C !== 0) {
    throw new RangeError(`categoricalMetrics: expected f and scores of equal length divisible by ${C}, got ${f.length}, ${scores.length}`);
  }
  const n = f.length / C;
  if (mask !== undefined && mask.length !== n) throw new RangeError(`categoricalMetrics: mask has ${mask.length} entries, expected ${n}`);
  let nll = 0, correct = 0, count = 0;
  for (let p = 0; p < n; p++) {
    if (mask !== undefined && !(mask[p]! > 0.5)) continue;
    const o = p * C;
    let best = 0;
    for (let c = 1; c < C; c++) if (scores[o + c]! > scores[o + best]!) best = c;
    let lse = 0;
    if (from === 'logits') {
      const mx = scores[o + best]!;
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(scores[o + c]! - mx);
      lse = mx + Math.log(s);
    }
    let truth = 0;
    for (let c = 0; c < C; c++) {
      const y = f[o + c]!;
      if (y === 0) continue;
      const logp = from === 'logits' ? scores[o + c]! - lse : Math.log(Math.max(scores[o + c]!, 1e-12));
      nll -= y * logp;
      if (y > f[o + truth]!) truth = c;
    }
    if (f[o + truth]! > 0 && truth === best) correct++;
    count++;
  }
  return { nll: nll / count, accuracy: correct / count, count };
}

/** Arithmetic mean (and standard error) of named per-batch metrics. */
export class RunningMean {
  private sums = new Map<string, number>();
  private sumSquares = new Map<string, number>();
  private counts = new Map<string, number>();

  /** Adds one batch's metrics; non-finite values are counted and propagate to the mean. */
  add(metrics: Readonly<Record<string, number>>): void {
    for (const [k, v] of Object.entries(metrics)) {
      if (k === 'count') continue;
      this.sums.set(k, (this.sums.get(k) ?? 0) + v);
      this.sumSquares.set(k, (this.sumSquares.get(k) ?? 0) + v * v);
      this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    }
  }

  /** Number of batches added (for the first metric name). */
  get batches(): number {
    const first = this.counts.values().next();
    return first.done ? 0 : first.value;
  }

  mean(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, s] of this.sums) out[k] = s / this.counts.get(k)!;
    return out;
  }

  /** Standard error of the mean over batches (sample std / √n); 0 with one batch. */
  standardError(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, s] of this.sums) {
      const n = this.counts.get(k)!;
      const m = s / n;
      const v = n > 1 ? Math.max(0, (this.sumSquares.get(k)! - n * m * m) / (n - 1)) : 0;
      out[k] = Math.sqrt(v / n);
    }
    return out;
  }
}
