/**
 * Fused BSA backward (bsa.md §5.2), four dispatches recorded back to back:
 *  1. Δ_i = Σ_c dO_ic·O_ic, one thread per row.
 *  2. dK, dV and bias-parameter partial sums, one workgroup per (b, h, key tile of T keys); each
 *     thread owns one key (k, v, dk, dv in registers, its coordinates sanitised) and loops over
 *     query tiles staged in workgroup memory (q, dO, L, Δ, query coordinates; L = −NEG excludes a row),
 *     recomputing S and P = exp(S − L) exactly as the forward; dS = P∘(dP − Δ) in f32. The bias
 *     gradients accumulate per thread in registers (one set per group and basis, or one set when
 *     the head's basis functions are tied, see codegen.ts), then the workgroup sums its threads in
 *     a fixed order and writes one partial row [NS] per workgroup.
 *  3. dQ, one workgroup per (b, h, query tile), keys staged as in the forward.
 *  4. One small reduction per parameter tensor: each output element sums its partials over
 *     (b, key tile) in a fixed order (deterministic, no atomics).
 * Small problems (the training shapes) split the loops of passes 2 and 3 into runs (`loopSplit`):
 * each workgroup walks one run of query (resp. key) tiles and writes partial dK, dV (resp. dQ)
 * rows, summed afterwards by one reduction per output, in a fixed order. On short key axes the
 * loops also stop at the batch element's last unmasked key, and skip query tiles with no valid
 * row (forward.ts `loopBoundsWgsl`; padded training batches).
 */
import type { Storage } from '../../../engine/backend.js';
import type { WebGPUBackend } from '../../../engine/webgpu/backend.js';
import { GRID_BUILTINS, FLAT_WG, MATH_WGSL, Params, grid, paramsWgsl } from '../../../engine/webgpu/wgsl.js';
import type { BsaDesc } from '../desc.js';
import { knobInt } from './knobs.js';
import {
  BSA_MATH_WGSL, type BsaLayout, biasWgsl, bnhdRow, bsaLayout, loaderWgsl, pairBias, range, slotExprs, streamDecl,
  structureKey,
} from './codegen.js';
import {
  type BsaGpuInputs, PARAM_HEAD, innerBound, isSoftwareAdapter, PARAM_WORDS, bsaParams, inputBindings, inputDecls, keyStageBytes, keyStageWgsl,
  loopBoundsWgsl, queryRowsWgsl,
} from './forward.js';

interface BwdTiles {
  /** dK/dV pass: threads (= keys) per workgroup and query rows per staged tile. */
  TKV: number; TQS: number;
  /** dQ pass: threads (= query rows) per workgroup and keys per staged tile. */
  TQ: number; TK: number;
}

/** Defaults, or `desc` tiles (tests), or the benchmark knobs BSA_TNP_BWD_TKV / _TQS / _TQ / _TK. */
function backwardTiles(desc: BsaDesc): BwdTiles {
  return {
    TKV: desc.tileK ?? knobInt('BSA_TNP_BWD_TKV', 64, [32, 64, 128]),
    TQS: desc.tileQ ?? knobInt('BSA_TNP_BWD_TQS', 32, [16, 32, 64]),
    TQ: desc.tileQ ?? knobInt('BSA_TNP_BWD_TQ', 64, [32, 64, 128]),
    TK: desc.tileK ?? knobInt('BSA_TNP_BWD_TK', 32, [16, 32, 64]),
  };
}

/** Δ [B·H·Q] (logical rows bh·Q + i) from dO and O in the desc's layout (uniforms: B·H·Q, H, Q). */
function deltaWgsl(desc: BsaDesc): string {
  const dv = desc.dv;
  const mrow = desc.layout === 'bnhd' ? bnhdRow('row / pu(2u)', 'row % pu(2u)', 'pu(1u)', 'pu(2u)') : 'row';
  return `${paramsWgsl(3, 3)}
@group(0) @binding(0) var<storage, read> GO: array<f32>;
@group(0) @binding(1) var<storage, read> O: array<f32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
@compute @workgroup_size(64)
fn main(${GRID_BUILTINS}) {
  let row = ${FLAT_WG} * 64u + lid;
  if (row >= pu(0u)) { return; }
  let mr = ${mrow};
  var s = 0.0;
  for (var c = 0u; c < ${dv}u; c++) { s += GO[mr * ${dv}u + c] * O[mr * ${dv}u + c]; }
  D[row] = s;
}
`;
}

