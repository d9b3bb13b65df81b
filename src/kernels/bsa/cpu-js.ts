/**
 * Tiled pure-JS CPU kernel (second implementation, used where WebAssembly SIMD is missing, and as a
 * cross-check of the wasm kernel in cpu.ts) for Biased Scan Attention (bsa.md §2 forward, §5.2 Flash-style backward).
 *
 * Forward: for each query tile I, stream key tiles J; per tile compute the distances once (shared
 * by all heads), then per head S = scale·q·kᵀ + β (β accumulated over groups and basis functions
 * into the S tile), online softmax with running (m, l, acc), and store O and L = m + log l.
 * Backward: Δ = rowsum(dO∘O); for each key tile J (dK, dV owned by J) stream query tiles I,
 * recompute S, P = exp(S − L), dP = dO·vᵀ, dS = P∘(dP − Δ), and accumulate dV += Pᵀ·dO,
 * dK += dSᵀ·q·scale, dQ_I += dS·k·scale, and the bias-parameter sums of bsa.md §5.2.
 *
 * Memory: only tile scratch (O(H·(Tq+Tk)·(d+dv) + (G+ΣF)·Tq·Tk)) plus O(B·H·Q) row statistics and
 * per-point great-circle trigonometry; never anything of size Q×K. Every allocation, including
 * scratch, is reported to the optional MemoryAccount.
 *
 * Work split (for a thread pool): `forwardRows` handles a range of query tiles of one batch
 * element and writes disjoint rows of O and L; `backwardKeys` handles a range of key tiles and
 * writes disjoint rows of dK, dV, while adding into a dQ buffer and a θ-gradient buffer it is given.
 * Threads each get a private dQ/θ buffer, summed afterwards in a fixed order (deterministic).
 */
import type { MemoryAccount } from '../../engine/memory.js';
import { gemmAccAB, gemmAccAtB, gemmABt } from './cpu-gemm.js';
import {
  type BsaData, type BsaDesc, type BsaForward, type BsaGrads, type BsaGroupGrads, familyParams,
  paramSize, scaleOf, validate,
} from './desc.js';

export const JS_DEFAULT_TILE_Q = 32;
export const JS_DEFAULT_TILE_K = 64;

export interface BsaCpuOptions {
  /** Every buffer this call allocates (outputs and scratch) is reported here. */
  readonly memory?: MemoryAccount;
}

const RAD = Math.PI / 180;
const DEG = 180 / Math.PI;

/** Allocation helper that reports to a MemoryAccount and releases everything at the end. */
class Arena {
  private bytes = 0;
  constructor(private readonly account?: MemoryAccount) {}
  f64(n: number): Float64Array {
    this.record(n * 8);
    return new Float64Array(n);
  }
  f32(n: number): Float32Array {
    this.record(n * 4);
    return new Float32Array(n);
  }
  u8(n: number): Uint8Array {
    this.record(n);
    return new Uint8Array(n);
  }
  private record(b: number): void {
    this.bytes += b;
    this.account?.recordAlloc(b);
  }
  release(): void {
    this.account?.recordFree(this.bytes);
    this.bytes = 0;
  }
}

const ceil4 = (n: number): number => (n + 3) & ~3;

/** Per-call constants and per-point precomputation shared by all tiles. */
class Ctx {
  readonly tq: number;
  readonly tk: number;
  readonly scale: number;
  /** Per group, great-circle trig per point: [sinφ, cosφ, sinλ, cosλ] for queries and keys. */
  readonly trigQ: (Float64Array | null)[];
  readonly trigK: (Float64Array | null)[];
  /** Σ_g F_g: basis functions per head over all groups. */
  readonly nBasis: number;

  constructor(readonly desc: BsaDesc, readonly data: BsaData, arena: Arena) {
    this.tq = ceil4(Math.min(desc.tileQ ?? JS_DEFAULT_TILE_Q, desc.Q));
    this.tk = ceil4(Math.min(desc.tileK ?? JS_DEFAULT_TILE_K, desc.K));
    this.scale = scaleOf(desc);
    this.trigQ = desc.groups.map((g, gi) => g.distance === 'greatCircle'
      ? trig(data.groups[gi]!.cq, desc.B * desc.Q, arena) : null);
    this.trigK = desc.groups.map((g, gi) => g.distance === 'greatCircle'
      ? trig(data.groups[gi]!.ck, desc.B * desc.K, arena) : null);
    this.nBasis = desc.groups.reduce((s, g) => s + g.F, 0);
  }
}

