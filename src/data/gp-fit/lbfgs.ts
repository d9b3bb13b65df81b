/**
 * A small L-BFGS minimiser (Nocedal & Wright, Algorithms 7.4 and 3.5/3.6) for fitting the GP
 * baseline's hyper-parameters: two-loop recursion over the last `memory` pairs, a line search for
 * the strong Wolfe conditions (bracketing, then zoom by safeguarded cubic interpolation). A
 * non-finite loss (e.g. a Cholesky failure mapped to +∞) shrinks the step. float64, no Node built-ins.
 */

export interface LbfgsOptions {
  /** Iterations (default 100). */
  maxIter?: number;
  /** Stored correction pairs (default 8). */
  memory?: number;
  /** Stop when ‖∇f‖∞ ≤ gradTol (default 1e-5). */
  gradTol?: number;
  /** Stop when the relative decrease of f over an iteration is below this (default 1e-9). */
  fTol?: number;
  /** Sufficient decrease and curvature constants (defaults 1e-4, 0.9). */
  c1?: number;
  c2?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  grad: Float64Array;
  iterations: number;
  evaluations: number;
  /** Why it stopped. */
  reason: 'gradient' | 'no-progress' | 'max-iterations' | 'line-search';
}

/** f and ∇f at x; return f = Infinity (any grad) where f is undefined. */
export type Objective = (x: Float64Array) => { f: number; grad: Float64Array };

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function cubicMin(a: number, fa: number, ga: number, b: number, fb: number, gb: number): number {
  const d1 = ga + gb - 3 * (fa - fb) / (a - b);
  const disc = d1 * d1 - ga * gb;
  if (!(disc >= 0)) return (a + b) / 2;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  const t = b - (b - a) * (gb + d2 - d1) / (gb - ga + 2 * d2);
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  // safeguard: stay well inside the interval
  if (!Number.isFinite(t) || t < lo + 0.1 * (hi - lo) || t > hi - 0.1 * (hi - lo)) return (a + b) / 2;
  return t;
}

/** Minimises `fn` from `x0`. */
export function lbfgs(fn: Objective, x0: ArrayLike<number>, opts: LbfgsOptions = {}): LbfgsResult {
  const maxIter = opts.maxIter ?? 100;
  const M = opts.memory ?? 8;
  const gradTol = opts.gradTol ?? 1e-5;
  const fTol = opts.fTol ?? 1e-9;
  const c1 = opts.c1 ?? 1e-4;
  const c2 = opts.c2 ?? 0.9;
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let evals = 0;
  const evaluate = (z: Float64Array): { f: number; grad: Float64Array } => {
    evals++;
    const r = fn(z);
    return Number.isFinite(r.f) && r.grad.every(Number.isFinite) ? r : { f: Infinity, grad: new Float64Array(n) };
  };
  let cur = evaluate(x);
  if (!Number.isFinite(cur.f)) throw new RangeError('lbfgs: the objective is not finite at the starting point; start elsewhere');
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  let iter = 0;
  let reason: LbfgsResult['reason'] = 'max-iterations';
  const norm = (g: Float64Array): number => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (; iter < maxIter; iter++) {
    if (norm(cur.grad) <= gradTol) { reason = 'gradient'; break; }
    // two-loop recursion: d = −H ∇f
    const q = Float64Array.from(cur.grad);
    const a = new Array<number>(S.length);
    for (let i = S.length - 1; i >= 0; i--) {
      a[i] = dot(S[i]!, q) / dot(Y[i]!, S[i]!);
      for (let j = 0; j < n; j++) q[j]! -= a[i]! * Y[i]![j]!;
    }
    const gamma = S.length > 0 ? dot(S[S.length - 1]!, Y[Y.length - 1]!) / dot(Y[Y.length - 1]!, Y[Y.length - 1]!) : 1 / Math.max(1, norm(cur.grad));
    for (let j = 0; j < n; j++) q[j]! *= gamma;
    for (let i = 0; i < S.length; i++) {
      const b = dot(Y[i]!, q) / dot(Y[i]!, S[i]!);
      for (let j = 0; j < n; j++) q[j]! += S[i]![j]! * (a[i]! - b);
    }
    const d = q.map((v) => -v);
    let g0 = dot(cur.grad, d);
    if (!(g0 < 0)) { // not a descent direction: reset to steepest descent
      S.length = 0; Y.length = 0;
      for (let j = 0; j < n; j++) d[j] = -cur.grad[j]! / Math.max(1, norm(cur.grad));
      g0 = dot(cur.grad, d);
    }
    const ls = lineSearch(evaluate, x, cur, d, g0, c1, c2);
    if (ls === null) { reason = 'line-search'; break; }
    const s = new Float64Array(n);
    const yv = new Float64Array(n);
    for (let j = 0; j < n; j++) { s[j] = ls.x[j]! - x[j]!; yv[j] = ls.grad[j]! - cur.grad[j]!; }
    const fPrev = cur.f;
    x = ls.x;
    cur = { f: ls.f, grad: ls.grad };
    if (dot(s, yv) > 1e-12 * Math.sqrt(dot(s, s) * dot(yv, yv))) {
      S.push(s); Y.push(yv);
      if (S.length > M) { S.shift(); Y.shift(); }
    }
    if (Math.abs(fPrev - cur.f) <= fTol * Math.max(1, Math.abs(cur.f))) { iter++; reason = 'no-progress'; break; }
  }
  return { x, f: cur.f, grad: cur.grad, iterations: iter, evaluations: evals, reason };
}

