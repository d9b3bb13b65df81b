/**
 * Fused BSA forward kernel (bsa.md §2 with the exact −∞/guard variant): O [B,H,Q,dv] and
 * L = m + log l [B,H,Q]; −∞ and O = 0 for rows without a valid key.
 *
 * Work split: one workgroup per (b, h, query tile of TQ = T·R rows); thread t owns rows
 * t, t+T, …, t+(R−1)T of the tile with q (pre-scaled by 1/√d), the running max m, the denominator
 * l and the un-normalised output in registers (vec4 arrays indexed by constants only).
 * Keys stream through workgroup memory in tiles of TK: K and V rows as vec4, the key coordinates
 * of every group (great-circle: sinλ, cosλ, sinφ, cosφ, computed once per key per tile) and a
 * validity flag (mask and finite coordinates). A warp's 32 threads share the head, so every
 * workgroup-memory read in the hot loop is a broadcast. Each thread handles SC keys at a time:
 * scores for R×SC pairs (distance from the staged coordinates, bias in registers), one running-max
 * update and rescale per row, then P·V. Nothing of size [Q,K] exists anywhere. On short key axes
 * (K ≤ MASK_END_MAX_K) the key loop stops at the batch element's last unmasked key and a tile of
 * excluded rows skips it (`loopBoundsWgsl`).
 */
import type { Storage } from '../../../engine/backend.js';
import type { WebGPUBackend } from '../../../engine/webgpu/backend.js';
import { GRID_BUILTINS, FLAT_WG, MATH_WGSL, Params, grid, paramsWgsl } from '../../../engine/webgpu/wgsl.js';
import type { BsaDesc } from '../desc.js';
import { knobInt } from './knobs.js';
import {
  BSA_MATH_WGSL, type BsaLayout, biasWgsl, bsaLayout, groupWgsl, loaderWgsl, pairBias, range, rowMapsWgsl, streamDecl,
  structureKey,
} from './codegen.js';

export interface FwdTiles {
  /** Threads per workgroup. */
  T: number;
  /** Query rows per thread. */
  R: number;
  /** Keys per staged tile. */
  TK: number;
  /** Keys per online-softmax step (divides TK). */
  SC: number;
}

/** Largest of 8, 4, 2, 1 dividing n. */
export function subChunk(n: number): number {
  return [8, 4, 2, 1].find((s) => n % s === 0)!;
}

/**
 * A CPU implementation of WebGPU (lavapipe/llvmpipe, SwiftShader): there the LLVM compile time of
 * the unrolled hot loop grows steeply with R·SC (≈ 40 s for R·SC = 4 under load, against ~4 s for
 * 1) and unrolling buys nothing, so these adapters get R = SC = 1 — same code, other constants.
 */
export function isSoftwareAdapter(be: WebGPUBackend): boolean {
  return /llvmpipe|lavapipe|swiftshader/i.test(be.description);
}

/**
 * Default (GPU): 128 query rows per workgroup (64 threads × 2 rows, or 128 × 1 on small grids), 32
 * keys per tile, 8 keys per softmax step. At the training shapes (B = 8, H = 4, Q = 1536: 384
 * workgroups) 64-row tiles, twice the workgroups, took 1.55 ms per step against 1.10 ms on the H200
 * (2026-11-29-h200-session7.json), and splitting the key loop into three runs (with a merge pass)
 * 1.51 ms against 1.11 (session 8, call 4). At Q = 262K, K = 100K (session 8): 256 rows as fast as
 * 128, 512 rows, 64-key tiles and 4 or 16 keys per step slower. `desc.tileQ` / `desc.tileK`
 * override the tile sizes (tests use tiny ones).
 */
