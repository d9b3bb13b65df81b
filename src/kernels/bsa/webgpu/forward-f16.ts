/**
 * BSA forward with half-precision matrix products (issue 3's optional f16 path): q·kᵀ and P·v run
 * on f16 inputs with f32 accumulation; distances, biases, the online softmax, l and L stay f32.
 * Precision 'f16' splits every input into two f16 halves and takes three products per product
 * (f32-level accuracy, see F16Tiles.splitQK); 'f16-fast' takes one product of f16-rounded inputs
 * (relative error ~1e-3). Inference only: with gradients recorded, op.ts uses the f32 kernels,
 * whose backward needs an L consistent with f32 scores.
 *
 * Work split: a workgroup has NW "warps" of 32 invocations (NW = 1 on tensor cores, see f16Tiles);
 * warp w owns RW = 16 or 32 query rows. A pre-pass converts K and V to f16 (hi and lo halves when
 * split) in one buffer H16, padded to whole key tiles, so that the products load them straight
 * from global memory. Per key tile of TK keys:
 * - the key coordinates (loaded into registers during the previous tile) are staged in workgroup
 *   memory, with KV[j] = 0 or NEG for a valid or an excluded key;
 * - the warp computes S = (scale·log2 e·q)·kᵀ into SS (scores are kept in base 2, so P = exp2);
 *   meanwhile the next tile's K and V matrices load into registers;
 * - each lane takes its row's keys (j = half, half + LPR, …), adds log2 e·bias and KV[j], and takes
 *   the row maximum (with its partner lane when two lanes share a row);
 * - lazy rescaling: the row keeps a reference maximum m and P = exp2(S − m) ≤ 2^TAU; only when a
 *   tile's maximum passes m + TAU (rare after the first tiles) does the workgroup store its O
 *   accumulators, rescale the rows that moved and load them back (a workgroup-uniform branch);
 * - P goes to PS as f16 and the warp accumulates O += P·v in matrix accumulators that stay in
 *   registers for the whole key loop.
 * At the end O is stored once, divided by l and written with L = m·ln 2 + log l. Rows whose query
 * coordinates are invalid, or whose keys are all excluded, give O = 0 and L = −∞. Nothing of size
 * [Q, K] exists.
 *
 * Two dialects of the two matrix products, same layouts and same rounding of the inputs:
 * - 'matrix': `chromium-experimental-subgroup-matrix` 16×16×16 f16 → f32 (tensor cores); needs a
 *   subgroup size of exactly 32 so that a warp is one subgroup.
 * - 'emulate': the same products written as scalar loops over the f16 workgroup arrays, with O in
 *   workgroup memory (no subgroup operation at all). Slow; it is what runs where the feature is
 *   missing (lavapipe in CI), so the whole kernel around the products is tested there.
 *
 * Layouts (workgroup memory per warp w at base offsets w·RW·DP, w·RW·TKO, w·RW·TK):
 *   QS [RW, DP] f16 row-major (scale·log2 e·q, zero-padded to DP = ⌈d/16⌉·16 columns)
 *   SS [TKO cols, RW rows] f32 column-major: (r, j) at j·RW + r — scores; O at rescales and the end
 *   PS [TK cols, RW rows] f16 column-major
 *   QL, PL: the low halves of QS, PS (split mode only)
 *   H16 (global): K [B,H,Kpad,DP] row-major (read as kᵀ: column-major), V [B,H,Kpad,DVP]
 * Column-major blocks make the softmax lanes' accesses (row r, column j) hit distinct banks. Every
 * workgroup array is a multiple of 16 bytes (see FLAG).
 */
import type { WebGPUBackend } from '../../../engine/webgpu/backend.js';
import { GRID_BUILTINS, FLAT_WG, MATH_WGSL, Params, grid, paramsWgsl } from '../../../engine/webgpu/wgsl.js';
import type { BsaDesc } from '../desc.js';
import { knobFlag, knobSet } from './knobs.js';
import { BSA_MATH_WGSL, type BsaLayout, biasWgsl, bnhdRow, bsaLayout, pairBias, range, streamDecl, structureKey } from './codegen.js';
import {
  type BsaGpuInputs, PARAM_HEAD, PARAM_WORDS, bsaParams, inputBindings, inputDecls, queryRowsWgsl,
} from './forward.js';
import type { Storage } from '../../../engine/backend.js';

export type F16Dialect = 'matrix' | 'emulate';

