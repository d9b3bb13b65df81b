/**
 * GP regression tasks (experiments.md §2–§3): the 1-D and 2-D GP tasks and the shifted/scaled
 * evaluation variants, all one configurable generator, plus the exact-posterior oracle of a batch.
 *
 * Split rule (§2): one permutation of the L locations per batch; positions [0, ncMax) are context
 * slots, the first n_b valid with n_b ~ UniformInt[ncMin, ncMax) per batch element (upper bound
 * exclusive); test = positions [ncMax, ncMax + nt) (disjoint) or [0, nt) (test ⊇ context).
 * Noise N(0, noiseStd²) on context values only (padded slots get noisy values too, so they look
 * ordinary); test targets are the noiseless latent values. Only the ncMax + nt (or max) used
 * locations are sampled from the GP (a marginal of the joint draw at all L points); with
 * `sampling: 'marginal'` the test points are drawn one by one given the context slots.
 */
import type { Rng } from '../engine/random.js';
import type { Batch, TaskGenerator } from './batch.js';
import { permutation } from './distributions.js';
import { type GpPrior, GP_JITTER, RBF_BETA_PRIOR, sampleGpFunctions, sampleGpFunctionsMarginal, sampleKernel } from './gp.js';
import { gaussianMeanNll, gpPosterior } from './gp-posterior.js';
import { CHOLESKY_TILE } from './cholesky-js.js';

export type { Batch, BatchDims, GpTruth, Likelihood, TaskGenerator } from './batch.js';

/** `count` locations uniform in the box [lo, hi] (one entry per dimension). */
export interface Region {
  lo: readonly number[];
  hi: readonly number[];
  count: number;
}

export interface GpTaskConfig {
  /** Location boxes; their points are concatenated, then permuted together. Total = L. */
  regions: readonly Region[];
  /** Valid context count n_b ~ UniformInt[ncMin, ncMax) per batch element (ncMin = ncMax: exactly ncMax). */
  ncMin: number;
  ncMax: number;
  /** Number of test points. */
  nt: number;
  /** Batch size B (functions per batch, sharing locations, hyper-parameters and permutation). */
  batch: number;
  /** Std of the Gaussian noise on context values. */
  noiseStd: number;
  prior: GpPrior;
  jitter: number;
  /** false: test = the nt positions after the context slots (disjoint); true: the first nt. */
  testIncludesContext: boolean;
  /**
   * 'joint' (default): one draw from the GP at all used locations. 'marginal': joint over the ncMax
   * context slots, and each further test location drawn from its conditional given them
   * (`sampleGpFunctionsMarginal`): every (context, test point) pair has the joint draw's
   * distribution, so a model's per-point test loss and the metrics have the same expectation,
   * at a fraction of the cost (2-D task: 6.6× fewer multiply-adds). Needs ncMax a multiple of 64.
   */
  sampling?: 'joint' | 'marginal';
  /**
   * Optional map applied to all sampled locations after the function values are drawn (the SO(3)
   * task rotates the sphere here). Receives [n, D] float64 and rewrites it in place.
   */
  mapLocations?: (locs: Float64Array, n: number) => void;
}

/** 2-D GP training task (§3): L = 1536 in [−2, 2]², RBF, ℓ ~ Beta(3,7), Nc ∈ [128, 512), Nt = 1024, B = 8. */
export const GP_2D = {
  regions: [{ lo: [-2, -2], hi: [2, 2], count: 1536 }],
  ncMin: 128, ncMax: 512, nt: 1024, batch: 8, noiseStd: 0.1,
  prior: RBF_BETA_PRIOR, jitter: GP_JITTER, testIncludesContext: false,
} as const satisfies GpTaskConfig;

/** gp-smooth evaluation (issue 17): GP_2D with ℓ = 4 fixed, 4× the largest ℓ of Beta(3, 7)'s support (0, 1). */
export const GP_2D_SMOOTH = {
  ...GP_2D, prior: { kind: 'rbf', variance: 1, lengthscale: { kind: 'fixed', value: 4 } },
} as const satisfies GpTaskConfig;

/** gp-noisy evaluation (issue 17): GP_2D with noise std 0.5 on the context values (test targets latent). */
export const GP_2D_NOISY = { ...GP_2D, noiseStd: 0.5 } as const satisfies GpTaskConfig;

/** Shifted evaluation (§3): as GP_2D with locations in [8, 12]². */
export const GP_2D_SHIFTED = {
  ...GP_2D, regions: [{ lo: [8, 8], hi: [12, 12], count: 1536 }],
} as const satisfies GpTaskConfig;

/**
 * Scaled 2× evaluation (§3): [−4, 4]², Nc ∈ [492, 2048), Nt = 4096 (L = 2048 + 4096 = 6144).
 * Note: one batch needs a 6144×6144 Cholesky (≈ 77 GFLOP/3) — tens of seconds on the host.
 */