function trig(c: Float32Array, n: number, arena: Arena): Float64Array {
  const t = arena.f64(4 * n);
  for (let p = 0; p < n; p++) {
    const lam = c[2 * p]! * RAD, phi = c[2 * p + 1]! * RAD;
    t[4 * p] = Math.sin(phi); t[4 * p + 1] = Math.cos(phi);
    t[4 * p + 2] = Math.sin(lam); t[4 * p + 3] = Math.cos(lam);
  }
  return t;
}

/** Per-thread tile scratch. */
class Work {
  readonly delta: Float64Array; // [G][tq·tk] safe δ
  readonly valid: Uint8Array; // [tq·tk]
  readonly S: Float64Array; // [tq·tk] scores, then P
  readonly dP: Float64Array; // [tq·tk] dP, then dS
  readonly E: Float64Array; // [ΣF][tq·tk] basis values of one head (backward)
  readonly qT: Float64Array; // [H][tq·d] scaled queries
  readonly kT: Float64Array; // [H][tk·d]
  readonly vT: Float64Array; // [H][tk·dv]
  readonly oT: Float64Array; // [H][tq·dv] accumulators (fwd) / dO tile (bwd)
  readonly m: Float64Array; // [H][tq]
  readonly l: Float64Array; // [H][tq]
  readonly dkT: Float64Array; // [H][tk·d]
  readonly dvT: Float64Array; // [H][tk·dv]
  readonly dqT: Float64Array; // [tq·d]

  constructor(ctx: Ctx, arena: Arena, backward: boolean) {
    const { H, d, dv } = ctx.desc;
    const { tq, tk } = ctx;
    const G = ctx.desc.groups.length;
    this.delta = arena.f64(Math.max(1, G) * tq * tk);
    this.valid = arena.u8(tq * tk);
    this.S = arena.f64(tq * tk);
    this.qT = arena.f64(H * tq * d);
    this.kT = arena.f64(H * tk * d);
    this.vT = arena.f64(H * tk * dv);
    this.oT = arena.f64(H * tq * dv);
    this.m = arena.f64(H * tq);
    this.l = arena.f64(H * tq);
    this.dP = arena.f64(backward ? tq * tk : 0);
    this.E = arena.f64(backward ? Math.max(1, ctx.nBasis) * tq * tk : 0);
    this.dkT = arena.f64(backward ? H * tk * d : 0);
    this.dvT = arena.f64(backward ? H * tk * dv : 0);
    this.dqT = arena.f64(backward ? tq * d : 0);
  }
}

/**
 * Fills w.delta (safe δ per group) and w.valid for tile rows [i0, i0+ni) × keys [j0, j0+nj) of batch b;
 * padded entries (up to niP × njP) are invalid with δ = 0.
 */