export interface F16Tiles {
  /** Warps per workgroup. */
  NW: number;
  /**
   * Query rows per warp: 16 (two lanes per row, keys and output columns split between them) or
   * 32 (a lane per row, one warp's two 16-row blocks share every K and V matrix it loads). 64 (a
   * lane per two rows; fewer K and V loads per score) was slower on the H200, register pressure
   * (bench/results/2026-11-29-h200-session7.json `call1_f16_sweep`), and was removed.
   */
  RW: number;
  /** Keys per staged tile (a multiple of 16). */
  TK: number;
  /**
   * q·kᵀ from split halves: x = hi + lo with hi = x rounded to 11 significant bits (WGSL `hi16`)
   * and lo = f16(x − hi), and X·Y ≈ Xhi·Yhi + Xlo·Yhi + Xhi·Ylo (relative error ~u² instead of ~u,
   * u = 2⁻¹¹; three tensor-core products instead of one). Precision 'f16'.
   */
  splitQK: boolean;
  /** P from split halves in P·v (PS + PL; one more product). */
  splitP: boolean;
  /** v from split halves in P·v (one more product, no per-score cost). */
  splitV: boolean;
  /**
   * Tensor-core dialect: load the next tile's K and V matrices into registers while this tile is
   * processed (more registers per warp) instead of at the products that use them.
   */
  prefetch: boolean;
}

/**
 * Largest jump of a row's reference maximum absorbed without rescaling, in log2 units (scores are
 * kept in base 2: q is pre-scaled by log2 e, P = exp2(S − m)); 2^11 = 2048 fits f16.
 */
const TAU = 11;

/**
 * Tiles: `desc.tileQ` / `desc.tileK` when given (multiples of 16), else one warp of 16 ('f16') or
 * 32 ('f16-fast') query rows × 32 keys, keys halved until the workgroup memory fits the limit. The tensor-core dialect needs
 * exactly one warp per workgroup: its matrix offsets must be uniform, and the warp index
 * (local index / 32) is not, to this Dawn's uniformity analysis.
 */
export function f16Tiles(desc: BsaDesc, limit = 48 * 1024, dialect: F16Dialect = 'matrix'): F16Tiles {
  for (const [name, v] of [['tileK', desc.tileK], ['tileQ', desc.tileQ]] as const) {
    if (v !== undefined && (v % 16 !== 0 || v <= 0)) throw new Error(`bsa webgpu f16: expected ${name} a positive multiple of 16, got ${v}`);
  }
  const split = desc.precision === 'f16';
  // Defaults measured on the H200 (bench/results/2026-11-28-h200-f16-session3.json): split 16 × 32
  // (1.55e11 scores/s against 1.23e11 at 32 × 32), one-product 32 × 32.
  const tq = desc.tileQ ?? (split ? 16 : 32);
  const RW = tq >= 32 ? 32 : 16;
  if (tq % RW !== 0) throw new Error(`bsa webgpu f16: expected tileQ 16 or a multiple of 32, got ${tq}`);
  // BSA_TNP_F16_SPLIT names a subset of the products to split (a tuning knob for the accuracy and
  // speed benchmarks); all three by default.
  const parts = split ? knobSet('BSA_TNP_F16_SPLIT', ['qk', 'p', 'v'], ['qk', 'p', 'v']) : new Set<string>();
  const t: F16Tiles = { NW: tq / RW, RW, TK: desc.tileK ?? 32, splitQK: parts.has('qk'), splitP: parts.has('p'), splitV: parts.has('v'),
    prefetch: knobFlag('BSA_TNP_F16_PREFETCH', true) };
  while (f16StageBytes(desc, t, dialect) > limit && desc.tileK === undefined && t.TK > 16) t.TK /= 2;
  return t;
}

/** Workgroup-memory bytes of the f16 kernel with tiles `t`. */
export function f16StageBytes(desc: BsaDesc, t: F16Tiles, dialect: F16Dialect = 'matrix'): number {
  const L = bsaLayout(desc);
  const DP = pad16(desc.d), DVP = pad16(desc.dv), TKO = Math.max(t.TK, DVP);
  const rows = t.NW * t.RW;
  return (t.splitQK ? 2 : 1) * rows * DP * 2 + (t.splitP ? 2 : 1) * rows * t.TK * 2 + rows * TKO * 4 +
    (dialect === 'emulate' ? rows * DVP * 4 + t.NW * 32 * 4 : 0) + 16 +
    t.TK * (4 + 16 * L.groups.reduce((s, g) => s + g.M4, 0));
}

/** Which dialect this device runs, or why it cannot run the f16 path. */
export function f16Dialect(be: WebGPUBackend): F16Dialect {
  if (!be.hasF16) {
    throw new Error(`bsa webgpu f16: expected a device with the shader-f16 feature, got ${be.description}`);
  }
  return be.hasSubgroupMatrix && be.hasSubgroups && be.subgroupSize === 32 ? 'matrix' : 'emulate';
}

