/**
 * Dense float64 reference for Biased Scan Attention (bsa.md §1, model.md §5). Materialises the
 * [Q,K] score row by row and the full backward analytically; used only by tests (and to check
 * benches). Slow and obviously correct: no tiling, no online softmax.
 */
import {
  type BsaData, type BsaDesc, type BsaForward, type BsaGrads, type BsaGroup, familyParams, paramSize,
  scaleOf, validate,
} from './desc.js';

type Arr = ArrayLike<number>;
const RAD = Math.PI / 180;

/** δ between query point i and key point j of one group (batch offset already applied). */
export function denseDistance(g: BsaGroup, cq: Arr, qo: number, ck: Arr, ko: number): number {
  if (g.distance === 'euclidean') {
    let s = 0;
    for (let m = 0; m < g.M; m++) {
      const t = cq[qo + m]! - ck[ko + m]!;
      s += t * t;
    }
    return Math.sqrt(s);
  }
  const li = cq[qo]! * RAD, pi = cq[qo + 1]! * RAD;
  const lj = ck[ko]! * RAD, pj = ck[ko + 1]! * RAD;
  const dl = Math.abs(li - lj);
  const x = Math.cos(pj) * Math.sin(dl);
  const y = Math.cos(pi) * Math.sin(pj) - Math.sin(pi) * Math.cos(pj) * Math.cos(dl);
  const z = Math.sin(pi) * Math.sin(pj) + Math.cos(pi) * Math.cos(pj) * Math.cos(dl);
  return Math.atan2(Math.sqrt(x * x + y * y), z) / RAD;
}

/** φ(δ) for head h, basis k, and its derivatives wrt a, b, c (for the gradient table, bsa.md §5.2). */
function basis(g: BsaGroup, a: number, b: number, c: number, delta: number):
  { phi: number; da: number; db: number; dc: number } {
  switch (g.family) {
    case 'rbf': {
      const E = Math.exp(-b * delta * delta);
      return { phi: a * E, da: E, db: -a * delta * delta * E, dc: 0 };
    }
    case 'tisa': {
      const u = delta - c;
      const E = Math.exp(-b * u * u);
      return { phi: a * E, da: E, db: -a * u * u * E, dc: 2 * a * b * u * E };
    }
    case 'exp': {
      const E = Math.exp(-b * delta);
      return { phi: a * E, da: E, db: -a * delta * E, dc: 0 };
    }
    case 'scalar':
      return { phi: a * delta, da: delta, db: 0, dc: 0 };
  }
}

interface Pair {
  valid: boolean;
  /** Safe δ per group (0 where invalid). */
  deltas: number[];
}

function pairInfo(desc: BsaDesc, data: BsaData<Arr>, b: number, i: number, j: number): Pair {
  const deltas: number[] = [];
  let valid = !desc.hasMask || data.mask![b * desc.K + j] !== 0;
  desc.groups.forEach((g, gi) => {
    const gd = data.groups[gi]!;
    const dl = denseDistance(g, gd.cq, (b * desc.Q + i) * g.M, gd.ck, (b * desc.K + j) * g.M);
    if (!Number.isFinite(dl)) valid = false;
    deltas.push(Number.isFinite(dl) ? dl : 0);
  });
  return { valid, deltas };
}

function biasOf(desc: BsaDesc, data: BsaData<Arr>, h: number, deltas: number[]): number {
  let beta = 0;
  desc.groups.forEach((g, gi) => {
    const gd = data.groups[gi]!;
    for (let k = 0; k < g.F; k++) {
      const p = h * g.F + k;
      beta += basis(g, gd.a[p]!, gd.b ? gd.b[p]! : 0, gd.c ? gd.c[p]! : 0, deltas[gi]!).phi;
    }
  });
  return beta;
}

/** Row of probabilities P[i,·] (zeros when no valid key) for (b, h, i). */
function probRow(desc: BsaDesc, data: BsaData<Arr>, b: number, h: number, i: number, pairs: Pair[]): Float64Array {
  const { H, Q, K, d } = desc;
  const scale = scaleOf(desc);
  const S = new Float64Array(K).fill(-Infinity);
  let mx = -Infinity;
  const qo = ((b * H + h) * Q + i) * d;
  for (let j = 0; j < K; j++) {
    const pr = pairs[j]!;
    if (!pr.valid) continue;
    const ko = ((b * H + h) * K + j) * d;
    let dot = 0;
    for (let c = 0; c < d; c++) dot += data.q[qo + c]! * data.k[ko + c]!;
    S[j] = scale * dot + biasOf(desc, data, h, pr.deltas);
    mx = Math.max(mx, S[j]!);
  }
  const P = new Float64Array(K);
  if (mx === -Infinity) return P;
  let l = 0;
  for (let j = 0; j < K; j++) {
    P[j] = Math.exp(S[j]! - mx);
    l += P[j]!;
  }
  for (let j = 0; j < K; j++) P[j]! /= l;
  return P;
}