/** Declarations of dO, L, Δ after the inputs, plus loaders. */
function gradInputs(desc: BsaDesc, L: BsaLayout, n: number): string {
  return streamDecl(n, 'GO', L.vecDV) + `@group(0) @binding(${n + 1}) var<storage, read> LSE: array<f32>;
@group(0) @binding(${n + 2}) var<storage, read> DELTA: array<f32>;
${loaderWgsl('ldG', 'GO', desc.dv, L.vecDV, 'mapQ')}`;
}

function storeRow(name: string, width: number, vec: boolean, W4: number, reg: string, scale: string): string {
  let s = '';
  for (const c of range(W4)) {
    if (vec) s += `    ${name}[row * ${W4}u + ${c}u] = ${reg}[${c}]${scale};\n`;
    else {
      for (const e of range(4)) {
        if (c * 4 + e < width) s += `    ${name}[row * ${width}u + ${c * 4 + e}u] = ${reg}[${c}][${e}]${scale};\n`;
      }
    }
  }
  return s;
}

function dkvWgsl(desc: BsaDesc, L: BsaLayout, T: number, TQS: number, SQ: number, software: boolean): string {
  // Key-side bound only (a thread is a key); query tiles of excluded rows are skipped per tile below.
  const kEnd = loopBoundsWgsl(desc, T, null);
  const tileSkip = kEnd.bounded;
  const { decl, next } = inputDecls(desc, L);
  let kdecl = `var<workgroup> Qs: array<vec4<f32>, ${TQS * L.D4}>;
var<workgroup> Gs: array<vec4<f32>, ${TQS * L.DV4}>;
var<workgroup> RL: array<f32, ${TQS}>;
var<workgroup> RD: array<f32, ${TQS}>;
var<workgroup> Red: array<f32, ${Math.max(1, T * L.NS)}>;\n`;
  for (const g of L.groups) kdecl += `var<workgroup> QC${g.index}: array<vec4<f32>, ${TQS * g.M4}>;\n`;
  // Own key: registers and sanitised coordinates.
  let setup = `  let j = kt * ${T}u + lid;\n  let jin = j < Kn;\n  let kp = b * Kn + min(j, Kn - 1u);\n  let krow = bh * Kn + min(j, Kn - 1u);\n`;
  setup += `  var kok = jin${desc.hasMask ? ' && MASK[kp] != 0.0' : ''};\n`;
  setup += `  var kk: array<vec4<f32>, ${L.D4}>;\n  var vv: array<vec4<f32>, ${L.DV4}>;\n`;
  setup += `  var dk: array<vec4<f32>, ${L.D4}>;\n  var dv: array<vec4<f32>, ${L.DV4}>;\n`;
  for (const c of range(L.D4)) setup += `  kk[${c}] = ldK(krow, ${c}u);\n`;
  for (const c of range(L.DV4)) setup += `  vv[${c}] = ldV(krow, ${c}u);\n`;
  for (const g of L.groups) {
    for (const c of range(g.M4)) setup += `  let rk${g.index}_${c} = CK${g.index}at(kp, ${c}u);\n  kok = kok && finite4(rk${g.index}_${c});\n`;
  }
  for (const g of L.groups) {
    for (const c of range(g.M4)) setup += `  let kc${g.index}_${c} = select(vec4<f32>(0.0), prep${g.index}(rk${g.index}_${c}), kok);\n`;
  }
  // Exclusions are additive: an excluded key adds NEG to its scores, an excluded query row has
  // RL = −NEG, so P = exp(S − L) = 0 for every excluded pair with no per-pair test.
  setup += '  let kadd = select(NEG, 0.0, kok);\n';
  let fill = `for (var e = lid; e < ${TQS * L.D4}u; e += ${T}u) {
      let row = i0 + e / ${L.D4}u;
      Qs[e] = select(vec4<f32>(0.0), ldQ(bh * Qn + min(row, Qn - 1u), e % ${L.D4}u), row < Qn);
    }
    for (var e = lid; e < ${TQS * L.DV4}u; e += ${T}u) {
      let row = i0 + e / ${L.DV4}u;
      Gs[e] = select(vec4<f32>(0.0), ldG(bh * Qn + min(row, Qn - 1u), e % ${L.DV4}u), row < Qn);
    }
    for (var ii = lid; ii < ${TQS}u; ii += ${T}u) {
      let row = i0 + ii;
      let rp = bh * Qn + min(row, Qn - 1u);
      let qp = b * Qn + min(row, Qn - 1u);
      let lr = LSE[rp];
      var ok = row < Qn && isfinite_(lr);\n`;
  for (const g of L.groups) {
    for (const c of range(g.M4)) fill += `      let r${g.index}_${c} = CQ${g.index}at(qp, ${c}u);\n      ok = ok && finite4(r${g.index}_${c});\n`;
  }
  for (const g of L.groups) {
    for (const c of range(g.M4)) {
      fill += `      QC${g.index}[ii * ${g.M4}u + ${c}u] = select(vec4<f32>(0.0), prep${g.index}(r${g.index}_${c}), ok);\n`;
    }
  }
  fill += '      RL[ii] = select(-NEG, lr, ok);\n      RD[ii] = select(0.0, DELTA[rp], ok);\n';
  // The tile's flag (slot by parity): set if any of its rows is valid.
  if (tileSkip) fill += '      if (ok) { atomicStore(&QANY[qt & 1u], 1u); }\n';
  fill += '    }\n';
  const pair = (tiedBody: boolean): string => {
    let s = pairBias(L, tiedBody, (g, c) => `QC${g}[ii * ${L.groups[g]!.M4}u + ${c}u]`, (g, c) => `kc${g}_${c}`, (g) => `x${g}`);
    const dot = range(L.D4).map((c) => `dot(Qs[ii * ${L.D4}u + ${c}u], kk[${c}])`).join(' + ');
    s += `let p = exp((${dot}) * scale + beta + kadd - RL[ii]);\nvar dp = 0.0;\n`;
    for (const c of range(L.DV4)) {
      s += `{ let go = Gs[ii * ${L.DV4}u + ${c}u]; dv[${c}] += p * go; dp += dot(go, vv[${c}]); }\n`;
    }
    s += 'let ds = p * (dp - RD[ii]);\n';
    for (const c of range(L.D4)) s += `dk[${c}] += ds * Qs[ii * ${L.D4}u + ${c}u];\n`;
    for (const g of L.groups) s += `grad${tiedBody ? 'T' : 'F'}${g.index}(x${g.index}, ds);\n`;
    return s;
  };
  let fin = `  if (jin) {\n    let row = qs * Bn * Hn * Kn + mapK(krow);\n${storeRow('DK', desc.d, L.vecD, L.D4, 'dk', ' * scale')}${storeRow('DV', desc.dv, L.vecDV, L.DV4, 'dv', '')}  }\n`;
  // Per-thread partial sums into Red [NS, T], one barrier, then thread s sums slot s in order.
  slotExprs(L).forEach((expr, s) => { fin += `  Red[${s * T}u + lid] = ${expr};\n`; });
  if (L.NS > 0) {
    fin += `  workgroupBarrier();\n  for (var s = lid; s < ${L.NS}u; s += ${T}u) {\n    var t = 0.0;\n` +
      `    for (var x = 0u; x < ${T}u; x++) { t += Red[s * ${T}u + x]; }\n    PART[w * ${L.NS}u + s] = t;\n  }\n`;
  }
  const n = next;
  return `${paramsWgsl(n + 6, PARAM_WORDS)}${MATH_WGSL}${BSA_MATH_WGSL}${decl}${gradInputs(desc, L, n)}
${streamDecl(n + 3, 'DK', L.vecD, true)}${streamDecl(n + 4, 'DV', L.vecDV, true)}@group(0) @binding(${n + 5}) var<storage, read_write> PART: array<f32>;
${kdecl}${kEnd.decl}${tileSkip ? 'var<workgroup> QANY: array<atomic<u32>, 2>;\n' : ''}${biasWgsl(L, true)}
@compute @workgroup_size(${T})
fn main(${GRID_BUILTINS}) {
  ${PARAM_HEAD}
  let w = ${FLAT_WG};
  if (w >= Bn * Hn * nKT * ${SQ}u) { return; }
  // Workgroup w = ((b·H + h)·nKT + kt)·SQ + qs: key tile kt, query tiles of run qs.
  let qs = w % ${SQ}u;
  let kt = (w / ${SQ}u) % nKT;
  let bh = w / ${SQ}u / nKT;
  let h = bh % Hn;
  let b = bh / Hn;
  let run = (nQT + ${SQ - 1}u) / ${SQ}u;
  biasSetup(h);
  setRowMaps(b, h);
${setup}${kEnd.code}
  // A key tile past the last unmasked key has dK = dV = 0 and no bias terms: no query loop.
  let qEnd = select(min(nQT, qs * run + run), 0u, kt * ${T}u >= kEnd);
${tileSkip ? '  if (lid == 0u) { atomicStore(&QANY[0], 0u); atomicStore(&QANY[1], 0u); }\n' : ''}  for (var qt = qs * run; qt < qEnd; qt++) {
    let i0 = qt * ${TQS}u;
    workgroupBarrier();
    ${fill}
    workgroupBarrier();
${tileSkip ? `    // A staged tile of excluded rows only (P = 0 for every pair) adds nothing. The next tile's
    // slot was last read before this tile's barriers.
    let tileAny = atomicLoad(&QANY[qt & 1u]) != 0u;
    if (lid == 0u) { atomicStore(&QANY[(qt + 1u) & 1u], 0u); }
` : '    let tileAny = true;\n'}    if (tileAny) {
    if (tied) {
      for (var ii = 0u; ii < ${innerBound(TQS, software)}; ii++) {
${pair(true)}      }
    } else {
      for (var ii = 0u; ii < ${innerBound(TQS, software)}; ii++) {
${pair(false)}      }
    }
    }
  }
${fin}}
`;
}

