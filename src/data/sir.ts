/**
 * Lattice SIR epidemic simulator and its tasks (experiments.md §6).
 *
 * Simulator on an H×W grid, synchronous updates from the previous state:
 * * β ~ Beta(2, 8); γ = 0.4/G, G ~ Gamma(5, 1); n0 ~ UniformInt{1..4} initial infected cells,
 *   chosen uniformly without replacement; everything else susceptible.
 * * ν(cell) = Σ over infected cells in the 9×9 window of 1/(di² + dj²) (centre 0, not normalised,
 *   zero padding at the borders).
 * * A susceptible cell becomes infected with probability min(1, β·ν); an infected cell recovers with
 *   probability γ. One uniform per cell per step decides either (a cell is in one state only).
 * * T frames = the initial state + T − 1 steps. Classes: 0 = infected, 1 = recovered, 2 = susceptible.
 *
 * Tasks: coordinates linspace(lo, hi, n) per axis; one simulation of T frames feeds ⌊T/B⌋ batches;
 * each batch picks B frames with replacement and one permutation of the cells; context = first ncMax
 * permuted cells (valid count ~ UniformInt[ncMin, ncMax) per element), test = first nt permuted
 * cells (test ⊇ context). Targets one-hot, Df = 3, categorical.
 */
import type { Rng } from '../engine/random.js';
import type { Batch } from './batch.js';
import { beta, choose, gamma, permutation } from './distributions.js';

export const SIR_INFECTED = 0;
export const SIR_RECOVERED = 1;
export const SIR_SUSCEPTIBLE = 2;
export const SIR_CLASSES = 3;

export interface SirParams {
  /** Infection rate β. */
  beta: number;
  /** Recovery probability per step γ. */
  gamma: number;
  /** Number of initially infected cells. */
  n0: number;
}

/** β ~ Beta(2, 8), γ = 0.4/G with G ~ Gamma(5, 1), n0 ~ UniformInt{1, 2, 3, 4}. */
export function sampleSirParams(rng: Rng): SirParams {
  const b = beta(rng, 2, 8);
  const g = 0.4 / gamma(rng, 5, 1);
  return { beta: b, gamma: g, n0: rng.int(1, 5) };
}

const RADIUS = 4; // 9×9 window

/** The 9×9 infection kernel 1/(di² + dj²), centre 0, row-major [9, 9]. */
export function sirKernel(): Float64Array {
  const w = 2 * RADIUS + 1;
  const k = new Float64Array(w * w);
  for (let di = -RADIUS; di <= RADIUS; di++) {
    for (let dj = -RADIUS; dj <= RADIUS; dj++) {
      if (di !== 0 || dj !== 0) k[(di + RADIUS) * w + dj + RADIUS] = 1 / (di * di + dj * dj);
    }
  }
  return k;
}

/**
 * Runs the simulator. **Returns** frames [T, H·W] of class ids (row-major cell index i·W + j).
 * `params` defaults to a prior draw from `rng`.
 */
export function simulateSir(rng: Rng, H: number, W: number, T: number, params: SirParams = sampleSirParams(rng)): Uint8Array {
  const n = H * W;
  if (params.n0 > n) throw new RangeError(`simulateSir: n0 = ${params.n0} exceeds the ${n} cells`);
  const frames = new Uint8Array(T * n);
  const state = new Uint8Array(n).fill(SIR_SUSCEPTIBLE);
  for (const c of choose(rng, n, params.n0)) state[c] = SIR_INFECTED;
  frames.set(state, 0);
  const kernel = sirKernel();
  const w = 2 * RADIUS + 1;
  const nu = new Float64Array(n);
  const pRecover = Math.min(1, params.gamma);
  for (let step = 1; step < T; step++) {
    // Scatter each infected cell's kernel onto its neighbours (zero padding: skip out-of-grid cells).
    nu.fill(0);
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        if (state[i * W + j] !== SIR_INFECTED) continue;
        for (let di = -RADIUS; di <= RADIUS; di++) {
          const ii = i + di;
          if (ii < 0 || ii >= H) continue;
          const krow = (di + RADIUS) * w + RADIUS;
          for (let dj = -RADIUS; dj <= RADIUS; dj++) {
            const jj = j + dj;
            if (jj < 0 || jj >= W) continue;
            nu[ii * W + jj]! += kernel[krow + dj]!;
          }
        }
      }
    }
    const next = frames.subarray(step * n, (step + 1) * n);
    for (let c = 0; c < n; c++) {
      const u = rng.uniform();
      const s = state[c]!;
      if (s === SIR_SUSCEPTIBLE) next[c] = u < Math.min(1, params.beta * nu[c]!) ? SIR_INFECTED : SIR_SUSCEPTIBLE;
      else if (s === SIR_INFECTED) next[c] = u < pRecover ? SIR_RECOVERED : SIR_INFECTED;
      else next[c] = SIR_RECOVERED;
    }
    state.set(next);
  }
  return frames;
}

