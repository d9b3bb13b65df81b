/**
 * Gneiting space-time GP task (experiments.md §8; reference config `gneiting_gp/data/16x16`).
 *
 * Per batch (shared by its B draws): 256 locations uniform in [−1, 1]²; times linspace(0, 1, 12);
 * a window of 5 consecutive times with a random end; frames 1–4 are context, each with its own
 * permutation of the locations, 16 slots and valid count ~ UniformInt[8, 16); frame 5 is the test
 * frame (all 256 locations, forecast). Values f = m(s, t) + GP + ε drawn jointly at the 64 context
 * slots and 256 test points (K + jitter·I, jitter 5e-4), noise on context and test.
 * The masks and locations are shared by the batch (as in the reference); padded context slots are
 * part of the joint draw, so they hold ordinary-looking values.
 *
 * Covariance C(h, u) = σ² ψ(u)^(−ν) exp(−(‖h/ℓ‖² / ψ(u)^b)^γ), ψ(u) = 1 + a|u|^(2α), with the
 * hyper-priors of `GNEITING_16` and the mean function `gneitingMean` (terrain standardised over the
 * batch's query points: the 64 context slots then the 256 test points). Minimum predictive std for
 * the model: 0.05 (model.md §6), not applied here.
 */
import type { Rng } from '../engine/random.js';
import type { Batch } from './batch.js';
import { choleskyInPlace, lowerMatVec } from './cholesky.js';
import { logUniform, permutation, uniformIn } from './distributions.js';

export interface GneitingConfig {
  numLocations: number;
  lo: number;
  hi: number;
  numSteps: number;
  /** Frames per window (the last is the test frame). */
  numT: number;
  /** Context slots per frame; valid count ~ UniformInt[ctxMin, slotsPerFrame). */
  slotsPerFrame: number;
  ctxMin: number;
  batch: number;
  jitter: number;
  meanOffset: number;
  valueScale: number;
  varRange: [number, number];
  lsRange: [number, number];
  aRange: [number, number];
  alphaRange: [number, number];
  bRange: [number, number];
  nuRange: [number, number];
  gammaRange: [number, number];
  noiseRange: [number, number];
}

export const GNEITING_16 = {
  numLocations: 256, lo: -1, hi: 1, numSteps: 12, numT: 5, slotsPerFrame: 16, ctxMin: 8, batch: 4,
  jitter: 5e-4, meanOffset: 6, valueScale: 0.9,
  varRange: [0.85, 1.75], lsRange: [0.05, 0.15], aRange: [0.25, 2.5], alphaRange: [0.35, 1],
  bRange: [0, 0.75], nuRange: [1.1, 4], gammaRange: [0.55, 1], noiseRange: [0.01, 0.06],
} as const satisfies GneitingConfig;

export interface GneitingParams {
  variance: number;
  lsX: number;
  lsY: number;
  a: number;
  alpha: number;
  b: number;
  nu: number;
  gamma: number;
  noiseStd: number;
}

export interface GneitingMeanParams {
  c0: number;
  wT: number;
  w1: number;
  w2: number;
  wH: number;
  wI: number;
  wR: number;
  A: number;
}

/** Hyper-parameters: σ² = 0.81·LogU[0.85, 1.75], ℓx, ℓy ~ LogU[0.05, 0.15], …, noise 0.9·LogU[0.01, 0.06]. */
export function sampleGneitingParams(rng: Rng, cfg: GneitingConfig = GNEITING_16): GneitingParams {
  const s = cfg.valueScale;
  return {
    variance: s * s * logUniform(rng, ...cfg.varRange),
    lsX: logUniform(rng, ...cfg.lsRange),
    lsY: logUniform(rng, ...cfg.lsRange),
    a: logUniform(rng, ...cfg.aRange),
    alpha: uniformIn(rng, ...cfg.alphaRange),
    b: uniformIn(rng, ...cfg.bRange),
    nu: uniformIn(rng, ...cfg.nuRange),
    gamma: uniformIn(rng, ...cfg.gammaRange),
    noiseStd: s * logUniform(rng, ...cfg.noiseRange),
  };
}

export function sampleGneitingMeanParams(rng: Rng): GneitingMeanParams {
  return {
    c0: uniformIn(rng, -0.15, 0.15), wT: uniformIn(rng, -0.75, 0.75),
    w1: uniformIn(rng, -0.55, 0.55), w2: uniformIn(rng, -0.55, 0.55),
    wH: uniformIn(rng, -0.25, 0.25), wI: uniformIn(rng, -0.35, 0.35),
    wR: uniformIn(rng, -0.1, 0.1), A: uniformIn(rng, -0.55, 0.55),
  };
}