function tileDistances(ctx: Ctx, w: Work, b: number, i0: number, ni: number, j0: number, nj: number,
  niP: number, njP: number): void {
  const { desc, data } = ctx;
  const { Q, K } = desc;
  const valid = w.valid;
  const n = niP * njP;
  const mask = desc.hasMask ? data.mask! : null;
  for (let ii = 0; ii < niP; ii++) {
    const row = ii * njP;
    for (let jj = 0; jj < njP; jj++) {
      valid[row + jj] = ii < ni && jj < nj && (mask === null || mask[b * K + j0 + jj] !== 0) ? 1 : 0;
    }
  }
  const tn = ctx.tq * ctx.tk;
  for (let g = 0; g < desc.groups.length; g++) {
    const grp = desc.groups[g]!;
    const D = w.delta;
    const off = g * tn;
    const M = grp.M;
    const cq = data.groups[g]!.cq, ck = data.groups[g]!.ck;
    const tQ = ctx.trigQ[g], tK = ctx.trigK[g];
    for (let ii = 0; ii < niP; ii++) {
      const row = ii * njP;
      if (ii >= ni) {
        for (let jj = 0; jj < njP; jj++) D[off + row + jj] = 0;
        continue;
      }
      const qi = b * Q + i0 + ii;
      for (let jj = 0; jj < njP; jj++) {
        let dl = 0;
        if (jj < nj) {
          const kj = b * K + j0 + jj;
          if (tQ !== null && tK !== null) {
            const sp = tQ[4 * qi]!, cp = tQ[4 * qi + 1]!, sl = tQ[4 * qi + 2]!, cl = tQ[4 * qi + 3]!;
            const sp2 = tK[4 * kj]!, cp2 = tK[4 * kj + 1]!, sl2 = tK[4 * kj + 2]!, cl2 = tK[4 * kj + 3]!;
            const sdl = sl * cl2 - cl * sl2; // sin(λi − λj); its sign is irrelevant (squared)
            const cdl = cl * cl2 + sl * sl2;
            const x = cp2 * sdl;
            const y = cp * sp2 - sp * cp2 * cdl;
            const z = sp * sp2 + cp * cp2 * cdl;
            dl = Math.atan2(Math.sqrt(x * x + y * y), z) * DEG;
          } else if (M === 1) {
            dl = Math.abs(cq[qi]! - ck[kj]!);
          } else if (M === 2) {
            const t0 = cq[2 * qi]! - ck[2 * kj]!, t1 = cq[2 * qi + 1]! - ck[2 * kj + 1]!;
            dl = Math.sqrt(t0 * t0 + t1 * t1);
          } else {
            let s = 0;
            for (let mm = 0; mm < M; mm++) {
              const t = cq[qi * M + mm]! - ck[kj * M + mm]!;
              s += t * t;
            }
            dl = Math.sqrt(s);
          }
          if (dl - dl !== 0) { // not finite (NaN or ±∞)
            valid[row + jj] = 0;
            dl = 0;
          }
        }
        D[off + row + jj] = dl;
      }
    }
  }
  void n;
}

/**
 * Adds head h's bias to S over n tile entries and sets invalid entries to −∞. When `E` is given,
 * stores each basis value E_k (the exp factor; δ for scalar) for the parameter gradients.
 */
function addBias(ctx: Ctx, w: Work, h: number, n: number, storeE: boolean): void {
  const { desc, data } = ctx;
  const S = w.S, D = w.delta, E = w.E, valid = w.valid;
  const tn = ctx.tq * ctx.tk;
  let e = 0;
  for (let g = 0; g < desc.groups.length; g++) {
    const grp = desc.groups[g]!;
    const gd = data.groups[g]!;
    const off = g * tn;
    for (let k = 0; k < grp.F; k++, e++) {
      const pi = h * grp.F + k;
      const a = gd.a[pi]!;
      const eo = e * tn;
      switch (grp.family) {
        case 'rbf': {
          const bb = gd.b![pi]!;
          if (storeE) {
            for (let p = 0; p < n; p++) {
              const x = D[off + p]!;
              const ex = Math.exp(-bb * x * x);
              E[eo + p] = ex;
              S[p] += a * ex;
            }
          } else {
            for (let p = 0; p < n; p++) {
              const x = D[off + p]!;
              S[p] += a * Math.exp(-bb * x * x);
            }
          }
          break;
        }
        case 'tisa': {
          const bb = gd.b![pi]!, cc = gd.c![pi]!;
          for (let p = 0; p < n; p++) {
            const u = D[off + p]! - cc;
            const ex = Math.exp(-bb * u * u);
            if (storeE) E[eo + p] = ex;
            S[p] += a * ex;
          }
          break;
        }
        case 'exp': {
          const bb = gd.b![pi]!;
          for (let p = 0; p < n; p++) {
            const ex = Math.exp(-bb * D[off + p]!);
            if (storeE) E[eo + p] = ex;
            S[p] += a * ex;
          }
          break;
        }
        case 'scalar':
          for (let p = 0; p < n; p++) S[p] += a * D[off + p]!;
          break;
      }
    }
  }
  for (let p = 0; p < n; p++) if (valid[p] === 0) S[p] = -Infinity;
}

/** Copies rows [r0, r0+nr) of head (b,h) of x [B,H,N,w] into dst (nrP rows, zero padded), times s. */
function loadRows(x: Float32Array, base: number, nr: number, nrP: number, width: number,
  dst: Float64Array, dOff: number, s: number): void {
  const n = nr * width;
  for (let t = 0; t < n; t++) dst[dOff + t] = s * x[base + t]!;
  for (let t = n; t < nrP * width; t++) dst[dOff + t] = 0;
}

