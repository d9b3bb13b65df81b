/**
 * Biased Scan Attention: the typed descriptor shared by every implementation (dense reference,
 * tiled CPU kernel, fused WebGPU kernels), its data layout, and validation.
 *
 * Semantics: shared/spec/bsa.md §1 (what is computed) and model.md §5 (distances, bias families,
 * the safe-δ rule). Per batch b, head h, query i, key j:
 *
 *   δ^g_ij  = dist_g(cq^g_i, ck^g_j)
 *   valid_ij = mask_j ≠ 0 and δ^g_ij finite for every group g
 *   S_ij    = scale·(q_i · k_j) + Σ_g φ^h_g(δ^g_ij)   (−∞ when not valid)
 *   O_i     = Σ_j softmax_j(S_i·) v_j ;   O_i = 0 when no key of row i is valid.
 *
 * All data are float32, contiguous, row-major:
 *   q [B,H,Q,d], k [B,H,K,d], v [B,H,K,dv], mask [B,K] (1/0), per group cq [B,Q,M], ck [B,K,M],
 *   a, b, c [H,F] (scalar family: a [H], F = 1).
 */

export type BsaDistance = 'euclidean' | 'greatCircle';
export type BsaFamily = 'rbf' | 'tisa' | 'exp' | 'scalar';

/** One coordinate group's bias (model.md §5.2). */
export interface BsaGroup {
  /** Coordinate dimension M (great-circle needs M = 2: lon°, lat°). */
  readonly M: number;
  /** 'euclidean' ‖c_i − c_j‖₂, or 'greatCircle' (degrees in, degrees out). */
  readonly distance: BsaDistance;
  /**
   * rbf: Σ_k a·e^{−bδ²}; tisa: Σ_k a·e^{−b(δ−c)²}; exp: Σ_k a·e^{−bδ}; scalar: a·δ (F must be 1).
   */
  readonly family: BsaFamily;
  /** Number of basis functions per head. */
  readonly F: number;
}

export interface BsaDesc {
  readonly B: number;
  readonly H: number;
  readonly Q: number;
  readonly K: number;
  /** q/k head width. */
  readonly d: number;
  /** v head width. */
  readonly dv: number;
  /** Whether a key mask [B,K] is supplied. */
  readonly hasMask: boolean;
  readonly groups: readonly BsaGroup[];
  /** Query rows per tile (implementation default when omitted). */
  readonly tileQ?: number;
  /** Keys per tile (implementation default when omitted). */
  readonly tileK?: number;
  /** Logit scale; default 1/√d. */
  readonly scale?: number;
  /** Forward precision on WebGPU (see Precision). Default 'f32'. CPU kernels always compute in f32. */
  readonly precision?: Precision;
  /**
   * Memory layout of q, k, v, O and their gradients on WebGPU: 'bhnd' (default) [B, H, N, d], or
   * 'bnhd' [B, N, H, d], the layout a [B, N, H·d] projection has without a transpose (the model's
   * head split and merge then cost nothing). L stays [B, H, Q]. CPU kernels take 'bhnd' only.
   */
  readonly layout?: BsaLayoutKind;
  /**
   * One query vector per (b, h) shared by all Q rows (q [B,H,1,d] or [B,1,H,d]; the rows still
   * differ by their coordinates). Exact algebra for the first block of a model whose test tokens
   * are identical: q·k_j is then one number per key, taken once per key instead of once per pair.
   * WebGPU forward only (float32, whatever `precision` says).
   */
  readonly sharedQ?: boolean;
}

export type BsaLayoutKind = 'bhnd' | 'bnhd';

/**
 * Precision of the WebGPU forward's two matrix products (q·kᵀ and P·v; f16 inputs, f32
 * accumulation, tensor cores where `chromium-experimental-subgroup-matrix` exists):
 * - 'f32': no f16 at all.
 * - 'f16': both products from split f16 halves (three products each): f32-level accuracy.
 * - 'f16-fast': one f16 product each (relative error ~1e-3 per output; on trained weights P's
 *   rounding alone moves predictions by ~1e-2 predicted std, q·k's by ~3e-3, v's by little:
 *   bench/results/2026-11-28-h200-f16-session3.json).
 */
export type Precision = 'f32' | 'f16' | 'f16-fast';
export const PRECISIONS: readonly Precision[] = ['f32', 'f16', 'f16-fast'];

/** Data of one bias group. */
export interface BsaGroupData<A = Float32Array> {
  /** Query coordinates [B,Q,M]. */
  readonly cq: A;
  /** Key coordinates [B,K,M]. */
  readonly ck: A;
  /** Amplitudes [H,F] ([H] for scalar). */
  readonly a: A;
  /** Rates [H,F] (rbf, tisa, exp). */
  readonly b?: A;
  /** Centres [H,F] (tisa). */
  readonly c?: A;
}

