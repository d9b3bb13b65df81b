/**
 * The gp-mixture task: a broad mixture of Gaussian processes in space AND time, so that one
 * "prior" model serves both spatial and spatio-temporal data (issue 17). Every batch element is
 * its own GP with its own hyper-parameters (per-element draws: a batch of 8 then covers 8 points
 * of the mixture instead of one, which lowers the gradient's variance; see the design below).
 *
 * Design (defaults; every range is an option of `GpMixtureConfig`):
 * * Locations: s uniform in [−2, 2]² (the 2-D GP task's box) and t in [0, 4]. Per element, with
 *   probability `sliceProbability` = 1/2 the times are K ~ UniformInt{1…8} evenly spaced slices
 *   (linspace(0, 4, K); K = 1 puts every point at t = 0, a purely spatial task; every point picks
 *   its slice uniformly), else t ~ U[0, 4] continuously. Slices are what monitoring networks and
 *   repeated surveys give; continuous times what mobile sensors give.
 * * Kernel: separable k(Δs, Δt) = σ² k_s(‖Δs‖; ℓ_s) · k_t(|Δt|; ℓ_t). The families of k_s and
 *   k_t are drawn INDEPENDENTLY and uniformly from {RBF, Matérn 1/2, 3/2, 5/2}: data that are
 *   smooth in space can be rough in time (daily weather) and the other way round.
 * * ℓ_s ~ LogU[0.04, 4]: from a quarter of the mean spacing of the densest context (512 points in
 *   [−2, 2]²: spacing 0.18; rougher fields are unpredictable between points and look like noise)
 *   to the side of the box (longer: a near-linear trend over the window, which small variance and
 *   long ℓ already cover). Two decades.
 * * ℓ_t ~ LogU[0.04, 400]: four decades, the upper two far beyond the time span 4, so about half of
 *   the tasks barely vary in time ("no time variation"), and k_t(4) ≥ 0.99 at ℓ_t = 400.
 * * σ² ~ LogU[1e-3, 1] and noise std ~ LogU[1e-3, 1], independent: signal-to-noise from ~0 to 1e6.
 * * Noise on the context values only; test targets are the noiseless latent field (as the 2-D GP
 *   task): the model predicts the field a user maps, with its uncertainty, not a new reading. For
 *   a predictive distribution of new observations add the noise variance the model cannot know,
 *   or train with `noisyTest: true` (test targets get the element's noise; the oracle matches).
 * * Context count n_b ~ UniformInt[16, 512) per element, Nt = 512 test points disjoint from the
 *   512 context slots. Jitter 1e-5·σ² (relative, so a tiny σ² is not swamped), part of the prior.
 *
 * Sampling: per element, joint over the first m = ⌈n_b/64⌉·64 context slots (the valid ones and
 * a few padded ones), every later slot and test point from its conditional given those m
 * (`sampleGpFunctionsMarginal`): each (context, test point) pair has the joint draw's distribution,
 * which is what a neural process's per-point loss and the metrics see, at the cost of one m×m
 * factorisation per element. Padded context slots beyond m get such conditional values too, so
 * they look ordinary. The kernel columns, the factorisation (with the triangular solve for the later
 * points) and the products run in WebAssembly memory (cholesky.ts `columnsFactorTimes`): ≈ 90 ms per
 * batch of 8 on one thread of a shared 2-core EPYC against ≈ 250–300 ms when the space-time kernel
 * was built in JavaScript (`npm run bench -- data-gen`; bench/results/2026-12-07-cpu-data-gen.jsonl).
 */
import type { Rng } from '../engine/random.js';
import type { Batch, GpElementTruth } from './batch.js';
import { logUniform } from './distributions.js';
import { sampleGpFunctionsMarginal } from './gp.js';
import { CHOLESKY_TILE } from './cholesky-js.js';
import { type KernelSpec, SEPARABLE_FAMILIES, type SeparableFamily } from './kernels.js';