/** Forward over query tiles [t0, t1) of batch element b. Writes O and L rows. */
function forwardRows(ctx: Ctx, w: Work, b: number, t0: number, t1: number, o: Float32Array,
  lse: Float32Array): void {
  const { desc, data, tq, tk, scale } = ctx;
  const { H, Q, K, d, dv } = desc;
  const nJ = Math.ceil(K / tk);
  for (let t = t0; t < t1; t++) {
    const i0 = t * tq;
    const ni = Math.min(tq, Q - i0), niP = ceil4(ni);
    for (let h = 0; h < H; h++) {
      loadRows(data.q, ((b * H + h) * Q + i0) * d, ni, niP, d, w.qT, h * tq * d, scale);
      w.m.fill(-Infinity, h * tq, h * tq + tq);
      w.l.fill(0, h * tq, h * tq + tq);
      w.oT.fill(0, h * tq * dv, (h + 1) * tq * dv);
    }
    for (let jt = 0; jt < nJ; jt++) {
      const j0 = jt * tk;
      const nj = Math.min(tk, K - j0), njP = ceil4(nj);
      tileDistances(ctx, w, b, i0, ni, j0, nj, niP, njP);
      const n = niP * njP;
      for (let h = 0; h < H; h++) {
        loadRows(data.k, ((b * H + h) * K + j0) * d, nj, njP, d, w.kT, 0, 1);
        loadRows(data.v, ((b * H + h) * K + j0) * dv, nj, njP, dv, w.vT, 0, 1);
        const S = w.S;
        gemmABt(w.qT.subarray(h * tq * d), w.kT, S, niP, njP, d);
        addBias(ctx, w, h, n, false);
        // Online softmax (bsa.md §2) with m starting at −∞ and the exp(−∞ − (−∞)) guard.
        const acc = w.oT.subarray(h * tq * dv);
        for (let ii = 0; ii < niP; ii++) {
          const row = ii * njP;
          let mx = -Infinity;
          for (let jj = 0; jj < njP; jj++) if (S[row + jj]! > mx) mx = S[row + jj]!;
          const mOld = w.m[h * tq + ii]!;
          const mNew = mx > mOld ? mx : mOld;
          if (mNew === -Infinity) {
            for (let jj = 0; jj < njP; jj++) S[row + jj] = 0;
            continue;
          }
          let sum = 0;
          for (let jj = 0; jj < njP; jj++) {
            const p = Math.exp(S[row + jj]! - mNew);
            S[row + jj] = p;
            sum += p;
          }
          if (mNew !== mOld) {
            const c = Math.exp(mOld - mNew);
            w.l[h * tq + ii] = w.l[h * tq + ii]! * c + sum;
            const ao = ii * dv;
            for (let cc = 0; cc < dv; cc++) acc[ao + cc]! *= c;
            w.m[h * tq + ii] = mNew;
          } else {
            w.l[h * tq + ii]! += sum;
          }
        }
        gemmAccAB(S, w.vT, acc, niP, njP, dv);
      }
    }
    for (let h = 0; h < H; h++) {
      for (let ii = 0; ii < ni; ii++) {
        const row = (b * H + h) * Q + i0 + ii;
        const l = w.l[h * tq + ii]!;
        const ao = (h * tq + ii) * dv;
        if (l === 0) {
          lse[row] = -Infinity;
          for (let cc = 0; cc < dv; cc++) o[row * dv + cc] = 0;
        } else {
          lse[row] = w.m[h * tq + ii]! + Math.log(l);
          const r = 1 / l;
          for (let cc = 0; cc < dv; cc++) o[row * dv + cc] = w.oT[ao + cc]! * r;
        }
      }
    }
  }
}

/** Float64 accumulators of the bias-parameter gradients: per group [da | db | dc], each paramSize. */
function thetaLayout(desc: BsaDesc): { offsets: number[]; size: number } {
  const offsets: number[] = [];
  let size = 0;
  for (const g of desc.groups) {
    offsets.push(size);
    size += 3 * paramSize(desc, g);
  }
  return { offsets, size };
}