/** Inputs of a BSA call. `A` is Float32Array for kernels, any numeric array for the reference. */
export interface BsaData<A = Float32Array> {
  readonly q: A;
  readonly k: A;
  readonly v: A;
  readonly mask?: A | null;
  readonly groups: readonly BsaGroupData<A>[];
}

/** Forward outputs: O [B,H,Q,dv] and the per-row log-normaliser L = m + log l [B,H,Q]. */
export interface BsaForward<A = Float32Array> {
  readonly o: A;
  /** −∞ for a row with no valid key. */
  readonly lse: A;
}

export interface BsaGroupGrads<A = Float32Array> {
  readonly da: A;
  readonly db?: A;
  readonly dc?: A;
}

export interface BsaGrads<A = Float32Array> {
  readonly dq: A;
  readonly dk: A;
  readonly dv: A;
  readonly groups: readonly BsaGroupGrads<A>[];
}

export class BsaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BsaError';
  }
}

/** Parameter names a family uses, in order. */
export function familyParams(f: BsaFamily): readonly ('a' | 'b' | 'c')[] {
  switch (f) {
    case 'rbf': case 'exp': return ['a', 'b'];
    case 'tisa': return ['a', 'b', 'c'];
    case 'scalar': return ['a'];
  }
}

function fail(what: string, got: unknown): never {
  throw new BsaError(`bsa: expected ${what}, got ${String(got)}`);
}

function posInt(name: string, x: unknown): void {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) fail(`${name} to be a positive integer`, x);
}

/** Validates the descriptor alone (throws BsaError "bsa: expected X, got Y"). */
export function validateDesc(desc: BsaDesc): void {
  for (const n of ['B', 'H', 'Q', 'K', 'd', 'dv'] as const) posInt(`desc.${n}`, desc[n]);
  if (desc.tileQ !== undefined) posInt('desc.tileQ', desc.tileQ);
  if (desc.tileK !== undefined) posInt('desc.tileK', desc.tileK);
  if (desc.scale !== undefined && !Number.isFinite(desc.scale)) fail('desc.scale to be finite', desc.scale);
  desc.groups.forEach((g, i) => {
    posInt(`groups[${i}].M`, g.M);
    posInt(`groups[${i}].F`, g.F);
    if (g.distance !== 'euclidean' && g.distance !== 'greatCircle') {
      fail(`groups[${i}].distance 'euclidean' | 'greatCircle'`, g.distance);
    }
    if (!['rbf', 'tisa', 'exp', 'scalar'].includes(g.family)) {
      fail(`groups[${i}].family 'rbf' | 'tisa' | 'exp' | 'scalar'`, g.family);
    }
    if (g.distance === 'greatCircle' && g.M !== 2) fail(`groups[${i}].M = 2 for greatCircle (lon°, lat°)`, g.M);
    if (g.family === 'scalar' && g.F !== 1) fail(`groups[${i}].F = 1 for the scalar family`, g.F);
  });
}

function len(name: string, arr: { length: number } | undefined | null, n: number): void {
  if (!arr) fail(`${name} of length ${n}`, 'nothing');
  if (arr.length !== n) fail(`${name} of length ${n}`, `length ${arr.length}`);
}

/** Validates descriptor and data shapes. */
export function validate<A extends { length: number }>(desc: BsaDesc, data: BsaData<A>): void {
  validateDesc(desc);
  const { B, H, Q, K, d, dv } = desc;
  if (desc.sharedQ) len(`shared q [B=${B},H=${H},1,d=${d}]`, data.q, B * H * d);
  else len(`q [B=${B},H=${H},Q=${Q},d=${d}]`, data.q, B * H * Q * d);
  len(`k [B=${B},H=${H},K=${K},d=${d}]`, data.k, B * H * K * d);
  len(`v [B=${B},H=${H},K=${K},dv=${dv}]`, data.v, B * H * K * dv);
  if (desc.hasMask) len(`mask [B=${B},K=${K}]`, data.mask, B * K);
  else if (data.mask) fail('no mask (desc.hasMask is false)', `a mask of length ${data.mask.length}`);
  if (data.groups.length !== desc.groups.length) fail(`${desc.groups.length} bias groups`, data.groups.length);
  desc.groups.forEach((g, i) => {
    const gd = data.groups[i]!;
    len(`groups[${i}].cq [B,Q,M=${g.M}]`, gd.cq, B * Q * g.M);
    len(`groups[${i}].ck [B,K,M=${g.M}]`, gd.ck, B * K * g.M);
    const np = g.family === 'scalar' ? H : H * g.F;
    for (const p of familyParams(g.family)) len(`groups[${i}].${p} [H=${H},F=${g.F}]`, gd[p], np);
  });
}

/** Number of parameters of each of a group's parameter tensors. */
export function paramSize(desc: BsaDesc, g: BsaGroup): number {
  return g.family === 'scalar' ? desc.H : desc.H * g.F;
}

export function scaleOf(desc: BsaDesc): number {
  return desc.scale ?? 1 / Math.sqrt(desc.d);
}
