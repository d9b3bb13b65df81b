/**
 * Separable (product) stationary kernels for the exact GP baseline (gp-fit): the classical model
 * users compare BSA-TNP against. Inputs are grouped (space s, time t, covariates x); each group
 * has its own distance and lengthscale(s), and the kernel is
 *   k(a, b) = σ² ∏_g κ(r_g(a, b)),  r_g = distance in group g divided by its lengthscale,
 * with one Matérn family κ for all groups (RBF = ν→∞, Matérn 1/2, 3/2, 5/2). Distances:
 * Euclidean (one lengthscale, or ARD: one per column, r² = Σ_c (Δ_c/ℓ_c)²) or great-circle in km
 * on (lon, lat) degrees. Note: Matérn with ν > 1/2 on great-circle distance is not guaranteed
 * positive definite on the whole sphere; on regional data (a few hundred km) it is in practice.
 * float64, no Node built-ins.
 */

export type GpKernelKind = 'rbf' | 'matern12' | 'matern32' | 'matern52';
export const GP_KERNEL_KINDS: readonly GpKernelKind[] = ['rbf', 'matern12', 'matern32', 'matern52'];

export interface InputGroup {
  /** Shown in printed hyper-parameters (e.g. 's', 't', 'x'). */
  name: string;
  /** Columns of the input rows that belong to this group. */
  cols: number[];
  /** 'great-circle' needs exactly two columns, lon and lat in degrees (distance in km). */
  metric: 'euclidean' | 'great-circle';
  /** One lengthscale per column (Euclidean only); otherwise one for the group. */
  ard: boolean;
}

export interface GpKernel {
  kind: GpKernelKind;
  groups: InputGroup[];
  /** Columns per input row. */
  dim: number;
}

/** Number of lengthscales of a group. */
export function groupLengthscales(g: InputGroup): number {
  return g.ard ? g.cols.length : 1;
}

export function totalLengthscales(k: GpKernel): number {
  return k.groups.reduce((s, g) => s + groupLengthscales(g), 0);
}

export function checkKernel(k: GpKernel): void {
  if (!GP_KERNEL_KINDS.includes(k.kind)) throw new RangeError(`gp kernel: expected one of ${GP_KERNEL_KINDS.join(', ')}, got '${k.kind}'`);
  for (const g of k.groups) {
    if (g.cols.length === 0) throw new RangeError(`gp kernel: group '${g.name}' has no columns`);
    if (g.metric === 'great-circle' && (g.cols.length !== 2 || g.ard)) {
      throw new RangeError(`gp kernel: great-circle group '${g.name}' needs exactly 2 columns (lon, lat) and one lengthscale, got ${g.cols.length} columns${g.ard ? ' with ARD' : ''}`);
    }
    for (const c of g.cols) if (!(c >= 0 && c < k.dim)) throw new RangeError(`gp kernel: group '${g.name}' column ${c} outside 0..${k.dim - 1}`);
  }
}

const EARTH_KM = 6371.0088;
const RAD = Math.PI / 180;