export const GP_2D_SCALED = {
  ...GP_2D, regions: [{ lo: [-4, -4], hi: [4, 4], count: 6144 }], ncMin: 492, ncMax: 2048, nt: 4096,
} as const satisfies GpTaskConfig;

/**
 * 1-D GP task. The spec gives no 1-D settings (§9 only lists "1D GPs"); these are ours:
 * [−2, 2], RBF ℓ ~ Beta(3,7), Nc ∈ [16, 64), Nt = 128 disjoint, B = 8, noise 0.1.
 */
export const GP_1D = {
  regions: [{ lo: [-2], hi: [2], count: 192 }],
  ncMin: 16, ncMax: 64, nt: 128, batch: 8, noiseStd: 0.1,
  prior: RBF_BETA_PRIOR, jitter: GP_JITTER, testIncludesContext: false,
} as const satisfies GpTaskConfig;

function validate(cfg: GpTaskConfig): { L: number; dim: number; used: number } {
  const dim = cfg.regions[0]?.lo.length ?? 0;
  if (dim === 0) throw new RangeError('gpTask: expected at least one region with D ≥ 1');
  let L = 0;
  for (const r of cfg.regions) {
    if (r.lo.length !== dim || r.hi.length !== dim) {
      throw new RangeError(`gpTask: every region needs lo/hi of length ${dim}, got ${r.lo.length}/${r.hi.length}`);
    }
    L += r.count;
  }
  if (!(Number.isInteger(cfg.ncMin) && Number.isInteger(cfg.ncMax) && cfg.ncMin >= 0 && cfg.ncMin <= cfg.ncMax)) {
    throw new RangeError(`gpTask: expected integers 0 ≤ ncMin ≤ ncMax, got [${cfg.ncMin}, ${cfg.ncMax})`);
  }
  const used = cfg.testIncludesContext ? Math.max(cfg.ncMax, cfg.nt) : cfg.ncMax + cfg.nt;
  if (cfg.sampling === 'marginal' && cfg.ncMax < used && (cfg.ncMax === 0 || cfg.ncMax % CHOLESKY_TILE !== 0)) {
    throw new RangeError(`gpTask: marginal sampling needs ncMax a positive multiple of ${CHOLESKY_TILE}, got ${cfg.ncMax}`);
  }
  if (used > L) {
    throw new RangeError(`gpTask: needs ${used} locations (ncMax ${cfg.ncMax}, nt ${cfg.nt}), regions hold ${L}; ` +
      'raise the region counts');
  }
  return { L, dim, used };
}

/** Uniform locations of all regions, concatenated, rounded to float32 (so the oracle sees the model's inputs). */
export function sampleRegions(rng: Rng, regions: readonly Region[], dim: number): Float64Array {
  let L = 0;
  for (const r of regions) L += r.count;
  const out = new Float64Array(L * dim);
  let o = 0;
  for (const r of regions) {
    for (let i = 0; i < r.count; i++) {
      for (let d = 0; d < dim; d++) out[o++] = Math.fround(r.lo[d]! + (r.hi[d]! - r.lo[d]!) * rng.uniform());
    }
  }
  return out;
}

/**
 * A seeded generator of GP batches following `cfg` (see the file comment for the split rules).
 * The returned batch carries `gp` (true kernel, noise, jitter, latent context values) for `gpOracle`.
 */