/** C((s, t), (s', t')) of the Gneiting class (see file comment). */
export function gneitingCovariance(p: GneitingParams, hx: number, hy: number, u: number): number {
  const psi = 1 + p.a * Math.pow(Math.abs(u), 2 * p.alpha);
  const q = (hx / p.lsX) ** 2 + (hy / p.lsY) ** 2;
  return (p.variance * Math.exp(-Math.pow(q / Math.pow(psi, p.b), p.gamma))) / Math.pow(psi, p.nu);
}

const TERRAIN = {
  centres: [[-0.72, -0.18], [-0.08, 0.58], [0.56, -0.48]],
  widths: [[0.30, 0.42], [0.26, 0.24], [0.38, 0.50]],
  amps: [1.30, -1.05, 0.85],
} as const;

/**
 * Terrain T(s) at n points [n, 2], standardised over those points:
 * Σ_k A_k exp(−½‖(s − c_k)/w_k‖²) + 0.35 sin(π s_x + 0.35π) cos(0.8π s_y − 0.175π),
 * then (x − mean) / (std + 1e-6) (population std, as the reference).
 */
export function terrain(s: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = s[2 * i]!, y = s[2 * i + 1]!;
    let v = 0;
    for (let k = 0; k < 3; k++) {
      const dx = (x - TERRAIN.centres[k]![0]) / TERRAIN.widths[k]![0];
      const dy = (y - TERRAIN.centres[k]![1]) / TERRAIN.widths[k]![1];
      v += TERRAIN.amps[k]! * Math.exp(-0.5 * (dx * dx + dy * dy));
    }
    v += 0.35 * Math.sin(Math.PI * x + 0.35 * Math.PI) * Math.cos(0.8 * Math.PI * y - 0.175 * Math.PI);
    out[i] = v;
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += out[i]!;
  mean /= n;
  let varSum = 0;
  for (let i = 0; i < n; i++) varSum += (out[i]! - mean) ** 2;
  const std = Math.sqrt(varSum / n);
  for (let i = 0; i < n; i++) out[i] = (out[i]! - mean) / (std + 1e-6);
  return out;
}

/** m(s, t) = offset + scale·(c0 + w_T T + w1 sin2πt + w2 cos2πt + w_H sin(4πt − 0.45π) + w_I T sin2πt + w_R (t − ½) + moving bump). */
export function gneitingMean(p: GneitingMeanParams, x: number, y: number, t: number, terrainValue: number,
  offset: number = GNEITING_16.meanOffset, scale: number = GNEITING_16.valueScale): number {
  const sn = Math.sin(2 * Math.PI * t);
  const cx = -0.55 + (t - 0.5) * 1.05, cy = -0.25 + (t - 0.5) * 0.55;
  const dx = (x - cx) / 0.24, dy = (y - cy) / 0.18;
  return offset + scale * (p.c0 + p.wT * terrainValue + p.w1 * sn + p.w2 * Math.cos(2 * Math.PI * t)
    + p.wH * Math.sin(4 * Math.PI * t - 0.45 * Math.PI) + p.wI * terrainValue * sn + p.wR * (t - 0.5)
    + p.A * Math.exp(-0.5 * (dx * dx + dy * dy)));
}

/**
 * Seeded generator of Gneiting batches: s [B, Nc, 2], t [B, Nc, 1], Nc = (numT − 1)·slots,
 * Nt = numLocations. With `covariate` the batches also carry x [B, N, 1] = the standardised terrain
 * T(s) that the mean function uses (the task's fixed effect; Dx = 1). The random draws are the same
 * with or without it.
 */