export interface GpMixtureConfig {
  /** Space box corners (2-D). */
  lo: readonly number[];
  hi: readonly number[];
  /** Times lie in [0, tMax]. */
  tMax: number;
  ncMin: number;
  ncMax: number;
  nt: number;
  batch: number;
  /** Log-uniform ranges [lo, hi]. */
  lengthscaleS: readonly [number, number];
  lengthscaleT: readonly [number, number];
  variance: readonly [number, number];
  noiseStd: readonly [number, number];
  /** Families drawn from (uniformly, independently for space and time). */
  families: readonly SeparableFamily[];
  /** Probability of a time-slice element (else continuous times). */
  sliceProbability: number;
  /** Slice elements have K ~ UniformInt{1…maxSlices} slices. */
  maxSlices: number;
  /** Noise on the test targets too (predictive of new observations) instead of the latent field. */
  noisyTest: boolean;
  /** Jitter as a fraction of σ². */
  relativeJitter: number;
}

export const GP_MIXTURE = {
  lo: [-2, -2], hi: [2, 2], tMax: 4,
  ncMin: 16, ncMax: 512, nt: 512, batch: 8,
  lengthscaleS: [0.04, 4], lengthscaleT: [0.04, 400], variance: [1e-3, 1], noiseStd: [1e-3, 1],
  families: SEPARABLE_FAMILIES, sliceProbability: 0.5, maxSlices: 8, noisyTest: false, relativeJitter: 1e-5,
} as const satisfies GpMixtureConfig;

/** One element's hyper-parameters (exported for the distribution tests). */
export interface GpMixtureDraw {
  kernel: KernelSpec & { time: { kind: SeparableFamily; lengthscale: number } };
  noiseStd: number;
  /** Number of time slices, or 0 for continuous times. */
  slices: number;
}

export function sampleMixtureDraw(rng: Rng, cfg: GpMixtureConfig): GpMixtureDraw {
  const fams = cfg.families;
  const kind = fams[rng.int(0, fams.length)]!;
  const tKind = fams[rng.int(0, fams.length)]!;
  const variance = logUniform(rng, cfg.variance[0], cfg.variance[1]);
  const lengthscale = logUniform(rng, cfg.lengthscaleS[0], cfg.lengthscaleS[1]);
  const tLength = logUniform(rng, cfg.lengthscaleT[0], cfg.lengthscaleT[1]);
  const noiseStd = logUniform(rng, cfg.noiseStd[0], cfg.noiseStd[1]);
  const slices = rng.uniform() < cfg.sliceProbability ? rng.int(1, cfg.maxSlices + 1) : 0;
  return { kernel: { kind, variance, lengthscale, time: { kind: tKind, lengthscale: tLength } }, noiseStd, slices };
}

function validate(cfg: GpMixtureConfig): void {
  const bad = (what: string) => { throw new RangeError(`gpMixtureTask: expected ${what}`); };
  if (cfg.lo.length !== 2 || cfg.hi.length !== 2 || !(cfg.hi[0]! > cfg.lo[0]!) || !(cfg.hi[1]! > cfg.lo[1]!)) {
    bad(`a 2-D box with hi > lo, got lo ${JSON.stringify(cfg.lo)}, hi ${JSON.stringify(cfg.hi)}`);
  }
  if (!(cfg.tMax >= 0)) bad(`tMax ≥ 0, got ${cfg.tMax}`);
  if (!(Number.isInteger(cfg.ncMin) && Number.isInteger(cfg.ncMax) && cfg.ncMin >= 0 && cfg.ncMin <= cfg.ncMax && cfg.ncMax >= 1)) {
    bad(`integers 0 ≤ ncMin ≤ ncMax, ncMax ≥ 1, got [${cfg.ncMin}, ${cfg.ncMax})`);
  }
  if (!(Number.isInteger(cfg.nt) && cfg.nt >= 1)) bad(`nt ≥ 1, got ${cfg.nt}`);
  for (const k of ['lengthscaleS', 'lengthscaleT', 'variance', 'noiseStd'] as const) {
    const [a, b] = cfg[k];
    if (!(a > 0 && b >= a)) bad(`${k} = [lo, hi] with 0 < lo ≤ hi, got [${a}, ${b}]`);
  }
  if (cfg.families.length === 0) bad('at least one kernel family');
}

