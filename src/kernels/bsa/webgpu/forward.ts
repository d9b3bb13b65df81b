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
 * update and rescale per row, then P·V. Nothing of size [Q,K] exists anywhere.
 */
import type { Storage } from '../../../engine/backend.js';
import type { WebGPUBackend } from '../../../engine/webgpu/backend.js';
import { GRID_BUILTINS, FLAT_WG, MATH_WGSL, Params, grid, paramsWgsl } from '../../../engine/webgpu/wgsl.js';
import type { BsaDesc } from '../desc.js';
import { knobFlag, knobInt } from './knobs.js';
import {
  BSA_MATH_WGSL, type BsaLayout, biasWgsl, bnhdRow, bsaLayout, groupWgsl, loaderWgsl, loopSplit, pairBias, range, rowMapsWgsl, streamDecl,
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
 * Default (GPU): 64 threads × 2 rows = 128 query rows (128 threads × 2 rows on large grids), 32
 * keys per tile, 8 keys per softmax step. At the training shapes (B = 8, H = 4, Q = 1536: 384
 * workgroups) 64-row tiles, twice the workgroups, took 1.55 ms per step against 1.10 ms on the H200
 * (2026-11-29-h200-session7.json); 64-key tiles and 4 or 16 keys per step were slower at Q = 262K
 * (session 8). `desc.tileQ` / `desc.tileK` override the tile sizes (tests use tiny ones).
 */
export function forwardTiles(desc: BsaDesc, software = false): FwdTiles {
  // Tuning knobs for benchmarks: BSA_TNP_FWD_TQ / BSA_TNP_FWD_TK (default tiles), BSA_TNP_FWD_SC
  // (keys per softmax step, on GPUs).
  // Large grids (inference) take 256 query rows per workgroup: each staged key tile then serves
  // twice the rows (2.17e11 against 2.12e11 scores/s at Q = 262K, K = 100K on the H200, session 8).
  // Small grids (training: 8·4·⌈1536/256⌉ = 192 workgroups) keep 128 rows, for parallelism.
  const big = !software && desc.B * desc.H * Math.ceil(desc.Q / 256) >= 1024;
  const TK = desc.tileK ?? knobInt('BSA_TNP_FWD_TK', 32, [8, 16, 32, 64]);
  const tq = desc.tileQ ?? knobInt('BSA_TNP_FWD_TQ', big ? 256 : 128, [64, 128, 256, 512]);
  const R = !software && tq % 2 === 0 && tq > 64 ? 2 : 1;
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

/** Workgroup-memory bytes of the key staging area. */
export function keyStageBytes(L: BsaLayout, TK: number): number {
  return TK * 16 * (L.D4 + L.DV4 + L.groups.reduce((s, g) => s + g.M4, 0)) + TK * 4;
}

/**
 * Key-tile staging (shared by the forward and the dQ pass): declarations and the code that fills
 * Ks, Vs (unless `withKV` is false), KC{g}, KV for tile `k0` (call between barriers; uses b, bh, Kn,
 * lid). KV[j] is the key's validity: 1 or 0, or with `additive` a term added to its scores, 0 or NEG;
 * with `sharedDot` (BsaDesc.sharedQ) that term is scale·q·k_j or NEG, from the registers qsh, and Ks
 * is not staged.
 */
export function keyStageWgsl(L: BsaLayout, T: number, TK: number, hasMask: boolean, withKV = true, additive = false,
  sharedDot = false): { decl: string; fill: string } {
  const withK = withKV && !sharedDot;
  let decl = withK ? `var<workgroup> Ks: array<vec4<f32>, ${TK * L.D4}>;\n` : '';
  decl += withKV ? `var<workgroup> Vs: array<vec4<f32>, ${TK * L.DV4}>;\n` : '';
  decl += `var<workgroup> KV: array<f32, ${TK}>;\n`;
  for (const g of L.groups) decl += `var<workgroup> KC${g.index}: array<vec4<f32>, ${TK * g.M4}>;\n`;
  let fill = !withK ? '' : `for (var e = lid; e < ${TK * L.D4}u; e += ${T}u) {
      let key = k0 + e / ${L.D4}u;
      Ks[e] = select(vec4<f32>(0.0), ldK(bh * Kn + min(key, Kn - 1u), e % ${L.D4}u), key < Kn);
    }
    `;
  fill += !withKV ? '' : `for (var e = lid; e < ${TK * L.DV4}u; e += ${T}u) {
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
  if (sharedDot) {
    // The shared query's score term of this key, scale·q·k_j (qsh is pre-scaled).
    const dot = range(L.D4).map((c) => `dot(qsh[${c}], ldK(krow, ${c}u))`).join(' + ');
    fill += `      let krow = bh * Kn + min(key, Kn - 1u);\n      KV[j] = select(NEG, ${dot}, ok);\n    }\n`;
  } else fill += `      KV[j] = ${additive ? 'select(NEG, 0.0, ok)' : 'select(0.0, 1.0, ok)'};\n    }\n`;
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

/**
 * The forward kernel. With `split` S > 1 the key tiles are cut into S runs, one workgroup per
 * (b, h, query tile, run), and each writes its rows' unnormalised o, running maximum m and sum l to
 * PART [S, B·H·Q, dv + 2] instead of O and L; `combineWgsl` then merges the runs (small grids only:
 * see loopSplit).
 */
export function forwardWgsl(desc: BsaDesc, L: BsaLayout, t: FwdTiles, software = false, split = 1): string {
  const { T, R, TK, SC } = t;
  const { decl, next } = inputDecls(desc, L);
  const shared = desc.sharedQ === true;
  const stage = keyStageWgsl(L, T, TK, desc.hasMask, true, shared, shared);
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
    if (split > 1) {
      // Run ks's partial state of the row: o (unnormalised), m, l.
      write += `  if (in${r}) {\n    let at = (ks * Bn * Hn * Qn + bh * Qn + i${r}) * ${desc.dv + 2}u;\n`;
      for (const c of range(L.DV4)) {
        for (const e of range(4)) if (c * 4 + e < desc.dv) write += `    PART[at + ${c * 4 + e}u] = o${r}[${c}][${e}];\n`;
      }
      write += `    PART[at + ${desc.dv}u] = m${r};\n    PART[at + ${desc.dv + 1}u] = l${r};\n  }\n`;
      continue;
    }
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
  // Workgroup w0 = ((b·H + h)·nQT + qt)·S + ks: query tile qt, key tiles of run ks (S = 1: w = w0).
  const head = split > 1 ? `  let w0 = ${FLAT_WG};
  if (w0 >= Bn * Hn * nQT * ${split}u) { return; }
  let ks = w0 % ${split}u;
  let w = w0 / ${split}u;
  let run = (nKT + ${split - 1}u) / ${split}u;\n` : `  let w = ${FLAT_WG};
  if (w >= Bn * Hn * nQT) { return; }\n`;
  const outs = split > 1 ? `@group(0) @binding(${next}) var<storage, read_write> PART: array<f32>;\n`
    : `${streamDecl(next, 'O', L.vecDV, true)}@group(0) @binding(${next + 1}) var<storage, read_write> L: array<f32>;\n`;
  return `${paramsWgsl(split > 1 ? next + 1 : next + 2, PARAM_WORDS)}${MATH_WGSL}${BSA_MATH_WGSL}${decl}
${outs}const HALF_NEG: f32 = -5e29;
${shared ? loaderWgsl('ldQ0', 'Qm', desc.d, L.vecD) : ''}${stage.decl}${biasWgsl(L, false)}
@compute @workgroup_size(${T})
fn main(${GRID_BUILTINS}) {
  ${PARAM_HEAD}
${head}  let qt = w % nQT;
  let bh = w / nQT;
  let h = bh % Hn;
  let b = bh / Hn;
  biasSetup(h);
  setRowMaps(b, h);
${rows}
  for (var kt = ${split > 1 ? 'ks * run; kt < min(nKT, ks * run + run)' : '0u; kt < nKT'}; kt++) {
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

/**
 * Merges the S runs' partial states PART [S, B·H·Q, dv + 2] (see forwardWgsl) into O and L, one
 * thread per row: m = max_s m_s, l = Σ_s l_s·e^(m_s − m), O = Σ_s o_s·e^(m_s − m) / l (0 with
 * L = −∞ when l = 0), in run order.
 */
export function combineWgsl(desc: BsaDesc, split: number): string {
  const dv = desc.dv;
  const orow = desc.layout === 'bnhd' ? bnhdRow('row / Qn', 'row % Qn', 'Hn', 'Qn') : 'row';
  return `${paramsWgsl(3, 3)}${MATH_WGSL}${BSA_MATH_WGSL}
@group(0) @binding(0) var<storage, read> PART: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<storage, read_write> L: array<f32>;
@compute @workgroup_size(64)
fn main(${GRID_BUILTINS}) {
  let n = pu(0u); let Hn = pu(1u); let Qn = pu(2u);
  let row = ${FLAT_WG} * 64u + lid;
  if (row >= n) { return; }
  var m = NEG;
  for (var s = 0u; s < ${split}u; s++) { m = max(m, PART[(s * n + row) * ${dv + 2}u + ${dv}u]); }
  var l = 0.0;
  var o: array<f32, ${dv}>;
  for (var s = 0u; s < ${split}u; s++) {
    let at = (s * n + row) * ${dv + 2}u;
    let c = exp(PART[at + ${dv}u] - m);
    l += PART[at + ${dv + 1}u] * c;
    for (var e = 0u; e < ${dv}u; e++) { o[e] += PART[at + e] * c; }
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  L[row] = select(negInf(0u), m + log(l), l > 0.0);
  let orow = ${orow};
  for (var e = 0u; e < ${dv}u; e++) { O[orow * ${dv}u + e] = o[e] * inv; }
}
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
  const rows = desc.B * desc.H * desc.Q;
  const o = be.alloc(rows * desc.dv);
  const lse = be.alloc(rows);
  const nQT = Math.ceil(desc.Q / TQ);
  const nKT = Math.ceil(desc.K / t.TK);
  // Small grids split the key loop into runs (loopSplit); BSA_TNP_FWD_SPLIT=0 (a benchmark knob) keeps one.
  const S = knobFlag('BSA_TNP_FWD_SPLIT', true) ? loopSplit(desc.B * desc.H * nQT, nKT) : 1;
  const part = S > 1 ? be.alloc(S * rows * (desc.dv + 2)) : null;
  const bindings = [...inputBindings(x), ...(part ? [part] : [o, lse])];
  const nOut = part ? 1 : 2;
  const access = bindings.map((_, i) => (i < bindings.length - nOut ? 'read' : 'read_write') as 'read' | 'read_write');
  const key = `bsaFwd_${structureKey(desc)}${desc.sharedQ ? 'shq' : ''}_T${t.T}R${t.R}K${t.TK}S${t.SC}${S > 1 ? `x${S}` : ''}${software ? 'sw' : ''}`;
  be.dispatch(key, () => forwardWgsl(desc, L, t, software, S), bindings, access, bsaParams(desc, nQT, nKT, scale, t.TK),
    grid(desc.B * desc.H * nQT * S));
  if (part) {
    be.dispatch(`bsaCombine_${desc.dv}x${S}${desc.layout === 'bnhd' ? 'n' : ''}`, () => combineWgsl(desc, S), [part, o, lse],
      ['read', 'read_write', 'read_write'], new Params().u32(rows).u32(desc.H).u32(desc.Q).buffer(), grid(Math.ceil(rows / 64)));
    be.free(part);
  }
  return { o, lse };
}