/** Adds tile bias-parameter sums for head h (bsa.md §5.2 table) into theta. dS in w.dP. */
function thetaTile(ctx: Ctx, w: Work, h: number, n: number, theta: Float64Array, offsets: number[]): void {
  const { desc, data } = ctx;
  const dS = w.dP, D = w.delta, E = w.E;
  const tn = ctx.tq * ctx.tk;
  let e = 0;
  for (let g = 0; g < desc.groups.length; g++) {
    const grp = desc.groups[g]!;
    const gd = data.groups[g]!;
    const off = g * tn;
    const np = paramSize(desc, grp);
    const base = offsets[g]!;
    for (let k = 0; k < grp.F; k++, e++) {
      const pi = h * grp.F + k;
      const eo = e * tn;
      let sA = 0, sB = 0, sC = 0;
      switch (grp.family) {
        case 'rbf':
          for (let p = 0; p < n; p++) {
            const t = dS[p]! * E[eo + p]!;
            const x = D[off + p]!;
            sA += t; sB += t * x * x;
          }
          break;
        case 'tisa': {
          const cc = gd.c![pi]!;
          for (let p = 0; p < n; p++) {
            const t = dS[p]! * E[eo + p]!;
            const u = D[off + p]! - cc;
            sA += t; sB += t * u * u; sC += t * u;
          }
          break;
        }
        case 'exp':
          for (let p = 0; p < n; p++) {
            const t = dS[p]! * E[eo + p]!;
            sA += t; sB += t * D[off + p]!;
          }
          break;
        case 'scalar':
          for (let p = 0; p < n; p++) sA += dS[p]! * D[off + p]!;
          break;
      }
      const a = gd.a[pi]!;
      theta[base + pi]! += sA;
      if (grp.family !== 'scalar') theta[base + np + pi]! += -a * sB;
      if (grp.family === 'tisa') theta[base + 2 * np + pi]! += 2 * a * gd.b![pi]! * sC;
    }
  }
}

/**
 * Backward over key tiles [t0, t1) of batch element b: writes dK, dV rows of those tiles, adds
 * into dq and theta.
 */
function backwardKeys(ctx: Ctx, w: Work, b: number, t0: number, t1: number, fwd: BsaForward,
  dO: Float32Array, rowDelta: Float64Array, dq: Float32Array, dk: Float32Array, dvOut: Float32Array,
  theta: Float64Array, offsets: number[]): void {
  const { desc, data, tq, tk, scale } = ctx;
  const { H, Q, K, d, dv } = desc;
  const nI = Math.ceil(Q / tq);
  const lse = fwd.lse;
  for (let t = t0; t < t1; t++) {
    const j0 = t * tk;
    const nj = Math.min(tk, K - j0), njP = ceil4(nj);
    for (let h = 0; h < H; h++) {
      loadRows(data.k, ((b * H + h) * K + j0) * d, nj, njP, d, w.kT, h * tk * d, 1);
      loadRows(data.v, ((b * H + h) * K + j0) * dv, nj, njP, dv, w.vT, h * tk * dv, 1);
    }
    w.dkT.fill(0);
    w.dvT.fill(0);
    for (let it = 0; it < nI; it++) {
      const i0 = it * tq;
      const ni = Math.min(tq, Q - i0), niP = ceil4(ni);
      tileDistances(ctx, w, b, i0, ni, j0, nj, niP, njP);
      const n = niP * njP;
      for (let h = 0; h < H; h++) {
        const rowBase = (b * H + h) * Q + i0;
        loadRows(data.q, rowBase * d, ni, niP, d, w.qT, 0, scale);
        loadRows(dO, rowBase * dv, ni, niP, dv, w.oT, 0, 1);
        const S = w.S, dP = w.dP;
        gemmABt(w.qT, w.kT.subarray(h * tk * d), S, niP, njP, d);
        addBias(ctx, w, h, n, true);
        gemmABt(w.oT, w.vT.subarray(h * tk * dv), dP, niP, njP, dv);
        for (let ii = 0; ii < niP; ii++) {
          const row = ii * njP;
          const L = ii < ni ? lse[rowBase + ii]! : -Infinity;
          if (L === -Infinity) {
            for (let jj = 0; jj < njP; jj++) { S[row + jj] = 0; dP[row + jj] = 0; }
            continue;
          }
          const dl = rowDelta[rowBase + ii]!;
          for (let jj = 0; jj < njP; jj++) {
            const p = Math.exp(S[row + jj]! - L);
            S[row + jj] = p;
            dP[row + jj] = p * (dP[row + jj]! - dl);
          }
        }
        // dV += Pᵀ·dO ; dK += dSᵀ·(scale·q) ; dQ_I += scale·dS·k
        gemmAccAtB(S, w.oT, w.dvT.subarray(h * tk * dv), niP, njP, dv);
        gemmAccAtB(dP, w.qT, w.dkT.subarray(h * tk * d), niP, njP, d);
        w.dqT.fill(0);
        gemmAccAB(dP, w.kT.subarray(h * tk * d), w.dqT, niP, njP, d);
        const qo = rowBase * d;
        for (let x = 0; x < ni * d; x++) dq[qo + x]! += scale * w.dqT[x]!;
        if (desc.groups.length > 0) thetaTile(ctx, w, h, n, theta, offsets);
      }
    }
    for (let h = 0; h < H; h++) {
      const ko = ((b * H + h) * K + j0);
      for (let x = 0; x < nj * d; x++) dk[ko * d + x] = w.dkT[h * tk * d + x]!;
      for (let x = 0; x < nj * dv; x++) dvOut[ko * dv + x] = w.dvT[h * tk * dv + x]!;
    }
  }
}