/** Great-circle distance in km between (lon, lat) degree pairs (haversine). */
export function greatCircleKm(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const dl = (lat2 - lat1) * RAD;
  const dn = (lon2 - lon1) * RAD;
  const h = Math.sin(dl / 2) ** 2 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(dn / 2) ** 2;
  return 2 * EARTH_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

const S3 = Math.sqrt(3);
const S5 = Math.sqrt(5);

/** κ(r) for the family. */
export function kappa(kind: GpKernelKind, r: number): number {
  switch (kind) {
    case 'rbf': return Math.exp(-0.5 * r * r);
    case 'matern12': return Math.exp(-r);
    case 'matern32': return (1 + S3 * r) * Math.exp(-S3 * r);
    case 'matern52': return (1 + S5 * r + (5 / 3) * r * r) * Math.exp(-S5 * r);
  }
}

/**
 * −κ'(r)/r, so that ∂κ/∂log ℓ_c = kappaSlope(r) · u_c with u_c = (Δ_c/ℓ_c)² the column's share
 * of r² (∂r/∂log ℓ_c = −u_c / r). Finite at r = 0 except for Matérn 1/2, where every u_c is 0 and
 * the derivative is 0 (returned as 0).
 */
export function kappaSlope(kind: GpKernelKind, r: number): number {
  switch (kind) {
    case 'rbf': return Math.exp(-0.5 * r * r);
    case 'matern12': return r > 0 ? Math.exp(-r) / r : 0;
    case 'matern32': return 3 * Math.exp(-S3 * r);
    case 'matern52': return (5 / 3) * (1 + S5 * r) * Math.exp(-S5 * r);
  }
}

/**
 * Scratch for one pair of points: per group its κ and slope, per lengthscale its u.
 * `pair` fills them and returns ∏_g κ_g.
 */
export class PairScratch {
  readonly kap: Float64Array;
  readonly slope: Float64Array;
  readonly u: Float64Array;
  constructor(k: GpKernel) {
    this.kap = new Float64Array(k.groups.length);
    this.slope = new Float64Array(k.groups.length);
    this.u = new Float64Array(totalLengthscales(k));
  }
}

/**
 * Fills `sc` for points a (row ia of `xa`) and b (row ib of `xb`) under lengthscales `ls`
 * (flattened, group by group) and returns ∏_g κ_g (without σ²). `withSlope` false skips the slopes.
 */
export function pair(k: GpKernel, ls: Float64Array, xa: ArrayLike<number>, ia: number, xb: ArrayLike<number>, ib: number,
  sc: PairScratch, withSlope: boolean): number {
  const D = k.dim;
  let prod = 1;
  let p = 0;
  for (let g = 0; g < k.groups.length; g++) {
    const grp = k.groups[g]!;
    let r2 = 0;
    if (grp.metric === 'great-circle') {
      const d = greatCircleKm(xa[ia * D + grp.cols[0]!]!, xa[ia * D + grp.cols[1]!]!, xb[ib * D + grp.cols[0]!]!, xb[ib * D + grp.cols[1]!]!) / ls[p]!;
      r2 = d * d;
      sc.u[p++] = r2;
    } else if (grp.ard) {
      for (const c of grp.cols) {
        const d = (xa[ia * D + c]! - xb[ib * D + c]!) / ls[p]!;
        sc.u[p++] = d * d;
        r2 += d * d;
      }
    } else {
      const l = ls[p]!;
      for (const c of grp.cols) {
        const d = (xa[ia * D + c]! - xb[ib * D + c]!) / l;
        r2 += d * d;
      }
      sc.u[p++] = r2;
    }
    const r = Math.sqrt(r2);
    const kv = kappa(k.kind, r);
    sc.kap[g] = kv;
    if (withSlope) sc.slope[g] = kappaSlope(k.kind, r);
    prod *= kv;
  }
  return prod;
}

/** Cross-covariance σ² ∏ κ between rows of `xa` [na, D] and `xb` [nb, D], row-major [na, nb]. */
export function crossCovariance(k: GpKernel, ls: Float64Array, signalVar: number, xa: ArrayLike<number>, na: number,
  xb: ArrayLike<number>, nb: number): Float64Array {
  const out = new Float64Array(na * nb);
  const sc = new PairScratch(k);
  for (let i = 0; i < na; i++) for (let j = 0; j < nb; j++) out[i * nb + j] = signalVar * pair(k, ls, xa, i, xb, j, sc, false);
  return out;
}

/** Symmetric covariance σ² ∏ κ of the rows of `x` [n, D] (full matrix, row-major). */
export function covariance(k: GpKernel, ls: Float64Array, signalVar: number, x: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  const sc = new PairScratch(k);
  for (let i = 0; i < n; i++) {
    out[i * n + i] = signalVar;
    for (let j = 0; j < i; j++) {
      const v = signalVar * pair(k, ls, x, i, x, j, sc, false);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
}

/**
 * The squared distances between all pairs of n points that the lengthscales scale, computed once
 * per data set (they do not depend on the hyper-parameters): per lengthscale q a packed lower
 * triangle (pair i > j at i(i−1)/2 + j) of Σ Δ² over its columns (great-circle: km²), so that
 * u_q = d_q / ℓ_q² and r_g² = Σ_{q ∈ g} u_q. Memory: n(n−1)/2 doubles per lengthscale.
 */
export class PairDistances {
  readonly d: Float64Array[];
  constructor(readonly kernel: GpKernel, x: ArrayLike<number>, readonly n: number) {
    const D = kernel.dim;
    const m = (n * (n - 1)) / 2;
    this.d = [];
    for (const g of kernel.groups) {
      const sets = g.metric === 'great-circle' || !g.ard ? [g.cols] : g.cols.map((c) => [c]);
      for (const cols of sets) {
        const out = new Float64Array(m);
        let p = 0;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < i; j++, p++) {
            if (g.metric === 'great-circle') {
              const v = greatCircleKm(x[i * D + cols[0]!]!, x[i * D + cols[1]!]!, x[j * D + cols[0]!]!, x[j * D + cols[1]!]!);
              out[p] = v * v;
            } else {
              let s = 0;
              for (const c of cols) s += (x[i * D + c]! - x[j * D + c]!) ** 2;
              out[p] = s;
            }
          }
        }
        this.d.push(out);
      }
    }
  }

  /**
   * Fills `sc` (κ, slopes, u) for the pair with packed index p under lengthscales `ls`; returns ∏ κ.
   */
  pair(ls: Float64Array, p: number, sc: PairScratch, withSlope: boolean): number {
    const k = this.kernel;
    let prod = 1;
    let q = 0;
    for (let g = 0; g < k.groups.length; g++) {
      const cnt = groupLengthscales(k.groups[g]!);
      let r2 = 0;
      for (let c = 0; c < cnt; c++, q++) {
        const l = ls[q]!;
        const u = this.d[q]![p]! / (l * l);
        sc.u[q] = u;
        r2 += u;
      }
      const r = Math.sqrt(r2);
      const kv = kappa(k.kind, r);
      sc.kap[g] = kv;
      if (withSlope) sc.slope[g] = kappaSlope(k.kind, r);
      prod *= kv;
    }
    return prod;
  }
}
