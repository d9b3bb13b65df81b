/**
 * The exact GP baseline (src/data/gp-fit): L-BFGS on Rosenbrock, analytic LML gradients against
 * central finite differences for every kernel, the LML against a direct LU computation, recovery
 * of known hyper-parameters from simulated data, and the posterior against a dense solve.
 */
import { describe, expect, it } from 'vitest';
import { choleskyInPlace, lowerMatVec } from '../../src/data/cholesky.js';
import { GP_KERNEL_KINDS, type GpKernel, type GpKernelKind, covariance } from '../../src/data/gp-fit/kernel.js';
import { inverseAndLogDet, inverseFromCholesky, logMarginal, packTheta } from '../../src/data/gp-fit/lml.js';
import { lbfgs } from '../../src/data/gp-fit/lbfgs.js';
import { fitGp, predictGp } from '../../src/data/gp-fit/fit.js';
import { haversineKm, luSolve, maternDirect, normals } from './reference.js';

/** rows: lon, lat, t, x1, x2 */
function spaceTimeKernel(kind: GpKernelKind): GpKernel {
  return {
    kind, dim: 5, groups: [
      { name: 's', cols: [0, 1], metric: 'great-circle', ard: false },
      { name: 't', cols: [2], metric: 'euclidean', ard: false },
      { name: 'x', cols: [3, 4], metric: 'euclidean', ard: true },
    ],
  };
}

function randomInputs(n: number, seed: number): Float64Array {
  const z = normals(n * 5, seed);
  const x = new Float64Array(n * 5);
  for (let i = 0; i < n; i++) {
    x[i * 5] = 8 + 2 * z[i * 5]!; // lon
    x[i * 5 + 1] = 50 + 1.5 * z[i * 5 + 1]!; // lat
    x[i * 5 + 2] = 10 * z[i * 5 + 2]!; // time
    x[i * 5 + 3] = z[i * 5 + 3]!;
    x[i * 5 + 4] = 3 * z[i * 5 + 4]!;
  }
  return x;
}

const PARAMS = { signalVar: 1.7, noiseVar: 0.3, mean: 0.4, lengthscales: Float64Array.from([150, 8, 1.2, 2.5]) };

describe('lbfgs', () => {
  it('minimises the Rosenbrock function in 2 and 10 dimensions', () => {
    for (const n of [2, 10]) {
      const rosen = (x: Float64Array): { f: number; grad: Float64Array } => {
        let f = 0;
        const g = new Float64Array(n);
        for (let i = 0; i < n - 1; i++) {
          const a = x[i + 1]! - x[i]! * x[i]!;
          const b = 1 - x[i]!;
          f += 100 * a * a + b * b;
          g[i]! += -400 * x[i]! * a - 2 * b;
          g[i + 1]! += 200 * a;
        }
        return { f, grad: g };
      };
      const x0 = Float64Array.from({ length: n }, (_, i) => (i % 2 === 0 ? -1.2 : 1)); // the classical start
      const r = lbfgs(rosen, x0, { maxIter: 1000, gradTol: 1e-9, fTol: 0 });
      expect(r.f).toBeLessThan(1e-12);
      for (const v of r.x) expect(v).toBeCloseTo(1, 5);
    }
  });

  it('backs off where the objective is undefined', () => {
    // f = (x − 3)² but undefined (Infinity) for x > 4: a unit step from 0 overshoots into it
    const fn = (x: Float64Array): { f: number; grad: Float64Array } =>
      x[0]! > 4 ? { f: Infinity, grad: new Float64Array(1) } : { f: (x[0]! - 3) ** 2, grad: Float64Array.of(2 * (x[0]! - 3)) };
    const r = lbfgs(fn, [0]);
    expect(r.x[0]).toBeCloseTo(3, 6);
  });
});