export function forwardTiles(desc: BsaDesc, software = false): FwdTiles {
  // Tuning knobs for benchmarks: BSA_TNP_FWD_TQ / BSA_TNP_FWD_TK (default tiles), BSA_TNP_FWD_SC
  // (keys per softmax step) and BSA_TNP_FWD_R (rows per thread), on GPUs.
  const TK = desc.tileK ?? knobInt('BSA_TNP_FWD_TK', 32, [8, 16, 32, 64]);
  const tq = desc.tileQ ?? knobInt('BSA_TNP_FWD_TQ', 128, [64, 128, 256, 512]);
  // Two rows per thread (more work per staged key) on large grids and long key loops; one on small
  // grids with short loops such as the training shapes (384 workgroups of 128 rows, 512 keys), where
  // twice the threads per workgroup pays: step 7.64/7.67 against 7.76/7.76 ms, but 1.83e11 against
  // 2.20e11 scores/s at Q = 262K, K = 100K (session 8).
  const small = desc.B * desc.H * Math.ceil(desc.Q / tq) < 1024 && desc.K <= 2048;
  const R = !software && tq % 2 === 0 && tq > 64 ? knobInt('BSA_TNP_FWD_R', small ? 1 : 2, [1, 2]) : 1;
  const sc = knobInt('BSA_TNP_FWD_SC', 8, [4, 8, 16]);
  return { T: tq / R, R, TK, SC: software ? 1 : TK % sc === 0 ? sc : subChunk(TK) };
}

/** Uniform block shared by all BSA kernels: B, H, Q, K, nQT, nKT, scale. */
export function bsaParams(desc: BsaDesc, nQT: number, nKT: number, scale: number, inner: number): ArrayBuffer {
  return new Params().u32(desc.B).u32(desc.H).u32(desc.Q).u32(desc.K).u32(nQT).u32(nKT).f32(scale).u32(inner)
    .buffer();
}
export const PARAM_WORDS = 8;
/**
 * Bound of the hot loop over a staged tile: the constant on GPUs (the compiler unrolls it), the
 * same value read from the uniforms (word 7) on software adapters, whose LLVM would unroll it too
 * and spend tens of seconds compiling (see `isSoftwareAdapter`).
 */
export function innerBound(n: number, software: boolean): string {
  return software ? 'pu(7u)' : `${n}u`;
}
export const PARAM_HEAD = `let Bn = pu(0u); let Hn = pu(1u); let Qn = pu(2u); let Kn = pu(3u);
  let nQT = pu(4u); let nKT = pu(5u); let scale = pf(6u);\n`;

/**
 * Longest key axis for which the kernels bound their loops by the data (a scan of the mask row
 * per workgroup; training batches are padded to a few hundred keys). Longer key loops (inference
 * at scale) keep the plain loops.
 */
export const MASK_END_MAX_K = 8192;

/**
 * Loop bounds from the data, for short key axes (K ≤ MASK_END_MAX_K):
 * - `kEnd`: keys after the last unmasked one (the padding of a batch element with fewer context
 *   points) contribute exactly nothing, so key loops stop there. With a mask, each workgroup finds
 *   that end for its batch element `b` (one pass over its mask row); otherwise kEnd = K.
 * - `anyQ` (when `rowsOk`, a WGSL bool over the thread's rows, is given): whether any of the
 *   workgroup's query rows is valid. A tile of excluded rows (padded context rows given no
 *   coordinates, see krBlockJoint) skips its key loop: its rows get O = 0, L = −∞ as before.
 * Both are workgroup-uniform. Skipped work held only exact zeros, so results are bit-identical.
 * `bounded` says whether the bounds come from the data (K ≤ MASK_END_MAX_K) or are the plain K.
 * Call after `b`, `lid` and the rows' validity are defined.
 */