/** Strong-Wolfe line search along d from x; null when no acceptable step is found. */
function lineSearch(evaluate: (z: Float64Array) => { f: number; grad: Float64Array }, x: Float64Array, cur: { f: number; grad: Float64Array },
  d: Float64Array, g0: number, c1: number, c2: number): { x: Float64Array; f: number; grad: Float64Array } | null {
  const n = x.length;
  const at = (t: number): { x: Float64Array; f: number; grad: Float64Array; g: number } => {
    const z = new Float64Array(n);
    for (let j = 0; j < n; j++) z[j] = x[j]! + t * d[j]!;
    const r = evaluate(z);
    return { x: z, f: r.f, grad: r.grad, g: dot(r.grad, d) };
  };
  let tPrev = 0;
  let fPrev = cur.f;
  let gPrev = g0;
  let t = 1;
  for (let i = 0; i < 30; i++) {
    const p = at(t);
    if (!Number.isFinite(p.f)) { t = tPrev + (t - tPrev) / 4; continue; } // undefined there: come back
    if (p.f > cur.f + c1 * t * g0 || (i > 0 && p.f >= fPrev)) return zoom(at, cur.f, g0, tPrev, fPrev, gPrev, t, p.f, p.g, c1, c2);
    if (Math.abs(p.g) <= -c2 * g0) return p;
    if (p.g >= 0) return zoom(at, cur.f, g0, t, p.f, p.g, tPrev, fPrev, gPrev, c1, c2);
    tPrev = t; fPrev = p.f; gPrev = p.g;
    t *= 2;
  }
  return null;
}

function zoom(at: (t: number) => { x: Float64Array; f: number; grad: Float64Array; g: number }, f0: number, g0: number,
  lo: number, flo: number, glo: number, hi: number, fhi: number, ghi: number, c1: number, c2: number): { x: Float64Array; f: number; grad: Float64Array } | null {
  let best: { x: Float64Array; f: number; grad: Float64Array } | null = null;
  for (let i = 0; i < 30; i++) {
    const t = Number.isFinite(fhi) ? cubicMin(lo, flo, glo, hi, fhi, ghi) : (lo + hi) / 2;
    const p = at(t);
    if (Number.isFinite(p.f) && p.f < f0 && (best === null || p.f < best.f)) best = p;
    if (!Number.isFinite(p.f) || p.f > f0 + c1 * t * g0 || p.f >= flo) {
      hi = t; fhi = p.f; ghi = p.g;
    } else {
      if (Math.abs(p.g) <= -c2 * g0) return p;
      if (p.g * (hi - lo) >= 0) { hi = lo; fhi = flo; ghi = glo; }
      lo = t; flo = p.f; glo = p.g;
    }
    if (Math.abs(hi - lo) < 1e-12 * Math.max(1, Math.abs(lo))) break;
  }
  return best; // best decrease found, even if the curvature condition did not hold
}
