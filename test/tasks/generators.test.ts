// The paper's synthetic generators against their spec (experiments.md §5, §6, §8), each checked by
// an independent computation written here: SIR against a direct simulation on the same random
// stream; Gneiting draws' covariance against the formula; SO(3) rotations against the great-circle
// distance matrix; and the registry's variants against the spec's tables.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { simulateSir, type SirParams } from '../../src/data/sir.js';
import { GNEITING_16, type GneitingConfig, gneitingTask } from '../../src/data/gneiting.js';
import { gpOracle } from '../../src/data/tasks.js';
import { resolveTask } from '../../src/train/tasks.js';

/**
 * SIR written out directly (§6): initial infected by a partial Fisher–Yates on the same stream,
 * then for each step and each cell (row-major) one uniform: susceptible → infected with
 * probability min(1, β Σ_{infected j ≠ i, |Δrow| ≤ 4, |Δcol| ≤ 4} 1/(Δrow² + Δcol²)), infected →
 * recovered with probability γ.
 */
function directSir(rng: Rng, H: number, W: number, T: number, p: SirParams): Uint8Array {
  const n = H * W;
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < p.n0; i++) {
    const j = rng.int(i, n);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  let state = new Array<number>(n).fill(2);
  for (let i = 0; i < p.n0; i++) state[idx[i]!] = 0;
  const out = new Uint8Array(T * n);
  out.set(state, 0);
  for (let step = 1; step < T; step++) {
    const infected = state.map((s, c) => (s === 0 ? c : -1)).filter((c) => c >= 0);
    const next = new Array<number>(n);
    for (let c = 0; c < n; c++) {
      const u = rng.uniform();
      if (state[c] === 2) {
        let nu = 0;
        for (const q of infected) {
          const dr = Math.floor(q / W) - Math.floor(c / W), dc = (q % W) - (c % W);
          if (Math.abs(dr) <= 4 && Math.abs(dc) <= 4 && (dr !== 0 || dc !== 0)) nu += 1 / (dr * dr + dc * dc);
        }
        next[c] = u < Math.min(1, p.beta * nu) ? 0 : 2;
      } else if (state[c] === 0) next[c] = u < p.gamma ? 1 : 0;
      else next[c] = 1;
    }
    state = next;
    out.set(state, step * n);
  }
  return out;
}

describe('SIR simulator = a direct simulation on the same random stream', () => {
  for (const [H, W, p] of [[12, 12, { beta: 0.3, gamma: 0.2, n0: 3 }], [9, 15, { beta: 0.8, gamma: 0.05, n0: 4 }], [20, 20, { beta: 0.15, gamma: 0.5, n0: 1 }]] as const) {
    it(`${H}×${W}, β ${p.beta}, γ ${p.gamma}, n0 ${p.n0}`, () => {
      const a = simulateSir(Rng.fromSeed(H * 7 + W), H, W, 15, p);
      const b = directSir(Rng.fromSeed(H * 7 + W), H, W, 15, p);
      expect(Array.from(a)).toEqual(Array.from(b));
      // The run does something: infections spread beyond the initial cells.
      const last = a.subarray(14 * H * W);
      expect(last.filter((s) => s !== 2).length).toBeGreaterThan(p.n0);
    });
  }

  it('the registry variants follow §6 (grid, extent, counts, batch)', () => {
    const sizes = { sir: [64, -2, 2, 25, 128, 512, 1024, 8], 'sir-shifted': [64, 8, 12, 25, 128, 512, 1024, 8], 'sir-scaled': [128, -4, 4, 50, 512, 2048, 4096, 8],
      'sir-128': [128, -4, 4, 50, 512, 2048, 4096, 1], 'sir-256': [256, -8, 8, 75, 2048, 8192, 65536, 1],
      'sir-512': [512, -16, 16, 200, 7864, 32768, 262144, 1], 'sir-1024': [1024, -32, 32, 200, 100000, 100000, 1048576, 1] } as const;
    for (const [name, want] of Object.entries(sizes)) {
      const c = resolveTask({ name, options: {} }, 8).sir!;
      expect([c.size, c.lo, c.hi, c.T, c.ncMin, c.ncMax, c.nt, c.batch], name).toEqual([...want]);
    }
    const b = resolveTask({ name: 'sir-shifted', options: { size: 16, ncMin: 8, ncMax: 32, nt: 64, T: 6 } }, 2).groups(Rng.fromSeed(1)) as { s_ctx: Float32Array; dims: unknown }[];
    expect(b).toHaveLength(3);
    expect(Math.min(...b[0]!.s_ctx)).toBe(8);
    expect(Math.max(...b[0]!.s_ctx)).toBeLessThanOrEqual(12);
    expect(b[0]!.dims).toEqual({ Ds: 2, Dt: 0, Dx: 0, Df: 3 });
  });
});