const pad16 = (n: number): number => Math.ceil(n / 16) * 16;



/**
 * x with its mantissa rounded to f16's 10 bits, in integer arithmetic (exact; a float round trip
 * f32(f16(x)) is kept at f32 precision by lavapipe): an f16 value for |x| ≥ 2⁻¹⁴, and x − hi16(x)
 * is exact in f32.
 */
const HI16_WGSL = 'fn hi16(x: f32) -> f32 { return bitcast<f32>((bitcast<u32>(x) + 0x1000u) & 0xffffe000u); }\n';

/** Offsets of the four regions of H16 (K hi, K lo, V hi, V lo), as WGSL expressions. */
function h16Regions(t: F16Tiles, DP: number, DVP: number): string {
  return `  let Kpad = nKT * ${t.TK}u;
  let nK = Bn * Hn * Kpad * ${DP}u;
  let nV = Bn * Hn * Kpad * ${DVP}u;
  let vBase = nK * ${t.splitQK ? 2 : 1}u;\n`;
}

export function f16ForwardWgsl(desc: BsaDesc, L: BsaLayout, t: F16Tiles, dialect: F16Dialect): string {
  const { NW, TK, RW } = t;
  const T = NW * 32;
  const TQ = NW * RW;
  // A warp's RW rows: RW = 16, two lanes per row (LPR = 2); 32, a lane per row. Lane ln owns row
  // r = ln % RW and, with LPR = 2, the keys and output columns of parity `half`.
  const LPR = 32 / RW;
  const MB = RW / 16;
  const DP = pad16(desc.d);
  const DVP = pad16(desc.dv);
  const NC = DP / 16;
  const NN = DVP / 16;
  const TKO = Math.max(TK, DVP);
  const KPL = Math.ceil(TK / T);
  const mat = dialect === 'matrix';
  const { decl, next } = inputDecls(desc, L);
  const left = 'subgroup_matrix_left<f16, 16, 16>';
  const right = 'subgroup_matrix_right<f16, 16, 16>';
  const result = 'subgroup_matrix_result<f32, 16, 16>';
  const loadR = (arr: string, at: string, colMajor: boolean, stride: number): string =>
    `subgroupMatrixLoad<${right}>(&H16, ${arr} + ${at}, ${colMajor}, ${stride}u)`;

  // Key staging through registers: the raw coordinates (and mask) of tile kt + 1 are loaded while
  // tile kt is processed and written to workgroup memory at the top of the next tile.
  let keyRegs = '';
  let keyLoad = '';
  let keyWrite = '';
  for (const u of range(KPL)) {
    keyRegs += desc.hasMask ? `  var km${u} = 0.0;\n` : '';
    for (const g of L.groups) for (const c of range(g.M4)) keyRegs += `  var kr${u}_${g.index}_${c} = vec4<f32>(0.0);\n`;
    keyLoad += `    {\n      let kp = b * Kn + min(nk0 + lid + ${u * T}u, Kn - 1u);\n`;
    if (desc.hasMask) keyLoad += `      km${u} = MASK[kp];\n`;
    for (const g of L.groups) for (const c of range(g.M4)) keyLoad += `      kr${u}_${g.index}_${c} = CK${g.index}at(kp, ${c}u);\n`;
    keyLoad += '    }\n';
    keyWrite += `    {\n      let j = lid + ${u * T}u;\n      var ok = k0 + j < Kn${desc.hasMask ? ` && km${u} != 0.0` : ''};\n`;
    for (const g of L.groups) for (const c of range(g.M4)) keyWrite += `      ok = ok && finite4(kr${u}_${g.index}_${c});\n`;
    keyWrite += `      if (j < ${TK}u) {\n`;
    for (const g of L.groups) {
      for (const c of range(g.M4)) {
        keyWrite += `        KC${g.index}[j * ${g.M4}u + ${c}u] = select(vec4<f32>(0.0), prep${g.index}(kr${u}_${g.index}_${c}), ok);\n`;
      }
    }
    keyWrite += '        KV[j] = select(NEG, 0.0, ok);\n        if (!ok) { FLAG[1u + (kt & 1u)] = 1u; }\n      }\n    }\n';
  }
  let stageDecl = `var<workgroup> KV: array<f32, ${TK}>;\n`;
  for (const g of L.groups) stageDecl += `var<workgroup> KC${g.index}: array<vec4<f32>, ${TK * g.M4}>;\n`;

  // Q staging (once): scale·q as f16, zero beyond d and beyond Q.
  const qStage = `for (var e = ln; e < ${RW * DP}u; e += 32u) {
    let rr = e / ${DP}u;
    let cc = e % ${DP}u;
    let qi = qt * ${TQ}u + w * ${RW}u + rr;
    var val = 0.0;
    if (qi < Qn && cc < ${desc.d}u) { val = ldQ(bh * Qn + qi, cc / 4u)[cc % 4u] * scale * LOG2E; }
    ${t.splitQK ? 'let hi = hi16(val);\n    QS[qb + e] = f16(hi);\n    QL[qb + e] = f16(val - hi);' : 'QS[qb + e] = f16(val);'}
  }\n`;

  // Matrix dialect: K and V matrices of the next tile are loaded into registers while this one is
  // processed (H200: 2.92e11 scores/s against 2.86e11 loading each in the tile that uses it).
  // k{n}_{c}, kl{n}_{c}: key block n, d block c; v{c}_{nb}, vl{c}_{nb}: key block c, output block nb.
  const kMats = (decl: boolean, tile: string): string => {
    let s = '';
    for (const n of range(TK / 16)) {
      for (const c of range(NC)) {
        const at = `(bh * Kpad + ${tile} * ${TK}u) * ${DP}u + ${n * 16 * DP + c * 16}u`;
        s += `  ${decl ? 'var ' : ''}k${n}_${c} = ${loadR('0u', at, true, DP)};\n`;
        if (t.splitQK) s += `  ${decl ? 'var ' : ''}kl${n}_${c} = ${loadR('nK', at, true, DP)};\n`;
      }
    }
    return s;
  };
  const vMats = (decl: boolean, tile: string): string => {
    let s = '';
    for (const c of range(TK / 16)) {
      for (const nb of range(NN)) {
        const at = `(bh * Kpad + ${tile} * ${TK}u) * ${DVP}u + ${c * 16 * DVP + nb * 16}u`;
        s += `  ${decl ? 'var ' : ''}v${c}_${nb} = ${loadR('vBase', at, false, DVP)};\n`;
        if (t.splitV) s += `  ${decl ? 'var ' : ''}vl${c}_${nb} = ${loadR('vBase + nV', at, false, DVP)};\n`;
      }
    }
    return s;
  };
  // O accumulators: o{mb}_{nb} result matrices (matrix) or OS in workgroup memory (emulate), both
  // column-major 16-row blocks: (r, c) of warp w at c·RW + r.
  const oStore = range(MB).flatMap((mb) => range(NN).map((nb) =>
    `    subgroupMatrixStore(&SS, sb + ${nb * 16 * RW + mb * 16}u, o${mb}_${nb}, true, ${RW}u);\n`)).join('');
  const oLoad = range(MB).flatMap((mb) => range(NN).map((nb) =>
    `    o${mb}_${nb} = subgroupMatrixLoad<${result}>(&SS, sb + ${nb * 16 * RW + mb * 16}u, true, ${RW}u);\n`)).join('');
  const OA = mat ? 'SS' : 'OS';

  // S = QS·Kᵀ for the warp's rows, all TK keys, stored column-major into SS.
  let scores = '';
  if (mat) {
    for (const n of range(TK / 16)) {
      for (const mb of range(MB)) {
        scores += `    {\n      var acc = ${result}();\n`;
        for (const c of range(NC)) {
          scores += `      acc = subgroupMatrixMultiplyAccumulate(qh${mb}_${c}, k${n}_${c}, acc);\n`;
          if (t.splitQK) {
            scores += `      acc = subgroupMatrixMultiplyAccumulate(qlo${mb}_${c}, k${n}_${c}, acc);\n` +
              `      acc = subgroupMatrixMultiplyAccumulate(qh${mb}_${c}, kl${n}_${c}, acc);\n`;
          }
        }
        scores += `      subgroupMatrixStore(&SS, sb + ${n * 16 * RW + mb * 16}u, acc, true, ${RW}u);\n    }\n`;
      }
    }
    scores = t.prefetch ? scores + kMats(false, 'nkt').replace(/^/gm, '  ') : kMats(true, 'kt').replace(/^/gm, '  ') + scores;
  } else {
    scores = `    let kh0 = (bh * Kpad + k0) * ${DP}u;
    for (var e = ln; e < ${RW * TK}u; e += 32u) {
      let j = e / ${RW}u;
      let rr = e % ${RW}u;
      var acc = 0.0;
      for (var c = 0u; c < ${DP}u; c++) {
        let qa = qb + rr * ${DP}u + c;
        let ka = j * ${DP}u + c;
        acc += f32(QS[qa]) * f32(H16[kh0 + ka])${t.splitQK ? ' + f32(QL[qa]) * f32(H16[kh0 + ka]) + f32(QS[qa]) * f32(H16[nK + kh0 + ka])' : ''};
      }
      SS[sb + e] = acc;
    }\n`;
  }
  // O += P·V: [RW, DVP] += PS [RW, TK] · V [TK, DVP].
  let pv = '';
  if (mat) {
    for (const c of range(TK / 16)) {
      for (const mb of range(MB)) {
        const pAt = (arr: string): string => `subgroupMatrixLoad<${left}>(&${arr}, pb + ${c * 16 * RW + mb * 16}u, true, ${RW}u)`;
        pv += `    {\n      let ph = ${pAt('PS')};\n`;
        if (t.splitP) pv += `      let pl = ${pAt('PL')};\n`;
        for (const nb of range(NN)) {
          pv += `      o${mb}_${nb} = subgroupMatrixMultiplyAccumulate(ph, v${c}_${nb}, o${mb}_${nb});\n`;
          if (t.splitP) pv += `      o${mb}_${nb} = subgroupMatrixMultiplyAccumulate(pl, v${c}_${nb}, o${mb}_${nb});\n`;
          if (t.splitV) pv += `      o${mb}_${nb} = subgroupMatrixMultiplyAccumulate(ph, vl${c}_${nb}, o${mb}_${nb});\n`;
        }
        pv += '    }\n';
      }
    }
    pv = t.prefetch ? pv + vMats(false, 'nkt').replace(/^/gm, '  ') : vMats(true, 'kt').replace(/^/gm, '  ') + pv;
  } else {
    pv = `    let vh0 = vBase + (bh * Kpad + k0) * ${DVP}u;
    for (var e = ln; e < ${RW * DVP}u; e += 32u) {
      let cc = e / ${RW}u;
      let rr = e % ${RW}u;
      var acc = 0.0;
      for (var j = 0u; j < ${TK}u; j++) {
        let pa = pb + j * ${RW}u + rr;
        let va = j * ${DVP}u + cc;
        acc += f32(PS[pa]) * f32(H16[vh0 + va])${t.splitP ? ' + f32(PL[pa]) * f32(H16[vh0 + va])' : ''}${t.splitV ? ' + f32(PS[pa]) * f32(H16[nV + vh0 + va])' : ''};
      }
      OS[sb + e] += acc;
    }\n`;
  }
  const NU = TK / LPR;
  const NO = DVP / LPR;
  const partner = (x: string): string => (mat ? `subgroupShuffleXor(${x}, 16u)` : 'XM[lid ^ 16u]');
  // Scores with bias for the lane's keys j = half + LPR·u, in registers s{u}. Invalid keys add
  // KV[j] = NEG (no valid score comes near it); rows with an invalid query are zeroed at the end.
  const scoreBody = (tied: boolean, partial: boolean): string => {
    let s = '';
    for (const u of range(NU)) {
      s += `      {\n        let j = half + ${LPR * u}u;\n`;
      s += pairBias(L, tied, (g, c) => `qc0_${g}_${c}`, (g, c) => `KC${g}[j * ${L.groups[g]!.M4}u + ${c}u]`, (g) => `x${g}`)
        .replace(/^/gm, '        ');
      s += `        s0_${u} = SS[sb + j * ${RW}u + r] + beta${partial ? ' + KV[j]' : ''};\n      }\n`;
    }
    return s;
  };
  let regs = '';
  for (const u of range(NU)) regs += `    var s0_${u}: f32;\n`;
  const tmax = range(NU).map((u) => `s0_${u}`).reduce((a, b) => `max(${a}, ${b})`);
  let probs = '';
  for (const u of range(NU)) {
    const at = `pb + (half + ${LPR * u}u) * ${RW}u + r`;
    probs += t.splitP
      ? `    { let p = exp2(s0_${u} - m0); l0 += p; let ph = hi16(p); PS[${at}] = f16(ph); PL[${at}] = f16(p - ph); }\n`
      : `    { let ph = f16(exp2(s0_${u} - m0)); l0 += f32(ph); PS[${at}] = ph; }\n`;
  }
  let oScale = '';
  for (const u of range(NO)) oScale += `      ${OA}[sb + (half + ${LPR * u}u) * ${RW}u + r] *= corr0;\n`;
  const qcs = queryRowsWgsl(L, 0, 1, () => `qt * ${TQ}u + w * ${RW}u + r`);
  // The tile maximum (with the partner lane when two lanes share a row), whether the row's reference
  // maximum is set for the first time, and whether it must move (a rescale).
  let rowMax = `    var mt0 = ${tmax};\n`;
  if (LPR !== 1) rowMax += `${mat ? '' : '    XM[lid] = mt0;\n    workgroupBarrier();\n'}    mt0 = max(mt0, ${partner('mt0')});\n`;
  rowMax += `    let first0 = m0 <= HALF_NEG;
    let need0 = !first0 && mt0 > m0 + ${TAU.toFixed(1)};
    if (first0) { m0 = max(mt0, HALF_NEG); }
    if (need0) { FLAG[0] = 1u; }\n`;
  const rescale = `      let corr0 = select(1.0, exp2(m0 - mt0), need0);
      if (need0) { m0 = mt0; }
      l0 = l0 * corr0;\n`;
  const rowInit = '  var m0 = NEG;\n  var l0 = 0.0;\n';
  const rowSum = LPR === 1 ? '  let lt0 = select(0.0, l0, qok0);\n'
    : `${mat ? '' : '  XM[lid] = l0;\n  workgroupBarrier();\n'}  let lt0 = select(0.0, l0 + ${partner('l0')}, qok0);\n`;
  let qmats = '';
  let oDecl = '';
  if (mat) {
    for (const mb of range(MB)) {
      for (const c of range(NC)) {
        const at = `qb + ${mb * 16 * DP + c * 16}u`;
        qmats += `  let qh${mb}_${c} = subgroupMatrixLoad<${left}>(&QS, ${at}, false, ${DP}u);\n`;
        if (t.splitQK) qmats += `  let qlo${mb}_${c} = subgroupMatrixLoad<${left}>(&QL, ${at}, false, ${DP}u);\n`;
      }
      for (const nb of range(NN)) oDecl += `  var o${mb}_${nb} = ${result}();\n`;
    }
    if (t.prefetch) oDecl += kMats(true, '0u') + vMats(true, '0u');
  }
  let write = '  if (in0) {\n    let row = bh * Qn + i0;\n    let inv = select(0.0, 1.0 / lt0, lt0 > 0.0);\n';
  write += '    if (half == 0u) { L[row] = select(negInf(0u), m0 * LN2 + log(lt0), lt0 > 0.0); }\n';
  for (const u of range(NO)) {
    const c = `half + ${LPR * u}u`;
    write += `    if (${c} < ${desc.dv}u) { O[mapQ(row) * ${desc.dv}u + ${c}] = ${OA}[sb + (${c}) * ${RW}u + r] * inv; }\n`;
  }
  write += '  }\n';
  // The warp index lid / 32 is uniform within a subgroup (a warp is one subgroup: subgroup size 32),
  // which the uniformity analysis (workgroup scope in this Dawn) cannot see: its subgroup-scope check
  // is switched off for the matrix builtins' offsets. With one warp the index is the constant 0.
  const enables = mat
    ? 'enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, subgroup_uniformity);\n'
    : 'enable f16;\n';
  return `${enables}${paramsWgsl(next + 3, PARAM_WORDS)}${MATH_WGSL}${BSA_MATH_WGSL}${decl}
@group(0) @binding(${next}) var<storage, read> H16: array<f16>;
${streamDecl(next + 1, 'O', false, true)}@group(0) @binding(${next + 2}) var<storage, read_write> L: array<f32>;
${HI16_WGSL}const HALF_NEG: f32 = -5e29;
const LOG2E: f32 = 1.4426950408889634;
const LN2: f32 = 0.6931471805599453;
var<workgroup> QS: array<f16, ${TQ * DP}>;
${t.splitQK ? `var<workgroup> QL: array<f16, ${TQ * DP}>;\n` : ''}${t.splitP ? `var<workgroup> PL: array<f16, ${TQ * TK}>;\n` : ''}var<workgroup> SS: array<f32, ${TQ * TKO}>;
var<workgroup> PS: array<f16, ${TQ * TK}>;
// Every workgroup array is a multiple of 16 bytes: the driver may lay them out in any order, and
// the matrix loads and stores need 16-byte aligned bases (a 4-byte FLAG misaligned SS and PS).
var<workgroup> FLAG: array<u32, 4>;
${mat ? '' : `var<workgroup> OS: array<f32, ${TQ * TKO}>;\nvar<workgroup> XM: array<f32, ${T}>;\n`}${stageDecl}${biasWgsl(L, false, true)}
@compute @workgroup_size(${T})
fn main(${GRID_BUILTINS}) {
  ${PARAM_HEAD}
  let wg = ${FLAT_WG};
  if (wg >= Bn * Hn * nQT) { return; }
  let qt = wg % nQT;
  let bh = wg / nQT;
  let h = bh % Hn;
  let b = bh / Hn;
  let w = ${NW === 1 ? '0u' : 'lid / 32u'};
  let ln = lid % 32u;
  let r = ln % ${RW}u;
  let half = ln / ${RW}u;
  let qb = w * ${RW * DP}u;
  let sb = w * ${RW * TKO}u;
  let pb = w * ${RW * TK}u;
  biasSetup(h);
  setRowMaps(b, h);
  // H16 = [K hi | K lo | V hi | V lo] (lo halves when split), each [B, H, Kpad, DP or DVP].
${h16Regions(t, DP, DVP)}${qcs}  ${qStage}
${mat ? '' : `  for (var e = ln; e < ${RW * TKO}u; e += 32u) { OS[sb + e] = 0.0; }\n`}  if (lid == 0u) { FLAG[0] = 0u; FLAG[1] = 0u; FLAG[2] = 0u; }
${keyRegs}  {
    let nk0 = 0u;
${keyLoad}  }
  workgroupBarrier();
${qmats}${oDecl}  // m: the row's reference maximum. P = exp2(S − m) may exceed 1 by up to 2^TAU: the
  // accumulated O and l are rescaled only when a tile's maximum passes m + TAU (rare), so O stays
  // in the matrix accumulators. Any m gives the same normalised result.
${rowInit}  for (var kt = 0u; kt < nKT; kt++) {
    let k0 = kt * ${TK}u;
    let nkt = min(kt + 1u, nKT - 1u);
    workgroupBarrier();
${keyWrite}    {
      let nk0 = nkt * ${TK}u;
${keyLoad.replace(/^/gm, '  ')}    }
    workgroupBarrier();
${scores}    workgroupBarrier();
${regs}    // A tile whose keys are all valid (all but the last, without a mask) skips the KV term. The
    // flag slot alternates by tile; the next tile's slot was last read before this tile's barriers.
    let partial = workgroupUniformLoad(&FLAG[1u + (kt & 1u)]) != 0u;
    if (lid == 0u) { FLAG[1u + ((kt + 1u) & 1u)] = 0u; }
    if (tied) {
      if (partial) {
${scoreBody(true, true).replace(/^/gm, '  ')}      } else {
${scoreBody(true, false).replace(/^/gm, '  ')}      }
    } else {
      if (partial) {
${scoreBody(false, true).replace(/^/gm, '  ')}      } else {
${scoreBody(false, false).replace(/^/gm, '  ')}      }
    }
    // Until a row has seen a valid key, m = HALF_NEG: excluded keys (s ≈ NEG) then give exp2(s − m) = 0
    // with no per-score test.
${rowMax}    if (workgroupUniformLoad(&FLAG[0]) != 0u) {
${rescale}${mat ? oStore.replace(/^/gm, '  ') + '      workgroupBarrier();\n' : ''}${oScale}      workgroupBarrier();
${mat ? oLoad.replace(/^/gm, '  ') : ''}    }
${probs}    workgroupBarrier();
    if (lid == 0u) { FLAG[0] = 0u; }
${pv}  }
  workgroupBarrier();
${mat ? `${oStore}  workgroupBarrier();\n` : ''}${rowSum}${write}}
`;
}