/**
 * BSA forward on the CPU.
 *
 * **Arguments**: `desc` (tile sizes default to 32 queries × 64 keys), `data` (see desc.ts).
 *
 * **Returns** `{ o [B,H,Q,dv], lse [B,H,Q] }` (float32; lse = −∞ for rows with no valid key).
 */
export function bsaForwardJs(desc: BsaDesc, data: BsaData, opts: BsaCpuOptions = {}): BsaForward {
  validate(desc, data);
  const { B, H, Q, dv } = desc;
  const outArena = new Arena(opts.memory);
  const o = outArena.f32(B * H * Q * dv);
  const lse = outArena.f32(B * H * Q);
  const arena = new Arena(opts.memory);
  const ctx = new Ctx(desc, data, arena);
  const w = new Work(ctx, arena, false);
  const nI = Math.ceil(Q / ctx.tq);
  for (let b = 0; b < B; b++) forwardRows(ctx, w, b, 0, nI, o, lse);
  arena.release();
  return { o, lse };
}

/**
 * BSA backward on the CPU (bsa.md §5.2).
 *
 * **Arguments**: `desc`, `data` as for the forward; `fwd` its result; `dO` [B,H,Q,dv].
 *
 * **Returns** dq [B,H,Q,d], dk [B,H,K,d], dv [B,H,K,dv] and per group da, db?, dc? (shapes of
 * a, b, c). Rows with no valid key get zero gradients.
 */
export function bsaBackwardJs(desc: BsaDesc, data: BsaData, fwd: BsaForward, dO: Float32Array,
  opts: BsaCpuOptions = {}): BsaGrads {
  validate(desc, data);
  const { B, H, Q, K, d, dv } = desc;
  if (dO.length !== B * H * Q * dv) {
    throw new Error(`bsa: expected dO of length ${B * H * Q * dv}, got length ${dO.length}`);
  }
  const outArena = new Arena(opts.memory);
  const dq = outArena.f32(B * H * Q * d);
  const dk = outArena.f32(B * H * K * d);
  const dvOut = outArena.f32(B * H * K * dv);
  const groups: BsaGroupGrads[] = desc.groups.map((g) => {
    const n = paramSize(desc, g);
    const ps = familyParams(g.family);
    return {
      da: outArena.f32(n),
      db: ps.includes('b') ? outArena.f32(n) : undefined,
      dc: ps.includes('c') ? outArena.f32(n) : undefined,
    };
  });
  const arena = new Arena(opts.memory);
  const ctx = new Ctx(desc, data, arena);
  const w = new Work(ctx, arena, true);
  const rows = B * H * Q;
  const rowDelta = arena.f64(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < dv; c++) s += dO[r * dv + c]! * fwd.o[r * dv + c]!;
    rowDelta[r] = s;
  }
  const { offsets, size } = thetaLayout(desc);
  const theta = arena.f64(Math.max(1, size));
  const nJ = Math.ceil(K / ctx.tk);
  for (let b = 0; b < B; b++) {
    backwardKeys(ctx, w, b, 0, nJ, fwd, dO, rowDelta, dq, dk, dvOut, theta, offsets);
  }
  desc.groups.forEach((g, gi) => {
    const n = paramSize(desc, g);
    const base = offsets[gi]!;
    const gg = groups[gi]!;
    for (let p = 0; p < n; p++) {
      gg.da[p] = theta[base + p]!;
      if (gg.db) gg.db[p] = theta[base + n + p]!;
      if (gg.dc) gg.dc[p] = theta[base + 2 * n + p]!;
    }
  });
  arena.release();
  return { dq, dk, dv: dvOut, groups };
}