function dqWgsl(desc: BsaDesc, L: BsaLayout, T: number, TK: number, SK: number, software: boolean): string {
  const kEnd = loopBoundsWgsl(desc, T, 'qok0');
  const { decl, next } = inputDecls(desc, L);
  const stage = keyStageWgsl(L, T, TK, desc.hasMask, 'additive');
  let rows = queryRowsWgsl(L, T, 1);
  rows += `  let row0 = bh * Qn + ic0;\n  let lr = LSE[row0];\n  qok0 = qok0 && isfinite_(lr);\n  let Li = select(-NEG, lr, qok0);\n  let Di = DELTA[row0];\n`;
  rows += `  var q0: array<vec4<f32>, ${L.D4}>;\n  var g0: array<vec4<f32>, ${L.DV4}>;\n  var dq: array<vec4<f32>, ${L.D4}>;\n`;
  for (const c of range(L.D4)) rows += `  q0[${c}] = ldQ(row0, ${c}u) * scale;\n`;
  for (const c of range(L.DV4)) rows += `  g0[${c}] = ldG(row0, ${c}u);\n`;
  const pair = (tiedBody: boolean): string => {
    let s = pairBias(L, tiedBody, (g, c) => `qc0_${g}_${c}`, (g, c) => `KC${g}[j * ${L.groups[g]!.M4}u + ${c}u]`, (g) => `x${g}`);
    const dot = range(L.D4).map((c) => `dot(q0[${c}], Ks[j * ${L.D4}u + ${c}u])`).join(' + ');
    const dp = range(L.DV4).map((c) => `dot(g0[${c}], Vs[j * ${L.DV4}u + ${c}u])`).join(' + ');
    s += `let p = exp(${dot} + beta + KV[j] - Li);\nlet ds = p * (${dp} - Di);\n`;
    for (const c of range(L.D4)) s += `dq[${c}] += ds * Ks[j * ${L.D4}u + ${c}u];\n`;
    return s;
  };
  const n = next;
  return `${paramsWgsl(n + 4, PARAM_WORDS)}${MATH_WGSL}${BSA_MATH_WGSL}${decl}${gradInputs(desc, L, n)}
${streamDecl(n + 3, 'DQ', L.vecD, true)}
${stage.decl}${kEnd.decl}${biasWgsl(L, false)}
@compute @workgroup_size(${T})
fn main(${GRID_BUILTINS}) {
  ${PARAM_HEAD}
  let w0 = ${FLAT_WG};
  if (w0 >= Bn * Hn * nQT * ${SK}u) { return; }
  // Workgroup w0 = ((b·H + h)·nQT + qt)·SK + ks: query tile qt, key tiles of run ks.
  let ks = w0 % ${SK}u;
  let w = w0 / ${SK}u;
  let qt = w % nQT;
  let bh = w / nQT;
  let h = bh % Hn;
  let b = bh / Hn;
  let run = (nKT + ${SK - 1}u) / ${SK}u;
  biasSetup(h);
  setRowMaps(b, h);
${rows}${kEnd.code}
  for (var kt = ks * run; kt < select(0u, min(min(nKT, (kEnd + ${TK - 1}u) / ${TK}u), ks * run + run), anyQ); kt++) {
    let k0 = kt * ${TK}u;
    workgroupBarrier();
    ${stage.fill}
    workgroupBarrier();
    if (tied) {
      for (var j = 0u; j < ${innerBound(TK, software)}; j++) {
${pair(true)}      }
    } else {
      for (var j = 0u; j < ${innerBound(TK, software)}; j++) {
${pair(false)}      }
    }
  }
  if (in0) {
    let row = ks * Bn * Hn * Qn + mapQ(row0);
${storeRow('DQ', desc.d, L.vecD, L.D4, 'dq', ' * scale')}  }
}
`;
}