export function gneitingTask(cfg: GneitingConfig = GNEITING_16, covariate = false): (rng: Rng) => Batch {
  if (!(cfg.ctxMin <= cfg.slotsPerFrame && cfg.slotsPerFrame <= cfg.numLocations && cfg.numT <= cfg.numSteps)) {
    throw new RangeError('gneitingTask: expected ctxMin ≤ slotsPerFrame ≤ numLocations and numT ≤ numSteps');
  }
  const nCtxFrames = cfg.numT - 1;
  const Nc = nCtxFrames * cfg.slotsPerFrame;
  const Nt = cfg.numLocations;
  return (rng: Rng): Batch => {
    const rLoc = rng.split(), rT = rng.split(), rPerm = rng.split(), rLen = rng.split();
    const rK = rng.split(), rM = rng.split(), rZ = rng.split(), rEps = rng.split();
    const L = cfg.numLocations;
    const locs = new Float64Array(L * 2);
    for (let i = 0; i < 2 * L; i++) locs[i] = Math.fround(uniformIn(rLoc, cfg.lo, cfg.hi));
    const times = Array.from({ length: cfg.numSteps }, (_, i) => Math.fround(cfg.numSteps === 1 ? 0 : i / (cfg.numSteps - 1)));
    const last = rT.int(cfg.numT - 1, cfg.numSteps); // window = times[last − numT + 1 .. last]
    const B = cfg.batch;
    // Query points: context slots (frame-major) then the test frame, in test-frame permutation order.
    const nq = Nc + Nt;
    const qs = new Float64Array(nq * 2);
    const qt = new Float64Array(nq);
    const qmask = new Float32Array(Nc);
    let nValid = 0;
    for (let fr = 0; fr < cfg.numT; fr++) {
      const perm = permutation(rPerm, L);
      const t = times[last - cfg.numT + 1 + fr]!;
      const isTest = fr === cfg.numT - 1;
      const slots = isTest ? Nt : cfg.slotsPerFrame;
      const nb = isTest ? Nt : rLen.int(cfg.ctxMin, cfg.slotsPerFrame);
      for (let k = 0; k < slots; k++) {
        const q = isTest ? Nc + k : fr * cfg.slotsPerFrame + k;
        qs[2 * q] = locs[2 * perm[k]!]!;
        qs[2 * q + 1] = locs[2 * perm[k]! + 1]!;
        qt[q] = t;
        if (!isTest) { qmask[q] = k < nb ? 1 : 0; nValid += k < nb ? 1 : 0; }
      }
    }
    const kp = sampleGneitingParams(rK, cfg);
    const mp = sampleGneitingMeanParams(rM);
    const ter = terrain(qs, nq);
    const k = new Float64Array(nq * nq);
    for (let i = 0; i < nq; i++) {
      for (let j = 0; j <= i; j++) {
        const v = gneitingCovariance(kp, qs[2 * i]! - qs[2 * j]!, qs[2 * i + 1]! - qs[2 * j + 1]!, qt[i]! - qt[j]!);
        k[i * nq + j] = v;
        k[j * nq + i] = v;
      }
    }
    choleskyInPlace(k, nq, cfg.jitter);
    const z = new Float64Array(nq);
    const g = new Float64Array(nq);
    const batch: Batch = {
      B, Nc, Nt, dims: { Ds: 2, Dt: 1, Dx: covariate ? 1 : 0, Df: 1 }, likelihood: 'gaussian',
      s_ctx: new Float32Array(B * Nc * 2), t_ctx: new Float32Array(B * Nc), f_ctx: new Float32Array(B * Nc),
      mask_ctx: new Float32Array(B * Nc), s_test: new Float32Array(B * Nt * 2), t_test: new Float32Array(B * Nt),
      f_test: new Float32Array(B * Nt), n_ctx: new Int32Array(B).fill(nValid),
    };
    if (covariate) {
      batch.x_ctx = new Float32Array(B * Nc);
      batch.x_test = new Float32Array(B * Nt);
      for (let b = 0; b < B; b++) {
        for (let q = 0; q < Nc; q++) batch.x_ctx[b * Nc + q] = ter[q]!;
        for (let q = 0; q < Nt; q++) batch.x_test[b * Nt + q] = ter[Nc + q]!;
      }
    }
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < nq; i++) z[i] = rZ.normal();
      lowerMatVec(k, nq, z, g);
      for (let q = 0; q < nq; q++) {
        const v = gneitingMean(mp, qs[2 * q]!, qs[2 * q + 1]!, qt[q]!, ter[q]!, cfg.meanOffset, cfg.valueScale)
          + g[q]! + kp.noiseStd * rEps.normal();
        if (q < Nc) {
          const row = b * Nc + q;
          batch.s_ctx[2 * row] = qs[2 * q]!; batch.s_ctx[2 * row + 1] = qs[2 * q + 1]!;
          batch.t_ctx![row] = qt[q]!; batch.f_ctx[row] = v; batch.mask_ctx[row] = qmask[q]!;
        } else {
          const row = b * Nt + (q - Nc);
          batch.s_test[2 * row] = qs[2 * q]!; batch.s_test[2 * row + 1] = qs[2 * q + 1]!;
          batch.t_test![row] = qt[q]!; batch.f_test[row] = v;
        }
      }
    }
    return batch;
  };
}