/**
 * A seeded generator of gp-mixture batches (see the file comment). Batches carry `gp.elements`
 * (each element's kernel and noise) for `gpOracle`, with Ds = 2, Dt = 1.
 */
export function gpMixtureTask(cfg: GpMixtureConfig): (rng: Rng) => Batch {
  validate(cfg);
  const { ncMax: Nc, nt: Nt, batch: B } = cfg;
  const used = Nc + Nt;
  return (rng: Rng): Batch => {
    const batch: Batch = {
      B, Nc, Nt, dims: { Ds: 2, Dt: 1, Dx: 0, Df: 1 }, likelihood: 'gaussian',
      s_ctx: new Float32Array(B * Nc * 2), t_ctx: new Float32Array(B * Nc), f_ctx: new Float32Array(B * Nc),
      mask_ctx: new Float32Array(B * Nc), s_test: new Float32Array(B * Nt * 2), t_test: new Float32Array(B * Nt),
      f_test: new Float32Array(B * Nt), n_ctx: new Int32Array(B),
    };
    const latent = new Float32Array(B * Nc);
    const elements: GpElementTruth[] = [];
    for (let b = 0; b < B; b++) {
      const r = rng.split();
      const rHyp = r.split(), rLoc = r.split(), rLen = r.split(), rF = r.split(), rNoise = r.split();
      const draw = sampleMixtureDraw(rHyp, cfg);
      const nb = cfg.ncMin === cfg.ncMax ? cfg.ncMax : rLen.int(cfg.ncMin, cfg.ncMax);
      batch.n_ctx[b] = nb;
      // [s0, s1, t] per point, rounded to float32 so the oracle sees the model's inputs.
      const locs = new Float64Array(used * 3);
      for (let p = 0; p < used; p++) {
        locs[p * 3] = Math.fround(cfg.lo[0]! + (cfg.hi[0]! - cfg.lo[0]!) * rLoc.uniform());
        locs[p * 3 + 1] = Math.fround(cfg.lo[1]! + (cfg.hi[1]! - cfg.lo[1]!) * rLoc.uniform());
        const K = draw.slices;
        locs[p * 3 + 2] = Math.fround(K === 0 ? cfg.tMax * rLoc.uniform() : K === 1 ? 0 : (cfg.tMax * rLoc.int(0, K)) / (K - 1));
      }
      const jitter = cfg.relativeJitter * draw.kernel.variance;
      const m = Math.min(used, Math.max(CHOLESKY_TILE, Math.ceil(nb / CHOLESKY_TILE) * CHOLESKY_TILE));
      const f = sampleGpFunctionsMarginal(rF, draw.kernel, locs, used, 3, m, 1, jitter);
      const testNoiseStd = cfg.noisyTest ? draw.noiseStd : 0;
      elements.push({ kernel: draw.kernel, noiseStd: draw.noiseStd, testNoiseStd, jitter });
      for (let i = 0; i < Nc; i++) {
        const row = b * Nc + i;
        batch.s_ctx[row * 2] = locs[i * 3]!;
        batch.s_ctx[row * 2 + 1] = locs[i * 3 + 1]!;
        batch.t_ctx![row] = locs[i * 3 + 2]!;
        latent[row] = f[i]!;
        batch.f_ctx[row] = f[i]! + draw.noiseStd * rNoise.normal();
        batch.mask_ctx[row] = i < nb ? 1 : 0;
      }
      for (let j = 0; j < Nt; j++) {
        const p = Nc + j, row = b * Nt + j;
        batch.s_test[row * 2] = locs[p * 3]!;
        batch.s_test[row * 2 + 1] = locs[p * 3 + 1]!;
        batch.t_test![row] = locs[p * 3 + 2]!;
        batch.f_test[row] = f[p]! + testNoiseStd * rNoise.normal();
      }
    }
    const e0 = elements[0]!;
    batch.gp = { kernel: e0.kernel, noiseStd: e0.noiseStd, testNoiseStd: e0.testNoiseStd, jitter: e0.jitter, latent_ctx: latent, elements };
    return batch;
  };
}