export interface SirTaskConfig {
  /** Grid cells per axis (square grid n×n). */
  size: number;
  /** Coordinate extent: linspace(lo, hi, size) on both axes. */
  lo: number;
  hi: number;
  /** Frames per simulation. */
  T: number;
  /** Valid context count ~ UniformInt[ncMin, ncMax); ncMin = ncMax means exactly ncMax. */
  ncMin: number;
  ncMax: number;
  nt: number;
  batch: number;
}

export const SIR_64 = { size: 64, lo: -2, hi: 2, T: 25, ncMin: 128, ncMax: 512, nt: 1024, batch: 8 } as const satisfies SirTaskConfig;
export const SIR_64_SHIFTED = { ...SIR_64, lo: 8, hi: 12 } as const satisfies SirTaskConfig;
export const SIR_128_SCALED = {
  size: 128, lo: -4, hi: 4, T: 50, ncMin: 512, ncMax: 2048, nt: 4096, batch: 8,
} as const satisfies SirTaskConfig;

/** Size-sweep settings (§6): 128², 256², 512², 1024²; batch 1, test = all cells (128²: 4096). */
export function sirSweepConfig(size: 128 | 256 | 512 | 1024): SirTaskConfig {
  switch (size) {
    case 128: return { ...SIR_128_SCALED, batch: 1 };
    case 256: return { size, lo: -8, hi: 8, T: 75, ncMin: 2048, ncMax: 8192, nt: size * size, batch: 1 };
    case 512: return { size, lo: -16, hi: 16, T: 200, ncMin: 7864, ncMax: 32768, nt: size * size, batch: 1 };
    case 1024: return { size, lo: -32, hi: 32, T: 200, ncMin: 100000, ncMax: 100000, nt: size * size, batch: 1 };
  }
}

function linspace(lo: number, hi: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = n === 1 ? lo : lo + ((hi - lo) * i) / (n - 1);
  return out;
}

function validateSir(cfg: SirTaskConfig): void {
  const cells = cfg.size * cfg.size;
  if (!(cfg.ncMin >= 0 && cfg.ncMin <= cfg.ncMax && cfg.ncMax <= cells && cfg.nt <= cells)) {
    throw new RangeError(`sirTask: expected 0 ≤ ncMin ≤ ncMax ≤ ${cells} and nt ≤ ${cells}, ` +
      `got ncMin ${cfg.ncMin}, ncMax ${cfg.ncMax}, nt ${cfg.nt}`);
  }
}

/**
 * Builds `count` batches (default ⌊T/B⌋) from one simulation's frames [T, size²].
 * Each batch: B frames with replacement, one cell permutation, context = first ncMax permuted cells,
 * test = first nt permuted cells.
 */
export function sirBatchesFromFrames(rng: Rng, frames: Uint8Array, cfg: SirTaskConfig,
  count = Math.floor(cfg.T / cfg.batch)): Batch[] {
  validateSir(cfg);
  const cells = cfg.size * cfg.size;
  const T = frames.length / cells;
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`sirBatchesFromFrames: frames length ${frames.length} is not a multiple of ${cells}`);
  const axis = linspace(cfg.lo, cfg.hi, cfg.size);
  const { batch: B, ncMax: Nc, nt: Nt } = cfg;
  const out: Batch[] = [];
  for (let q = 0; q < count; q++) {
    const perm = permutation(rng, cells);
    const batch: Batch = {
      B, Nc, Nt, dims: { Ds: 2, Dt: 0, Dx: 0, Df: SIR_CLASSES }, likelihood: 'categorical',
      s_ctx: new Float32Array(B * Nc * 2), f_ctx: new Float32Array(B * Nc * 3), mask_ctx: new Float32Array(B * Nc),
      s_test: new Float32Array(B * Nt * 2), f_test: new Float32Array(B * Nt * 3), n_ctx: new Int32Array(B),
    };
    for (let b = 0; b < B; b++) {
      const frame = rng.int(0, T);
      const nb = cfg.ncMin === cfg.ncMax ? cfg.ncMax : rng.int(cfg.ncMin, cfg.ncMax);
      batch.n_ctx[b] = nb;
      const fill = (rows: number, k: number, s: Float32Array, f: Float32Array): void => {
        const cell = perm[k]!;
        const row = b * rows + k;
        s[row * 2] = axis[Math.floor(cell / cfg.size)]!;
        s[row * 2 + 1] = axis[cell % cfg.size]!;
        f[row * 3 + frames[frame * cells + cell]!] = 1;
      };
      for (let i = 0; i < Nc; i++) {
        fill(Nc, i, batch.s_ctx, batch.f_ctx);
        batch.mask_ctx[b * Nc + i] = i < nb ? 1 : 0;
      }
      for (let j = 0; j < Nt; j++) fill(Nt, j, batch.s_test, batch.f_test);
    }
    out.push(batch);
  }
  return out;
}

/** One simulation (prior parameter draw) → ⌊T/B⌋ batches. Use with `BatchStream` for one batch per step. */
export function sirTask(cfg: SirTaskConfig): (rng: Rng) => Batch[] {
  validateSir(cfg);
  return (rng: Rng): Batch[] => {
    const rSim = rng.split(), rTask = rng.split();
    const frames = simulateSir(rSim, cfg.size, cfg.size, cfg.T);
    return sirBatchesFromFrames(rTask, frames, cfg);
  };
}