/** Dense forward: O [B,H,Q,dv] and L [B,H,Q] in float64. */
export function bsaDenseForward(desc: BsaDesc, data: BsaData<Arr>): BsaForward<Float64Array> {
  validate(desc, data);
  const { B, H, Q, K, d, dv } = desc;
  const scale = scaleOf(desc);
  const o = new Float64Array(B * H * Q * dv);
  const lse = new Float64Array(B * H * Q);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Q; i++) {
      const pairs: Pair[] = [];
      for (let j = 0; j < K; j++) pairs.push(pairInfo(desc, data, b, i, j));
      for (let h = 0; h < H; h++) {
        const P = probRow(desc, data, b, h, i, pairs);
        const row = (b * H + h) * Q + i;
        // L from the unnormalised sums (recomputed for clarity).
        let mx = -Infinity;
        const S: number[] = [];
        for (let j = 0; j < K; j++) {
          if (!pairs[j]!.valid) { S.push(-Infinity); continue; }
          let dot = 0;
          for (let c = 0; c < d; c++) dot += data.q[row * d + c]! * data.k[((b * H + h) * K + j) * d + c]!;
          S.push(scale * dot + biasOf(desc, data, h, pairs[j]!.deltas));
          mx = Math.max(mx, S[j]!);
        }
        let l = 0;
        for (const s of S) if (s !== -Infinity) l += Math.exp(s - mx);
        lse[row] = mx === -Infinity ? -Infinity : mx + Math.log(l);
        for (let j = 0; j < K; j++) {
          const p = P[j]!;
          if (p === 0) continue;
          const vo = ((b * H + h) * K + j) * dv;
          for (let c = 0; c < dv; c++) o[row * dv + c]! += p * data.v[vo + c]!;
        }
      }
    }
  }
  return { o, lse };
}

/**
 * Dense backward given upstream dO [B,H,Q,dv]: gradients wrt q, k, v and every bias parameter
 * (bsa.md §5.2: dS = P∘(dP − Δ), Δ_i = Σ_j P_ij dP_ij; masked pairs contribute nothing).
 */
export function bsaDenseBackward(desc: BsaDesc, data: BsaData<Arr>, dO: Arr): BsaGrads<Float64Array> {
  validate(desc, data);
  const { B, H, Q, K, d, dv } = desc;
  const scale = scaleOf(desc);
  const dq = new Float64Array(B * H * Q * d);
  const dk = new Float64Array(B * H * K * d);
  const dvv = new Float64Array(B * H * K * dv);
  const groups = desc.groups.map((g) => {
    const n = paramSize(desc, g);
    const ps = familyParams(g.family);
    return {
      da: new Float64Array(n),
      db: ps.includes('b') ? new Float64Array(n) : undefined,
      dc: ps.includes('c') ? new Float64Array(n) : undefined,
    };
  });
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Q; i++) {
      const pairs: Pair[] = [];
      for (let j = 0; j < K; j++) pairs.push(pairInfo(desc, data, b, i, j));
      for (let h = 0; h < H; h++) {
        const P = probRow(desc, data, b, h, i, pairs);
        const row = (b * H + h) * Q + i;
        const dP = new Float64Array(K);
        let delta = 0;
        for (let j = 0; j < K; j++) {
          if (P[j] === 0) continue;
          const vo = ((b * H + h) * K + j) * dv;
          let s = 0;
          for (let c = 0; c < dv; c++) s += dO[row * dv + c]! * data.v[vo + c]!;
          dP[j] = s;
          delta += P[j]! * s;
        }
        for (let j = 0; j < K; j++) {
          const p = P[j]!;
          if (p === 0) continue;
          const dS = p * (dP[j]! - delta);
          const ko = ((b * H + h) * K + j) * d;
          const vo = ((b * H + h) * K + j) * dv;
          for (let c = 0; c < dv; c++) dvv[vo + c]! += p * dO[row * dv + c]!;
          for (let c = 0; c < d; c++) {
            dq[row * d + c]! += scale * dS * data.k[ko + c]!;
            dk[ko + c]! += scale * dS * data.q[row * d + c]!;
          }
          desc.groups.forEach((g, gi) => {
            const gd = data.groups[gi]!;
            const gg = groups[gi]!;
            for (let k = 0; k < g.F; k++) {
              const pi = h * g.F + k;
              const r = basis(g, gd.a[pi]!, gd.b ? gd.b[pi]! : 0, gd.c ? gd.c[pi]! : 0, pairs[j]!.deltas[gi]!);
              gg.da[pi]! += dS * r.da;
              if (gg.db) gg.db[pi]! += dS * r.db;
              if (gg.dc) gg.dc[pi]! += dS * r.dc;
            }
          });
        }
      }
    }
  }
  return { dq, dk, dv: dvv, groups };
}