export function loopBoundsWgsl(desc: BsaDesc, T: number, rowsOk: string | null): { decl: string; code: string; bounded: boolean } {
  if (desc.K > MASK_END_MAX_K) return { decl: '', code: `  let kEnd = Kn;\n${rowsOk === null ? '' : '  let anyQ = true;\n'}`, bounded: false };
  const scan = desc.hasMask
    ? `  {
    var e = 0u;
    for (var j = lid; j < Kn; j += ${T}u) { if (MASK[b * Kn + j] != 0.0) { e = j + 1u; } }
    atomicMax(&BOUND_A[0], e);
  }
`
    : '';
  const rows = rowsOk !== null;
  return {
    decl: 'var<workgroup> BOUND_A: array<atomic<u32>, 2>;\nvar<workgroup> BOUND: array<u32, 2>;\n',
    code: `  if (lid == 0u) { atomicStore(&BOUND_A[0], ${desc.hasMask ? '0u' : 'Kn'}); atomicStore(&BOUND_A[1], 0u); }
  workgroupBarrier();
${scan}${rows ? `  if (${rowsOk}) { atomicStore(&BOUND_A[1], 1u); }\n` : ''}  workgroupBarrier();
  if (lid == 0u) { BOUND[0] = atomicLoad(&BOUND_A[0]); BOUND[1] = atomicLoad(&BOUND_A[1]); }
  let kEnd = workgroupUniformLoad(&BOUND[0]);
${rows ? '  let anyQ = workgroupUniformLoad(&BOUND[1]) != 0u;\n' : ''}`,
    bounded: true,
  };
}

/** Workgroup-memory bytes of the key staging area. */
export function keyStageBytes(L: BsaLayout, TK: number): number {
  return TK * 16 * (L.D4 + L.DV4 + L.groups.reduce((s, g) => s + g.M4, 0)) + TK * 4;
}

/**
 * What KV[j] holds for a staged key: its validity as 1 or 0 ('flag'); a term added to its scores,
 * 0 or NEG ('additive'); or, for a shared query (BsaDesc.sharedQ), that query's score term
 * scale·q·k_j or NEG ('sharedDot', from the registers qsh, with no Ks staged).
 */
export type KeyTerm = 'flag' | 'additive' | 'sharedDot';

/**
 * Key-tile staging (shared by the forward and the dQ pass): declarations and the code that fills
 * Ks (unless 'sharedDot'), Vs, KC{g}, KV for tile `k0` (call between barriers; uses b, bh, Kn, lid).
 */
export function keyStageWgsl(L: BsaLayout, T: number, TK: number, hasMask: boolean, kv: KeyTerm):
  { decl: string; fill: string } {
  const withK = kv !== 'sharedDot';
  let decl = withK ? `var<workgroup> Ks: array<vec4<f32>, ${TK * L.D4}>;\n` : '';
  decl += `var<workgroup> Vs: array<vec4<f32>, ${TK * L.DV4}>;\n`;
  decl += `var<workgroup> KV: array<f32, ${TK}>;\n`;
  for (const g of L.groups) decl += `var<workgroup> KC${g.index}: array<vec4<f32>, ${TK * g.M4}>;\n`;
  let fill = !withK ? '' : `for (var e = lid; e < ${TK * L.D4}u; e += ${T}u) {
      let key = k0 + e / ${L.D4}u;
      Ks[e] = select(vec4<f32>(0.0), ldK(bh * Kn + min(key, Kn - 1u), e % ${L.D4}u), key < Kn);
    }
    `;
  fill += `for (var e = lid; e < ${TK * L.DV4}u; e += ${T}u) {
      let key = k0 + e / ${L.DV4}u;
      Vs[e] = select(vec4<f32>(0.0), ldV(bh * Kn + min(key, Kn - 1u), e % ${L.DV4}u), key < Kn);
    }
    `;
  fill += `for (var j = lid; j < ${TK}u; j += ${T}u) {
      let key = k0 + j;
      let kp = b * Kn + min(key, Kn - 1u);
      var ok = key < Kn${hasMask ? ' && MASK[kp] != 0.0' : ''};\n`;
  for (const g of L.groups) {
    for (const c of range(g.M4)) fill += `      let r${g.index}_${c} = CK${g.index}at(kp, ${c}u);\n      ok = ok && finite4(r${g.index}_${c});\n`;
  }
  for (const g of L.groups) {
    for (const c of range(g.M4)) {
      fill += `      KC${g.index}[j * ${g.M4}u + ${c}u] = select(vec4<f32>(0.0), prep${g.index}(r${g.index}_${c}), ok);\n`;
    }
  }
  if (kv === 'sharedDot') {
    // The shared query's score term of this key, scale·q·k_j (qsh is pre-scaled).
    const dot = range(L.D4).map((c) => `dot(qsh[${c}], ldK(krow, ${c}u))`).join(' + ');
    fill += `      let krow = bh * Kn + min(key, Kn - 1u);\n      KV[j] = select(NEG, ${dot}, ok);\n    }\n`;
  } else fill += `      KV[j] = ${kv === 'additive' ? 'select(NEG, 0.0, ok)' : 'select(0.0, 1.0, ok)'};\n    }\n`;
  return { decl, fill };
}