export function gpTask(cfg: GpTaskConfig): TaskGenerator {
  const { L, dim, used } = validate(cfg);
  return (rng: Rng): Batch => {
    const rLoc = rng.split(), rHyp = rng.split(), rPerm = rng.split(), rLen = rng.split();
    const rF = rng.split(), rNoise = rng.split();
    const all = sampleRegions(rLoc, cfg.regions, dim);
    const kernel = sampleKernel(rHyp, cfg.prior);
    const perm = permutation(rPerm, L);
    // Locations in permuted order, only the used positions.
    const locs = new Float64Array(used * dim);
    for (let p = 0; p < used; p++) for (let d = 0; d < dim; d++) locs[p * dim + d] = all[perm[p]! * dim + d]!;
    const B = cfg.batch;
    const f = cfg.sampling === 'marginal' // [B, used]
      ? sampleGpFunctionsMarginal(rF, kernel, locs, used, dim, Math.min(cfg.ncMax, used), B, cfg.jitter)
      : sampleGpFunctions(rF, kernel, locs, used, dim, B, cfg.jitter);
    if (cfg.mapLocations) {
      cfg.mapLocations(locs, used);
      for (let i = 0; i < locs.length; i++) locs[i] = Math.fround(locs[i]!);
    }
    const Nc = cfg.ncMax, Nt = cfg.nt;
    const testStart = cfg.testIncludesContext ? 0 : Nc;
    const batch: Batch = {
      B, Nc, Nt, dims: { Ds: dim, Dt: 0, Dx: 0, Df: 1 }, likelihood: 'gaussian',
      s_ctx: new Float32Array(B * Nc * dim), f_ctx: new Float32Array(B * Nc), mask_ctx: new Float32Array(B * Nc),
      s_test: new Float32Array(B * Nt * dim), f_test: new Float32Array(B * Nt), n_ctx: new Int32Array(B),
      gp: { kernel, noiseStd: cfg.noiseStd, testNoiseStd: 0, jitter: cfg.jitter, latent_ctx: new Float32Array(B * Nc) },
    };
    const latent = batch.gp!.latent_ctx;
    for (let b = 0; b < B; b++) {
      const nb = cfg.ncMin === cfg.ncMax ? cfg.ncMax : rLen.int(cfg.ncMin, cfg.ncMax);
      batch.n_ctx[b] = nb;
      for (let i = 0; i < Nc; i++) {
        const row = b * Nc + i;
        for (let d = 0; d < dim; d++) batch.s_ctx[row * dim + d] = locs[i * dim + d]!;
        const fv = f[b * used + i]!;
        latent[row] = fv;
        batch.f_ctx[row] = fv + cfg.noiseStd * rNoise.normal();
        batch.mask_ctx[row] = i < nb ? 1 : 0;
      }
      for (let j = 0; j < Nt; j++) {
        const p = testStart + j;
        const row = b * Nt + j;
        for (let d = 0; d < dim; d++) batch.s_test[row * dim + d] = locs[p * dim + d]!;
        batch.f_test[row] = f[b * used + p]!;
      }
    }
    return batch;
  };
}

export interface GpOracleResult {
  /** Posterior mean [B, Nt]. */
  mean: Float32Array;
  /** Posterior std [B, Nt] (latent; plus the test noise if the task has noisy targets). */
  std: Float32Array;
  /** Mean NLL of f_test per batch element [B] (valid context of that element only). */
  nll: Float64Array;
  /** Arithmetic mean of `nll` over the batch (the per-batch metric of experiments.md §1). */
  meanNll: number;
}

/**
 * The exact GP posterior for every element of a GP batch, conditioning on that element's valid
 * context rows only. Requires `batch.gp` (set by `gpTask`, `multiscaleTask`, `so3Task`) and Df = 1.
 * Cost per element: O(n³/3 + n²·Nt/2) — ~0.05 s for the base 2-D task, ~2.5 s for the scaled one
 * (one thread of the 2-core development machine, `npm run bench -- oracle`).
 */
export function gpOracle(batch: Batch): GpOracleResult {
  const gp = batch.gp;
  if (!gp) throw new Error('gpOracle: batch has no `gp` ground truth; only GP task batches can be scored by the oracle');
  if (batch.dims.Df !== 1) throw new Error(`gpOracle: expected Df = 1, got ${batch.dims.Df}`);
  const { B, Nc, Nt } = batch;
  const Ds = batch.dims.Ds, Dt = batch.dims.Dt;
  const D = Ds + Dt;
  if (Dt > 0 && (!batch.t_ctx || !batch.t_test)) throw new Error('gpOracle: the batch has Dt > 0 but no t_ctx / t_test');
  // The kernel sees [s…, t…] per row (a space-time kernel reads the last coordinate as time).
  const rows = (s: Float32Array, t: Float32Array | undefined, b: number, n: number): ArrayLike<number> => {
    if (Dt === 0) return s.subarray(b * n * Ds, (b + 1) * n * Ds);
    const out = new Float64Array(n * D);
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < Ds; d++) out[i * D + d] = s[(b * n + i) * Ds + d]!;
      for (let d = 0; d < Dt; d++) out[i * D + Ds + d] = t![(b * n + i) * Dt + d]!;
    }
    return out;
  };
  const mean = new Float32Array(B * Nt);
  const std = new Float32Array(B * Nt);
  const nll = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const e = gp.elements?.[b] ?? gp;
    const post = gpPosterior(e.kernel,
      rows(batch.s_ctx, batch.t_ctx, b, Nc), batch.f_ctx.subarray(b * Nc, (b + 1) * Nc), Nc,
      rows(batch.s_test, batch.t_test, b, Nt), Nt, D, e.noiseStd,
      { mask: batch.mask_ctx.subarray(b * Nc, (b + 1) * Nc), jitter: e.jitter, targetNoiseStd: e.testNoiseStd });
    mean.set(post.mean, b * Nt);
    std.set(post.std, b * Nt);
    nll[b] = gaussianMeanNll(batch.f_test.subarray(b * Nt, (b + 1) * Nt), post.mean, post.std);
  }
  let s = 0;
  for (let b = 0; b < B; b++) s += nll[b]!;
  return { mean, std, nll, meanNll: s / B };
}