/**
 * Pre-pass: K and V [B,H,K,d|dv] f32 → one f16 buffer [K hi | K lo | V hi | V lo] (lo halves only
 * where that product is split), each [B, H, Kpad, DP|DVP], zero-padded to whole key tiles and to 16
 * columns, so that the main kernel's matrix loads read global memory directly, never out of bounds.
 */
function splitWgsl(desc: BsaDesc, t: F16Tiles, DP: number, DVP: number): string {
  const conv = (src: string, width: number, dst: string, wp: number, split: boolean) => `{
    let n4 = Bn * Hn * Kpad * ${wp / 4}u;
    if (e < n4) {
      let row = e / ${wp / 4}u;
      let c4 = e % ${wp / 4}u;
      let key = row % Kpad;
      let bh = row / Kpad;
      var x = vec4<f32>(0.0);
      if (key < Kn) {
        // Memory row of (bh, key): bh·Kn + key ('bhnd') or (b·Kn + key)·Hn + h ('bnhd').
        let mrow = ${desc.layout === 'bnhd' ? bnhdRow('bh', 'key', 'Hn', 'Kn') : 'bh * Kn + key'};
        for (var i = 0u; i < 4u; i++) {
          let c = c4 * 4u + i;
          if (c < ${width}u) { x[i] = ${src}[mrow * ${width}u + c]; }
        }
      }
      let o = ${dst} + e * 4u;
      let hi = vec4<f32>(hi16(x.x), hi16(x.y), hi16(x.z), hi16(x.w));
      H16[o] = f16(hi.x); H16[o + 1u] = f16(hi.y); H16[o + 2u] = f16(hi.z); H16[o + 3u] = f16(hi.w);${split ? `
      let y = x - hi;
      let p = o + n4 * 4u;
      H16[p] = f16(y.x); H16[p + 1u] = f16(y.y); H16[p + 2u] = f16(y.z); H16[p + 3u] = f16(y.w);` : ''}
    }
  }`;
  return `enable f16;
${paramsWgsl(3, 4)}
@group(0) @binding(0) var<storage, read> Ksrc: array<f32>;
@group(0) @binding(1) var<storage, read> Vsrc: array<f32>;
@group(0) @binding(2) var<storage, read_write> H16: array<f16>;
${HI16_WGSL}
@compute @workgroup_size(256)
fn main(${GRID_BUILTINS}) {
  let Bn = pu(0u); let Hn = pu(1u); let Kn = pu(2u); let Kpad = pu(3u);
  let e = ${FLAT_WG} * 256u + lid;
  ${conv('Ksrc', desc.d, '0u', DP, t.splitQK)}
  ${conv('Vsrc', desc.dv, `Bn * Hn * Kpad * ${DP * (t.splitQK ? 2 : 1)}u`, DVP, t.splitV)}
}
`;
}