/**
 * Per-row query setup (forward, dQ pass, f16 forward): row index i{r} (`row(r)`, default thread
 * `lid`'s r-th row of the tile), in-range flag, sanitised coordinates qc{r}_{g}_{c} and validity
 * qok{r}. Uses b, qt, Qn and what `row` uses.
 */
export function queryRowsWgsl(L: BsaLayout, T: number, R: number,
  row: (r: number) => string = (r) => `qt * ${T * R}u + ${r * T}u + lid`): string {
  let s = '';
  for (const r of range(R)) {
    s += `  let i${r} = ${row(r)};\n  let in${r} = i${r} < Qn;\n  let ic${r} = min(i${r}, Qn - 1u);\n`;
    s += `  var qok${r} = in${r};\n`;
    for (const g of L.groups) {
      for (const c of range(g.M4)) {
        s += `  let rq${r}_${g.index}_${c} = CQ${g.index}at(b * Qn + ic${r}, ${c}u);\n  qok${r} = qok${r} && finite4(rq${r}_${g.index}_${c});\n`;
      }
    }
    for (const g of L.groups) {
      for (const c of range(g.M4)) {
        s += `  let qc${r}_${g.index}_${c} = select(vec4<f32>(0.0), prep${g.index}(rq${r}_${g.index}_${c}), qok${r});\n`;
      }
    }
  }
  return s;
}

/** Storage bindings common to the forward and backward kernels: q, k, v, PRM, coordinates, mask. */
export function inputDecls(desc: BsaDesc, L: BsaLayout): { decl: string; next: number } {
  let decl = streamDecl(0, 'Qm', L.vecD) + streamDecl(1, 'Km', L.vecD) + streamDecl(2, 'Vm', L.vecDV);
  decl += '@group(0) @binding(3) var<storage, read> PRM: array<f32>;\n';
  decl += '@group(0) @binding(4) var<storage, read> CQ: array<f32>;\n';
  decl += '@group(0) @binding(5) var<storage, read> CK: array<f32>;\n';
  let n = 6;
  if (desc.hasMask) decl += `@group(0) @binding(${n++}) var<storage, read> MASK: array<f32>;\n`;
  decl += rowMapsWgsl(desc) + loaderWgsl('ldQ', 'Qm', desc.d, L.vecD, 'mapQ') + loaderWgsl('ldK', 'Km', desc.d, L.vecD, 'mapK') +
    loaderWgsl('ldV', 'Vm', desc.dv, L.vecDV, 'mapK');
  for (const g of L.groups) decl += groupWgsl(g);
  return { decl, next: n };
}

export interface BsaGpuInputs {
  q: Storage; k: Storage; v: Storage; mask: Storage | null;
  /** Packed bias parameters (see codegen.ts `bsaLayout`). */
  prm: Storage;
  /** All groups' query (key) coordinates concatenated: [B,Q,M_0], [B,Q,M_1], … */
  cq: Storage; ck: Storage;
}