describe('log marginal likelihood', () => {
  it('matches a direct LU computation with independently written kernels', () => {
    const n = 9;
    const x = randomInputs(n, 3);
    const y = normals(n, 4);
    for (const kind of GP_KERNEL_KINDS) {
      const K = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const a = i * 5;
          const b = j * 5;
          const ks = maternDirect(kind, haversineKm(x[a]!, x[a + 1]!, x[b]!, x[b + 1]!), 150);
          const kt = maternDirect(kind, Math.abs(x[a + 2]! - x[b + 2]!), 8);
          const dx = Math.hypot((x[a + 3]! - x[b + 3]!) / 1.2, (x[a + 4]! - x[b + 4]!) / 2.5);
          const kx = maternDirect(kind, dx, 1);
          K[i * n + j] = 1.7 * ks * kt * kx + (i === j ? 0.3 + 1e-6 : 0);
        }
      }
      const r = Float64Array.from(y, (v) => v - 0.4);
      const { x: alpha, logAbsDet } = luSolve(K, n, r, 1);
      let quad = 0;
      for (let i = 0; i < n; i++) quad += r[i]! * alpha[i]!;
      const direct = -0.5 * quad - 0.5 * logAbsDet - 0.5 * n * Math.log(2 * Math.PI);
      const got = logMarginal(spaceTimeKernel(kind), x, y, n, packTheta(PARAMS, true), { fitMean: true }).lml;
      expect(Math.abs(got - direct), kind).toBeLessThan(1e-10 * Math.abs(direct));
      // the gradient path computes L through K⁻¹ instead of a triangular solve: same value
      const withGrad = logMarginal(spaceTimeKernel(kind), x, y, n, packTheta(PARAMS, true), { fitMean: true, grad: true }).lml;
      expect(Math.abs(withGrad - direct), kind).toBeLessThan(1e-10 * Math.abs(direct));
    }
  });

  it.each(GP_KERNEL_KINDS)('analytic gradient matches central differences (%s)', (kind) => {
    const n = 14;
    const x = randomInputs(n, 11);
    const y = normals(n, 12);
    const k = spaceTimeKernel(kind);
    for (const fitMean of [true, false]) {
      const theta = packTheta(PARAMS, fitMean);
      const opts = { fitMean, fixedMean: 0.2 };
      const g = logMarginal(k, x, y, n, theta, { ...opts, grad: true }).grad!;
      expect(g.length).toBe(theta.length);
      const h = 1e-5;
      for (let j = 0; j < theta.length; j++) {
        const tp = Float64Array.from(theta); tp[j]! += h;
        const tm = Float64Array.from(theta); tm[j]! -= h;
        const fd = (logMarginal(k, x, y, n, tp, opts).lml - logMarginal(k, x, y, n, tm, opts).lml) / (2 * h);
        expect(Math.abs(g[j]! - fd), `${kind} θ${j} analytic ${g[j]} vs fd ${fd}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
      }
    }
  });

  it('inverseFromCholesky and inverseAndLogDet give K⁻¹ (K K⁻¹ = I) and log det K (vs LU)', () => {
    for (const n of [37, 64, 130]) {
      const x = randomInputs(n, 5 + n);
      const K = covariance(spaceTimeKernel('matern52'), PARAMS.lengthscales, 1, x, n);
      for (let i = 0; i < n; i++) K[i * n + i]! += 0.1;
      const L = Float64Array.from(K);
      choleskyInPlace(L, n);
      const fast = inverseAndLogDet(K, n, 0);
      expect(Math.abs(fast.logDet - luSolve(K, n, new Float64Array(n), 1).logAbsDet)).toBeLessThan(1e-9 * n);
      for (const inv of [inverseFromCholesky(L, n), fast.inv]) {
        let worst = 0;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let k = 0; k < n; k++) s += K[i * n + k]! * inv[k * n + j]!;
            worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
          }
        }
        expect(worst).toBeLessThan(1e-10);
      }
    }
  });
});

/** One draw of y = μ + f + ε, f ~ GP(0, σ² k) at 2-D inputs in [0, 1]². */
function simulate(kind: GpKernelKind, n: number, ls: number, signalVar: number, noiseVar: number, mean: number, seed: number) {
  const u = normals(2 * n + n + n, seed);
  const x = new Float64Array(2 * n);
  for (let i = 0; i < 2 * n; i++) x[i] = 0.5 + 0.5 * Math.tanh(u[i]!); // spread over (0, 1)
  const k: GpKernel = { kind, dim: 2, groups: [{ name: 's', cols: [0, 1], metric: 'euclidean', ard: false }] };
  const K = covariance(k, Float64Array.of(ls), signalVar, x, n);
  choleskyInPlace(K, n, 1e-8);
  const f = lowerMatVec(K, n, u.subarray(2 * n, 3 * n), new Float64Array(n));
  const y = Float64Array.from(f, (v, i) => mean + v + Math.sqrt(noiseVar) * u[3 * n + i]!);
  return { k, x, y };
}

describe('fitting', () => {
  // n = 300 points in (0, 1)², ℓ = 0.2, σ² = 2, σₙ² = 0.04: over seeds 1–4 the fits gave ℓ within
  // 16 %, σₙ² within 16 % and σ² within a factor 1.5 (a single draw on a bounded domain pins the
  // signal variance down poorly; the product σ²/ℓ³ that Matérn 3/2 data determine is within 40 %).
  // The RBF case is the same check and runs with BSA_TNP_SLOW=1 (each fit takes seconds).
  for (const [kind, slow] of [['matern32', false], ['rbf', true]] as const) {
    it.skipIf(slow && !process.env.BSA_TNP_SLOW)(`recovers the hyper-parameters of data simulated from a known GP (${kind})`, () => {
      const n = 300;
      const { k, x, y } = simulate(kind, n, 0.2, 2, 0.04, 1.5, 1);
      const fit = fitGp(k, x, y, n);
      const within = (got: number, want: number, factor: number, what: string): void => {
        expect(got, `${kind} ${what}`).toBeGreaterThan(want / factor);
        expect(got, `${kind} ${what}`).toBeLessThan(want * factor);
      };
      within(fit.params.lengthscales[0]!, 0.2, 1.3, 'lengthscale');
      within(fit.params.noiseVar, 0.04, 1.3, 'noise variance');
      within(fit.params.signalVar, 2, 2, 'signal variance');
      within(fit.params.mean, 1.5, 1.6, 'mean');
      // the fitted L is at least the L at the truth (it is the maximum) ...
      const truth = logMarginal(k, x, y, n, packTheta({ signalVar: 2, noiseVar: 0.04, mean: 1.5, lengthscales: Float64Array.of(0.2) }, true),
        { fitMean: true }).lml;
      expect(fit.lml).toBeGreaterThanOrEqual(truth - 1e-6);
      // ... and it is L at the fitted parameters in the data's units
      const again = logMarginal(k, x, y, n, packTheta(fit.params, true), { fitMean: true, jitter: 1e-6 * fit.yStd ** 2 }).lml;
      expect(Math.abs(again - fit.lml)).toBeLessThan(1e-6 * Math.abs(fit.lml));
    }, 60_000);
  }

  it('fits on a seeded random subset when n exceeds fitPoints', () => {
    const { k, x, y } = simulate('matern52', 200, 0.3, 1, 0.01, 0, 5);
    const a = fitGp(k, x, y, 200, { fitPoints: 60, seed: 3 });
    const b = fitGp(k, x, y, 200, { fitPoints: 60, seed: 3 });
    const c = fitGp(k, x, y, 200, { fitPoints: 60, seed: 4 });
    expect(a.fitPoints).toBe(60);
    expect(c.params.lengthscales[0]).not.toBe(a.params.lengthscales[0]);
    expect(a.params.lengthscales[0]).toBe(b.params.lengthscales[0]);
  });
});

describe('prediction', () => {
  it('matches a dense solve of the posterior (context > one 64-column tile)', () => {
    const n = 70;
    const m = 6;
    const xAll = randomInputs(n + m, 31);
    const y = normals(n, 32);
    const k = spaceTimeKernel('matern32');
    const fit = { kernel: k, params: { ...PARAMS }, lml: 0, fitPoints: n, iterations: 0, evaluations: 0, yMean: 0, yStd: 1, jitter: 0 };
    const xc = xAll.subarray(0, n * 5);
    const xt = xAll.subarray(n * 5);
    for (const latent of [false, true]) {
      const p = predictGp(fit, xc, y, n, xt, m, { latent });
      expect(p.contextUsed).toBe(n);
      // dense reference: K = Kcc + σₙ² I, mean = μ + Ktc K⁻¹ (y − μ), var = σ² − Ktc K⁻¹ Kct (+ σₙ²)
      const all = covariance(k, PARAMS.lengthscales, PARAMS.signalVar, xAll, n + m);
      const K = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) K[i * n + j] = all[i * (n + m) + j]! + (i === j ? PARAMS.noiseVar : 0);
      const B = new Float64Array(n * (m + 1));
      for (let i = 0; i < n; i++) {
        B[i * (m + 1)] = y[i]! - PARAMS.mean;
        for (let t = 0; t < m; t++) B[i * (m + 1) + 1 + t] = all[(n + t) * (n + m) + i]!;
      }
      const { x: sol } = luSolve(K, n, B, m + 1);
      for (let t = 0; t < m; t++) {
        let mu = PARAMS.mean;
        let v = PARAMS.signalVar + (latent ? 0 : PARAMS.noiseVar);
        for (let i = 0; i < n; i++) {
          const kti = all[(n + t) * (n + m) + i]!;
          mu += kti * sol[i * (m + 1)]!;
          v -= kti * sol[i * (m + 1) + 1 + t]!;
        }
        expect(Math.abs(p.mean[t]! - mu)).toBeLessThan(1e-9);
        expect(Math.abs(p.std[t]! - Math.sqrt(v))).toBeLessThan(1e-9);
      }
    }
  });
});