/** C(h, u) = σ² ψ^{−ν} exp(−(‖h/ℓ‖²/ψ^b)^γ), ψ = 1 + a|u|^{2α}, written out here (§8). */
function gneitingC(p: { variance: number; lsX: number; lsY: number; a: number; alpha: number; b: number; nu: number; gamma: number },
  hx: number, hy: number, u: number): number {
  const psi = 1 + p.a * Math.abs(u) ** (2 * p.alpha);
  const q = (hx / p.lsX) ** 2 + (hy / p.lsY) ** 2;
  return p.variance * psi ** -p.nu * Math.exp(-((q / psi ** p.b) ** p.gamma));
}

describe('Gneiting task: covariance of many draws = the Gneiting formula + noise', () => {
  it('within one batch (shared mean and locations), 20000 draws', () => {
    // Degenerate hyper-prior ranges fix the covariance; the mean is shared by the batch's draws.
    const hp = { variance: 0.81 * 1.2, lsX: 0.3, lsY: 0.2, a: 1.5, alpha: 0.6, b: 0.5, nu: 2, gamma: 0.8 };
    const noise = 0.9 * 0.05;
    const B = 20000;
    const cfg: GneitingConfig = {
      ...GNEITING_16, numLocations: 24, slotsPerFrame: 6, ctxMin: 6, batch: B,
      varRange: [1.2, 1.2], lsRange: [0.3, 0.3], aRange: [1.5, 1.5], alphaRange: [0.6, 0.6], bRange: [0.5, 0.5],
      nuRange: [2, 2], gammaRange: [0.8, 0.8], noiseRange: [0.05, 0.05],
    };
    // lsX = lsY = 0.3 from the range: use that.
    hp.lsY = 0.3;
    const b = gneitingTask(cfg, true)(Rng.fromSeed(4));
    expect(b.dims).toEqual({ Ds: 2, Dt: 1, Dx: 1, Df: 1 });
    const Nc = b.Nc, Nt = b.Nt;
    const pts = [...Array.from({ length: Nc }, (_, i) => ({ f: b.f_ctx, s: b.s_ctx, t: b.t_ctx!, i, n: Nc })),
      ...Array.from({ length: Nt }, (_, i) => ({ f: b.f_test, s: b.s_test, t: b.t_test!, i, n: Nt }))];
    const val = (k: number, bb: number) => pts[k]!.f[bb * pts[k]!.n + pts[k]!.i]!;
    const mean = pts.map((_, k) => { let s = 0; for (let bb = 0; bb < B; bb++) s += val(k, bb); return s / B; });
    let worst = 0;
    // Pairs at the same location across frames (Δs = 0: cov = σ² ψ(u)^−ν, the temporal part) and others.
    const same: [number, number][] = [];
    for (let k = 0; k < Nc; k += 5) {
      const l = pts.findIndex((q, j) => j >= Nc && q.s[2 * q.i] === b.s_ctx[2 * k] && q.s[2 * q.i + 1] === b.s_ctx[2 * k + 1]);
      same.push([k, l]);
    }
    expect(same.every(([, l]) => l >= Nc)).toBe(true);
    for (const [k, l] of [...same, [0, 0], [0, 1], [0, 7], [3, 20], [5, Nc], [2, Nc + 3], [Nc, Nc], [Nc, Nc + 1], [Nc + 4, Nc + 9], [10, 23]] as const) {
      let s = 0;
      for (let bb = 0; bb < B; bb++) s += (val(k, bb) - mean[k]!) * (val(l, bb) - mean[l]!);
      const P = pts[k]!, Q = pts[l]!;
      const want = gneitingC(hp, P.s[2 * P.i]! - Q.s[2 * Q.i]!, P.s[2 * P.i + 1]! - Q.s[2 * Q.i + 1]!, P.t[P.i]! - Q.t[Q.i]!)
        + (k === l ? noise * noise + GNEITING_16.jitter : 0);
      worst = Math.max(worst, Math.abs(s / (B - 1) - want));
      // SE ≤ sqrt(2/B)·σ² ≈ 0.018; 5 SE.
      expect(Math.abs(s / (B - 1) - want), `pair ${k},${l}: want ${want}`).toBeLessThan(5 * Math.sqrt(2 / B) * hp.variance);
    }
    expect(worst).toBeGreaterThan(0); // the estimate is an estimate
    // The fixed effect x is the standardised terrain: mean 0, population std 1 over the query points.
    const x = [...b.x_ctx!.subarray(0, Nc), ...b.x_test!.subarray(0, Nt)];
    const xm = x.reduce((a, v) => a + v, 0) / x.length;
    expect(xm).toBeCloseTo(0, 5);
    expect(Math.sqrt(x.reduce((a, v) => a + (v - xm) ** 2, 0) / x.length)).toBeCloseTo(1, 4);
  });

  it('forecast: the test frame is the window\'s last time, after every context time; all 256 locations', () => {
    const b = resolveTask({ name: 'gneiting', options: {} }, 4).groups(Rng.fromSeed(5)) as ReturnType<ReturnType<typeof gneitingTask>>;
    expect([b.B, b.Nc, b.Nt]).toEqual([4, 64, 256]);
    const tTest = new Set(b.t_test);
    expect(tTest.size).toBe(1);
    const tt = [...tTest][0]!;
    expect(Math.max(...b.t_ctx!)).toBeLessThan(tt);
    expect(new Set(b.t_ctx).size).toBe(4);
  });
});