export function inputBindings(x: BsaGpuInputs): Storage[] {
  const out = [x.q, x.k, x.v, x.prm, x.cq, x.ck];
  if (x.mask) out.push(x.mask);
  return out;
}

export function forwardWgsl(desc: BsaDesc, L: BsaLayout, t: FwdTiles, software = false): string {
  const { T, R, TK, SC } = t;
  const { decl, next } = inputDecls(desc, L);
  const shared = desc.sharedQ === true;
  const stage = keyStageWgsl(L, T, TK, desc.hasMask, shared ? 'sharedDot' : 'flag');
  const body = (tiedBody: boolean): string => {
    let s = '';
    // Validity by select per score (the key's flag and the row's): making exclusions additive
    // instead (KV = 0 or NEG, no select) measured 9% slower on the H200 (session 8, call 2). With a
    // shared query KV[j] holds scale·q·k_j, or NEG for an excluded key.
    for (const u of range(SC)) {
      s += `let j${u} = jj + ${u}u;\n`;
      s += shared ? `let kd${u} = KV[j${u}];\nlet kv${u} = kd${u} > HALF_NEG;\n` : `let kv${u} = KV[j${u}] > 0.5;\n`;
    }
    for (const r of range(R)) {
      for (const u of range(SC)) {
        const dot = shared ? `kd${u}` : range(L.D4).map((c) => `dot(q${r}[${c}], Ks[j${u} * ${L.D4}u + ${c}u])`).join(' + ');
        s += `let v${r}_${u} = kv${u} && qok${r};\nvar s${r}_${u}: f32;\n{\n`;
        s += pairBias(L, tiedBody, (g, c) => `qc${r}_${g}_${c}`, (g, c) => `KC${g}[j${u} * ${L.groups[g]!.M4}u + ${c}u]`,
          (g) => `x${g}`);
        s += `s${r}_${u} = select(NEG, ${dot} + beta, v${r}_${u});\n}\n`;
      }
      const mx = range(SC).map((u) => `s${r}_${u}`).reduce((a, b) => `max(${a}, ${b})`);
      // Rescaling at every chunk, without a branch: a lazy rescale (only when the maximum moves by
      // more than a threshold, a branch per row and chunk) made this kernel 2× slower on the H200
      // (bench/results/2026-11-29-h200-session8.json, call1).
      s += `{\nlet mx = max(m${r}, ${mx});\nlet c = exp(m${r} - mx);\nm${r} = mx;\nl${r} = l${r} * c;\n`;
      for (const c of range(L.DV4)) s += `o${r}[${c}] = o${r}[${c}] * c;\n`;
      for (const u of range(SC)) {
        s += `{ let p = select(0.0, exp(s${r}_${u} - mx), v${r}_${u}); l${r} += p;\n`;
        for (const c of range(L.DV4)) s += `o${r}[${c}] += p * Vs[j${u} * ${L.DV4}u + ${c}u];\n`;
        s += '}\n';
      }
      s += '}\n';
    }
    return s;
  };
  let rows = queryRowsWgsl(L, T, R);
  if (shared) {
    rows += `  var qsh: array<vec4<f32>, ${L.D4}>;\n`;
    for (const c of range(L.D4)) rows += `  qsh[${c}] = ldQ0(bh, ${c}u) * scale;\n`;
  }
  for (const r of range(R)) {
    if (!shared) rows += `  var q${r}: array<vec4<f32>, ${L.D4}>;\n`;
    rows += `  var o${r}: array<vec4<f32>, ${L.DV4}>;\n  var m${r} = NEG;\n  var l${r} = 0.0;\n`;
    if (!shared) for (const c of range(L.D4)) rows += `  q${r}[${c}] = ldQ(bh * Qn + ic${r}, ${c}u) * scale;\n`;
  }
  let write = '';
  for (const r of range(R)) {
    write += `  if (in${r}) {\n    let row = bh * Qn + i${r};\n    let inv = select(0.0, 1.0 / l${r}, l${r} > 0.0);\n`;
    write += `    L[row] = select(negInf(0u), m${r} + log(l${r}), l${r} > 0.0);\n    let orow = mapQ(row);\n`;
    for (const c of range(L.DV4)) {
      if (L.vecDV) write += `    O[orow * ${L.DV4}u + ${c}u] = o${r}[${c}] * inv;\n`;
      else {
        for (const e of range(4)) {
          if (c * 4 + e < desc.dv) write += `    O[orow * ${desc.dv}u + ${c * 4 + e}u] = o${r}[${c}][${e}] * inv;\n`;
        }
      }
    }
    write += '  }\n';
  }
  const kEnd = loopBoundsWgsl(desc, T, range(R).map((r) => `qok${r}`).join(' || '));
  return `${paramsWgsl(next + 2, PARAM_WORDS)}${MATH_WGSL}${BSA_MATH_WGSL}${decl}
${streamDecl(next, 'O', L.vecDV, true)}@group(0) @binding(${next + 1}) var<storage, read_write> L: array<f32>;
const HALF_NEG: f32 = -5e29;
${shared ? loaderWgsl('ldQ0', 'Qm', desc.d, L.vecD) : ''}${stage.decl}${kEnd.decl}${biasWgsl(L, false)}
@compute @workgroup_size(${T})
fn main(${GRID_BUILTINS}) {
  ${PARAM_HEAD}
  let w = ${FLAT_WG};
  if (w >= Bn * Hn * nQT) { return; }
  let qt = w % nQT;
  let bh = w / nQT;
  let h = bh % Hn;
  let b = bh / Hn;
  biasSetup(h);
  setRowMaps(b, h);
${rows}${kEnd.code}
  for (var kt = 0u; kt < select(0u, min(nKT, (kEnd + ${TK - 1}u) / ${TK}u), anyQ); kt++) {
    let k0 = kt * ${TK}u;
    workgroupBarrier();
    ${stage.fill}
    workgroupBarrier();
    if (tied) {
      for (var jj = 0u; jj < ${innerBound(TK, software)}; jj += ${SC}u) {
${body(true)}      }
    } else {
      for (var jj = 0u; jj < ${innerBound(TK, software)}; jj += ${SC}u) {
${body(false)}      }
    }
  }
${write}}
`;
}