/** Records the f16 forward; returns O [B,H,Q,dv] and L [B,H,Q] storages (caller owns). */
export function bsaForwardGpuF16(be: WebGPUBackend, desc: BsaDesc, x: BsaGpuInputs, scale: number,
  dialect: F16Dialect = f16Dialect(be)): { o: Storage; lse: Storage } {
  const L = bsaLayout(desc);
  const limit = be.limits.maxComputeWorkgroupStorageSize;
  const t = f16Tiles(desc, limit, dialect);
  if (dialect === 'matrix' && t.NW !== 1) {
    throw new Error(`bsa webgpu f16: expected tileQ 16 or 32 (one warp) on the tensor-core path, got ${t.NW * t.RW}`);
  }
  const TQ = t.NW * t.RW;
  const bytes = f16StageBytes(desc, t, dialect);
  if (bytes > limit) {
    throw new Error(`bsa webgpu f16: expected tiles within ${limit} bytes of workgroup memory, got ${bytes} ` +
      `(tileQ ${TQ}, tileK ${t.TK}, d ${desc.d}); use smaller tiles`);
  }
  const DP = pad16(desc.d), DVP = pad16(desc.dv);
  const nQT = Math.ceil(desc.Q / TQ);
  const nKT = Math.ceil(desc.K / t.TK);
  const Kpad = nKT * t.TK;
  const rows = desc.B * desc.H * Kpad;
  const h16 = be.alloc(Math.ceil((rows * (DP * (t.splitQK ? 2 : 1) + DVP * (t.splitV ? 2 : 1))) / 2));
  const units = rows * Math.max(DP, DVP) / 4;
  const modes = `${t.splitQK ? 's' : 'f'}${t.splitP ? 's' : 'f'}${t.splitV ? 's' : 'f'}${t.prefetch ? '' : 'n'}`;
  be.dispatch(`bsaSplit16_${modes}_${desc.d}_${desc.dv}${desc.layout === 'bnhd' ? 'n' : ''}`, () => splitWgsl(desc, t, DP, DVP),
    [x.k, x.v, h16], ['read', 'read', 'read_write'],
    new Params().u32(desc.B).u32(desc.H).u32(desc.K).u32(Kpad).buffer(), grid(Math.ceil(units / 256)));
  const o = be.alloc(desc.B * desc.H * desc.Q * desc.dv);
  const lse = be.alloc(desc.B * desc.H * desc.Q);
  const bindings = [...inputBindings(x), h16, o, lse];
  const access = bindings.map((_, i) => (i < bindings.length - 2 ? 'read' : 'read_write') as 'read' | 'read_write');
  const key = `bsaFwd16_${dialect}_${structureKey(desc)}_W${t.NW}R${t.RW}K${t.TK}${modes}`;
  be.dispatch(key, () => f16ForwardWgsl(desc, L, t, dialect), bindings, access, bsaParams(desc, nQT, nKT, scale, t.TK),
    grid(desc.B * desc.H * nQT));
  be.free(h16);
  return { o, lse };
}