const REDUCE_WGSL = `${paramsWgsl(2, 6)}
@group(0) @binding(0) var<storage, read> PART: array<f32>;
@group(0) @binding(1) var<storage, read_write> OUT: array<f32>;
var<workgroup> Red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(${GRID_BUILTINS}) {
  let Bn = pu(0u); let Hn = pu(1u); let nKT = pu(2u); let NS = pu(3u); let off = pu(4u); let F = pu(5u);
  let o = ${FLAT_WG};
  if (o >= Hn * F) { return; }
  let h = o / F;
  let k = o % F;
  var t = 0.0;
  for (var e = lid; e < Bn * nKT; e += 64u) {
    let b = e / nKT;
    let kt = e % nKT;
    t += PART[((b * Hn + h) * nKT + kt) * NS + off + k];
  }
  Red[lid] = t;
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var x = 0u; x < 64u; x++) { s += Red[x]; }
    OUT[o] = s;
  }
}
`;

/**
 * Into how many runs to split a pass's loop (over query tiles for dK/dV, key tiles for dQ) so that
 * small problems still fill the GPU: at training shapes (B = 8, H = 4, Q = 1536, K = 512) the dK/dV
 * pass has 256 workgroups of 64 threads, about four warps per SM of an H200, and each walks all
 * 48 query tiles. Runs of at least 4 tiles, up to ~2048 workgroups: with padded keys and rows
 * skipped (loopBoundsWgsl) many workgroups end early, and 2048 took 6.45 ms per step against 6.55
 * for 1024 (H200, three alternating runs each, session 9 call 8). Same rule on every adapter, so
 * that lavapipe (CI) runs the split code too.
 */