/** Records the forward dispatch; returns O [B,H,Q,dv] and L [B,H,Q] storages (caller owns). */
export function bsaForwardGpu(be: WebGPUBackend, desc: BsaDesc, x: BsaGpuInputs, scale: number):
  { o: Storage; lse: Storage } {
  const L = bsaLayout(desc);
  const software = isSoftwareAdapter(be);
  const t = forwardTiles(desc, software);
  const TQ = t.T * t.R;
  const limit = be.limits.maxComputeWorkgroupStorageSize;
  if (keyStageBytes(L, t.TK) > limit) {
    throw new Error(`bsa webgpu: expected a key tile within ${limit} bytes of workgroup memory, got ` +
      `${keyStageBytes(L, t.TK)} (tileK ${t.TK}); use a smaller tileK`);
  }
  const o = be.alloc(desc.B * desc.H * desc.Q * desc.dv);
  const lse = be.alloc(desc.B * desc.H * desc.Q);
  const nQT = Math.ceil(desc.Q / TQ);
  const nKT = Math.ceil(desc.K / t.TK);
  const bindings = [...inputBindings(x), o, lse];
  const access = bindings.map((_, i) => (i < bindings.length - 2 ? 'read' : 'read_write') as 'read' | 'read_write');
  const key = `bsaFwd_${structureKey(desc)}${desc.sharedQ ? 'shq' : ''}_T${t.T}R${t.R}K${t.TK}S${t.SC}${software ? 'sw' : ''}`;
  be.dispatch(key, () => forwardWgsl(desc, L, t, software), bindings, access, bsaParams(desc, nQT, nKT, scale, t.TK),
    grid(desc.B * desc.H * nQT));
  return { o, lse };
}