describe('SO(3) task: rotation leaves the great-circle distance matrix unchanged', () => {
  const gc = (s: Float32Array, i: number, j: number) => {
    const r = Math.PI / 180;
    const [l1, p1, l2, p2] = [s[2 * i]! * r, s[2 * i + 1]! * r, s[2 * j]! * r, s[2 * j + 1]! * r];
    // Haversine, independent of the library's atan2 form.
    const h = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin((l2 - l1) / 2) ** 2;
    return (2 * Math.asin(Math.min(1, Math.sqrt(h)))) / r;
  };
  for (const name of ['so3-rot-60-30-0', 'so3-rot-60-30-20']) {
    it(name, () => {
      const opts = { ncMin: 10, ncMax: 32, nt: 32 };
      const a = resolveTask({ name: 'so3', options: opts }, 2).generator(Rng.fromSeed(8));
      const r = resolveTask({ name, options: opts }, 2).generator(Rng.fromSeed(8));
      expect(Array.from(r.f_ctx)).toEqual(Array.from(a.f_ctx));
      const all = (b: typeof a) => Float32Array.from([...b.s_ctx.subarray(0, 64), ...b.s_test.subarray(0, 64)]);
      const sa = all(a), sr = all(r);
      let worst = 0, moved = 0;
      for (let i = 0; i < 64; i++) {
        moved = Math.max(moved, Math.abs(sr[2 * i + 1]! - sa[2 * i + 1]!));
        for (let j = 0; j < i; j++) worst = Math.max(worst, Math.abs(gc(sr, i, j) - gc(sa, i, j)));
      }
      // float32 coordinates: ~1e-5° of round-off in each.
      expect(worst).toBeLessThan(1e-3);
      expect(moved).toBeGreaterThan(40); // the points did move (to ~60°N)
      expect(gpOracle(r).meanNll).toBeCloseTo(gpOracle(a).meanNll, 3);
    });
  }
});