export function loopSplit(workgroups: number, tiles: number): number {
  // Workgroups aimed for: 2048, or BSA_TNP_BWD_SPLIT_TARGET (a tuning knob for benchmarks).
  const target = knobInt('BSA_TNP_BWD_SPLIT_TARGET', 2048);
  if (workgroups >= target) return 1;
  return Math.max(1, Math.min(Math.ceil(target / workgroups), Math.floor(tiles / 4)));
}

/** Sums S runs' partial results [S, n] into a new [n] storage (frees the partials); S = 1: as is. */
function sumRuns(be: WebGPUBackend, part: Storage, S: number, n: number): Storage {
  if (S === 1) return part;
  const out = be.reduce('sum', part, 1, S, n);
  be.free(part);
  return out;
}

/** Records the backward dispatches; returns new gradient storages (caller owns). */
export function bsaBackwardGpu(be: WebGPUBackend, desc: BsaDesc, x: BsaGpuInputs, o: Storage, lse: Storage,
  dO: Storage, scale: number): { dq: Storage; dk: Storage; dv: Storage; groups: { da: Storage; db?: Storage; dc?: Storage }[] } {
  const L = bsaLayout(desc);
  const t = backwardTiles(desc);
  const software = isSoftwareAdapter(be);
  const sw = software ? 'sw' : '';
  const { B, H, Q, K, d, dv } = desc;
  const limit = be.limits.maxComputeWorkgroupStorageSize;
  const qStage = t.TQS * 16 * (L.D4 + L.DV4 + L.groups.reduce((s, g) => s + g.M4, 0)) + t.TQS * 8 + t.TKV * 4 * L.NS;
  if (qStage > limit || keyStageBytes(L, t.TK) > limit) {
    throw new Error(`bsa webgpu: expected backward tiles within ${limit} bytes of workgroup memory, got ` +
      `${Math.max(qStage, keyStageBytes(L, t.TK))}; use smaller tileQ/tileK`);
  }
  const sk = structureKey(desc);
  const inputs = inputBindings(x);
  const R = 'read' as const, W = 'read_write' as const;
  // 1. Δ
  const delta = be.alloc(B * H * Q);
  be.dispatch(`bsaDelta_${dv}${desc.layout === 'bnhd' ? 'n' : ''}`, () => deltaWgsl(desc), [dO, o, delta], [R, R, W],
    new Params().u32(B * H * Q).u32(H).u32(Q).buffer(),
    grid(Math.ceil((B * H * Q) / 64)));
  // 2. dK, dV, partials (SQ runs of query tiles when the key tiles alone give few workgroups)
  const nKTb = Math.ceil(K / t.TKV);
  const nQTs = Math.ceil(Q / t.TQS);
  const SQ = loopSplit(B * H * nKTb, nQTs);
  const dkP = be.alloc(SQ * B * H * K * d);
  const dvP = be.alloc(SQ * B * H * K * dv);
  const part = be.alloc(Math.max(1, B * H * nKTb * SQ * L.NS));
  const bindKV = [...inputs, dO, lse, delta, dkP, dvP, part];
  be.dispatch(`bsaDKV_${sk}_T${t.TKV}Q${t.TQS}S${SQ}${sw}`, () => dkvWgsl(desc, L, t.TKV, t.TQS, SQ, software), bindKV,
    bindKV.map((_, i) => (i < bindKV.length - 3 ? R : W)), bsaParams(desc, nQTs, nKTb, scale, t.TQS), grid(B * H * nKTb * SQ));
  const dk = sumRuns(be, dkP, SQ, B * H * K * d);
  const dvS = sumRuns(be, dvP, SQ, B * H * K * dv);
  // 3. dQ (SK runs of key tiles likewise)
  const nQT = Math.ceil(Q / t.TQ);
  const nKT = Math.ceil(K / t.TK);
  const SK = loopSplit(B * H * nQT, nKT);
  const dqP = be.alloc(SK * B * H * Q * d);
  const bindQ = [...inputs, dO, lse, delta, dqP];
  be.dispatch(`bsaDQ_${sk}_T${t.TQ}K${t.TK}S${SK}${sw}`, () => dqWgsl(desc, L, t.TQ, t.TK, SK, software), bindQ,
    bindQ.map((_, i) => (i < bindQ.length - 1 ? R : W)), bsaParams(desc, nQT, nKT, scale, t.TK), grid(B * H * nQT * SK));
  const dq = sumRuns(be, dqP, SK, B * H * Q * d);
  // 4. parameter gradients
  const groups = L.groups.map((gl) => {
    const outs: Storage[] = [];
    for (let p = 0; p < gl.nParams; p++) {
      const out = be.alloc(H * gl.F);
      const prm = new Params().u32(B).u32(H).u32(nKTb * SQ).u32(L.NS).u32(gl.slot + p * gl.F).u32(gl.F).buffer();
      be.dispatch('bsaReduce', () => REDUCE_WGSL, [part, out], [R, W], prm, grid(H * gl.F));
      outs.push(out);
    }
    return { da: outs[0]!, db: outs[1], dc: outs[2] };
  });
  be.free(delta);
  be.free(part);
  return { dq, dk, dv: dvS, groups };
}

