/**
 * WGSL building blocks shared by the fused BSA kernels (forward.ts, backward.ts): coordinate
 * loading and sanitising, per-pair distances, the bias families with in-kernel basis merging, the
 * bias-parameter gradient accumulators, and vec4 loaders for the q/k/v streams.
 *
 * Semantics: shared/spec/bsa.md §1, §3, §5.2 and model.md §5 (safe-δ rule). Validity of a pair is
 * decided from the coordinates, never from δ: δ^g_ij is non-finite exactly when a coordinate of
 * query i or key j in group g is non-finite, so a key is valid when its mask is 1 and all its
 * coordinates are finite, a query when all its coordinates are finite, and a pair when both are.
 * Non-finite coordinates are replaced by 0 before any arithmetic (the safe δ), so no NaN or ∞ can
 * reach the sums.
 *
 * Basis merging (exact algebra, bsa.md §3 / model.md §5.2 "Observation"): within one head, basis
 * functions with identical (b, c) are one function with amplitude Σa. Each workgroup serves one
 * head and checks at start (F² compares on parameters it reads anyway) whether all F basis
 * functions of each group are tied; if so, the hot loop runs a specialised body with one exp per
 * group and pair instead of F (true at initialisation and for trained BSA-TNP models), otherwise
 * the general body. The branch is uniform, taken once per key tile. No host readback is involved.
 */
import type { BsaDesc, BsaGroup } from '../desc.js';
import { familyParams } from '../desc.js';

/** Where a group's data lives: packed parameter offsets and gradient slots. */
export interface GroupLayout {
  readonly g: BsaGroup;
  readonly index: number;
  /** vec4 chunks per point (great-circle: one chunk holding sinλ, cosλ, sinφ, cosφ). */
  readonly M4: number;
  /** Basis count (1 for scalar). */
  readonly F: number;
  /** Offsets of a, b, c (−1 when absent) in the packed parameter buffer. */
  readonly off: readonly [number, number, number];
  /** First gradient slot (slots: param p, basis k → slot + p·F + k). */
  readonly slot: number;
  readonly nParams: number;
  /** Σ M of the groups before this one: its coordinates start at mOff·B·N in the concatenation. */
  readonly mOff: number;
}

export interface BsaLayout {
  readonly groups: readonly GroupLayout[];
  /** Length of the packed parameter buffer. */
  readonly prmLength: number;
  /** Gradient slots per head (Σ_g F_g · #params_g). */
  readonly NS: number;
  readonly D4: number;
  readonly DV4: number;
  /** q/k rows are whole vec4s in memory (d % 4 = 0) — then they are bound as array<vec4<f32>>. */
  readonly vecD: boolean;
  readonly vecDV: boolean;
}

export function bsaLayout(desc: BsaDesc): BsaLayout {
  let off = 0;
  let slot = 0;
  let mOff = 0;
  const groups = desc.groups.map((g, index) => {
    const F = g.family === 'scalar' ? 1 : g.F;
    const ps = familyParams(g.family);
    const o: [number, number, number] = [-1, -1, -1];
    ps.forEach((_, p) => { o[p] = off; off += desc.H * F; });
    const gl: GroupLayout = { g, index, M4: g.distance === 'greatCircle' ? 1 : Math.ceil(g.M / 4), F, off: o,
      slot, nParams: ps.length, mOff };
    slot += F * ps.length;
    mOff += g.M;
    return gl;
  });
  return { groups, prmLength: Math.max(off, 1), NS: slot, D4: Math.ceil(desc.d / 4), DV4: Math.ceil(desc.dv / 4),
    vecD: desc.d % 4 === 0, vecDV: desc.dv % 4 === 0 };
}

/** A stable cache key for everything the generated code depends on besides tile sizes. */
export function structureKey(desc: BsaDesc): string {
  const gs = desc.groups.map((g) => `${g.family}${g.F}${g.distance === 'greatCircle' ? 'g' : 'e'}${g.M}`).join('+');
  return `H${desc.H}d${desc.d}v${desc.dv}${desc.hasMask ? 'm' : ''}${desc.layout === 'bnhd' ? 'n' : ''}[${gs}]`;
}

/**
 * `fn mapQ(row) -> u32` and `fn mapK(row) -> u32`: the memory row of logical row bh·N + i of the
 * query (N = Qn, uniform word 2) or key (N = Kn, word 3) streams: itself for 'bhnd', (b·N + i)·H + h
 * for 'bnhd' (H = uniform word 1). Every kernel indexes q, k, v, O and their gradients through them,
 * only for its own workgroup's (b, h), set once by `setRowMaps(b, h)`: then the map is one
 * multiply-add, row·H + off with off = (b·N·H + h) − bh·N·H in wrapping u32 arithmetic (integer
 * division per load made the kernels 8–13 % slower on the H200).
 */
export function rowMapsWgsl(desc: BsaDesc): string {
  if (desc.layout !== 'bnhd') {
    return 'fn setRowMaps(b: u32, h: u32) {}\nfn mapQ(row: u32) -> u32 { return row; }\nfn mapK(row: u32) -> u32 { return row; }\n';
  }
  return `var<private> qOff: u32;
var<private> kOff: u32;
fn setRowMaps(b: u32, h: u32) {
  let H = pu(1u);
  let bh = b * H + h;
  qOff = (b * pu(2u) * H + h) - bh * pu(2u) * H;
  kOff = (b * pu(3u) * H + h) - bh * pu(3u) * H;
}
fn mapQ(row: u32) -> u32 { return row * pu(1u) + qOff; }
fn mapK(row: u32) -> u32 { return row * pu(1u) + kOff; }
`;
}

/**
 * WGSL expression of the 'bnhd' memory row ((b·N + i)·H + h) of logical row bh·N + i, given bh = b·H + h
 * and i as expressions, for kernels whose rows span heads (Δ, the f16 pre-pass); a kernel serving one
 * (b, h) per workgroup uses `rowMapsWgsl` instead (no division per row).
 */
export function bnhdRow(bh: string, i: string, H: string, N: string): string {
  return `((${bh}) - (${bh}) % ${H}) * ${N} + (${i}) * ${H} + (${bh}) % ${H}`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Constants and math used by every BSA kernel (needs MATH_WGSL for sincos_ and isfinite_). */
export const BSA_MATH_WGSL = /* wgsl */ `
const NEG: f32 = -1e30;
const DEG: f32 = 57.29577951308232;
const RAD: f32 = 0.017453292519943295;
// −∞ at run time (a const expression that is not finite is a shader-creation error).
fn negInf(z: u32) -> f32 { return bitcast<f32>(0xff800000u | z); }
fn finite4(x: vec4<f32>) -> bool {
  return isfinite_(x.x) && isfinite_(x.y) && isfinite_(x.z) && isfinite_(x.w);
}
// atan2 for y ≥ 0 with ~1e-7 relative error (the WGSL builtin only promises 4096 ulp).
fn atan2p(y: f32, x: f32) -> f32 {
  let ax = abs(x);
  let mx = max(y, ax);
  let mn = min(y, ax);
  let t = select(mn / mx, 0.0, mx == 0.0);
  let big = t > 0.2679491924311227;
  let u = select(t, (t * 1.7320508075688772 - 1.0) / (t + 1.7320508075688772), big);
  let s = u * u;
  var r = u * (1.0 + s * (-0.33333333333 + s * (0.2 + s * (-0.14285714286 + s * (0.11111111111
    + s * (-0.090909090909 + s * 0.076923076923))))));
  r = select(r, r + 0.5235987755982988, big);
  r = select(r, 1.5707963267948966 - r, y > ax);
  return select(r, 3.141592653589793 - r, x < 0.0);
}
// Great-circle distance in degrees between points given as (sinλ, cosλ, sinφ, cosφ); i = query.
fn gcDist(a: vec4<f32>, b: vec4<f32>) -> f32 {
  let cdl = a.y * b.y + a.x * b.x;
  let sdl = a.x * b.y - a.y * b.x;
  let x = b.w * sdl;
  let y = a.w * b.z - a.z * b.w * cdl;
  let z = a.z * b.z + a.w * b.w * cdl;
  return atan2p(sqrt(x * x + y * y), z) * DEG;
}
fn gcPrep(c: vec4<f32>) -> vec4<f32> {
  let l = sincos_(c.x * RAD);
  let p = sincos_(c.y * RAD);
  return vec4<f32>(l.x, l.y, p.x, p.y);
}
`;

/**
 * Loader `fn NAME(row: u32, c4: u32) -> vec4<f32>` for a [rows, width] f32 stream bound as `buf`
 * (array<vec4<f32>> when `vec`, else array<f32> with zero padding past `width`).
 */
export function loaderWgsl(name: string, buf: string, width: number, vec: boolean, map = ''): string {
  const row = map ? `${map}(row)` : 'row';
  if (vec) return `fn ${name}(row: u32, c4: u32) -> vec4<f32> { return ${buf}[${row} * ${width / 4}u + c4]; }\n`;
  return `fn ${name}(row: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  let mr = ${row};
  for (var e = 0u; e < 4u; e++) {
    let c = c4 * 4u + e;
    if (c < ${width}u) { r[e] = ${buf}[mr * ${width}u + c]; }
  }
  return r;
}\n`;
}

export function streamDecl(binding: number, name: string, vec: boolean, rw = false): string {
  return `@group(0) @binding(${binding}) var<storage, ${rw ? 'read_write' : 'read'}> ${name}: array<${vec ? 'vec4<f32>' : 'f32'}>;\n`;
}

/**
 * Per group: the raw coordinate chunk loaders `CQ{g}at(point, c)` / `CK{g}at(point, c)` from the
 * bindings CQ / CK (all groups' [B·N, M_g] arrays concatenated, B·N from the uniforms), the preparation (great-circle → trig) and the pair
 * quantity `x{g}(q chunks…, k chunks…)`: δ² for RBF on Euclidean distance, δ otherwise.
 */
export function groupWgsl(gl: GroupLayout): string {
  const { g, index: i, M4 } = gl;
  const M = g.M;
  const load = (buf: string): string => `fn ${buf}${i}at(p: u32, c: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  let base = ${gl.mOff}u * pu(0u) * pu(${buf === 'CQ' ? 2 : 3}u);
  for (var e = 0u; e < 4u; e++) {
    let m = c * 4u + e;
    if (m < ${M}u) { r[e] = ${buf}[base + p * ${M}u + m]; }
  }
  return r;
}\n`;
  const prep = g.distance === 'greatCircle' ? 'gcPrep(r)' : 'r';
  const qa = range(M4).map((c) => `q${c}: vec4<f32>`).join(', ');
  const ka = range(M4).map((c) => `k${c}: vec4<f32>`).join(', ');
  let body: string;
  if (g.distance === 'greatCircle') {
    body = g.family === 'rbf' ? 'let s = gcDist(q0, k0); return s * s;' : 'return gcDist(q0, k0);';
  } else {
    // Only the chunk's real components: the padding is zero, but the compiler cannot know it.
    const sum = range(M4).map((c) => {
      const w = Math.min(4, M - 4 * c);
      if (w === 1) return `(q${c}.x - k${c}.x) * (q${c}.x - k${c}.x)`;
      const sw = w === 4 ? '' : `.${'xyz'.slice(0, w)}`;
      return `dot(q${c}${sw} - k${c}${sw}, q${c}${sw} - k${c}${sw})`;
    }).join(' + ');
    body = g.family === 'rbf' ? `return ${sum};` : `return sqrt(${sum});`;
  }
  return `${load('CQ')}${load('CK')}fn prep${i}(r: vec4<f32>) -> vec4<f32> { return ${prep}; }
fn x${i}(${qa}, ${ka}) -> f32 { ${body} }
`;
}

/**
 * Bias parameters of the workgroup's head as private values, the tied test, and the bias
 * functions: `betaT{g}(x)` (tied: one exp) and `betaF{g}(x)` (general), both also storing the
 * basis values E in private temps for the gradient functions `gradT{g}(x, ds)` / `gradF{g}(x, ds)`
 * when `grads` is set. Parameters come from the packed buffer `PRM`. `log2` (forward only): the
 * bias in base-2 units, log2 e·β, with exp2 (the amplitudes and rates are pre-scaled by log2 e).
 */
export function biasWgsl(layout: BsaLayout, grads: boolean, log2 = false): string {
  if (log2 && grads) throw new Error('biasWgsl: expected log2 only without gradients');
  const ex = log2 ? 'exp2' : 'exp';
  let decl = 'var<private> tied: bool;\n';
  let setup = 'fn biasSetup(h: u32) {\n  var t = true;\n';
  let fns = '';
  for (const gl of layout.groups) {
    const { g, index: i, F, off } = gl;
    decl += `var<private> gA${i}: array<f32, ${F}>;\nvar<private> gB${i}: array<f32, ${F}>;\nvar<private> gC${i}: array<f32, ${F}>;\n`;
    decl += `var<private> gS${i}: f32;\n`;
    if (grads) {
      decl += `var<private> gE${i}: array<f32, ${F}>;\nvar<private> sE${i}: array<f32, ${F}>;\nvar<private> sG${i}: array<f32, ${F}>;\nvar<private> sU${i}: array<f32, ${F}>;\n`;
    }
    for (const k of range(F)) {
      setup += `  gA${i}[${k}] = PRM[${off[0]}u + h * ${F}u + ${k}u];\n`;
      if (off[1] >= 0) setup += `  gB${i}[${k}] = PRM[${off[1]}u + h * ${F}u + ${k}u];\n`;
      if (off[2] >= 0) setup += `  gC${i}[${k}] = PRM[${off[2]}u + h * ${F}u + ${k}u];\n`;
    }
    setup += `  gS${i} = ${range(F).map((k) => `gA${i}[${k}]`).join(' + ')};\n`;
    for (const k of range(F).slice(1)) setup += `  t = t && gB${i}[${k}] == gB${i}[0] && gC${i}[${k}] == gC${i}[0];\n`;
    if (log2) {
      for (const k of range(F)) setup += `  gA${i}[${k}] *= 1.4426950408889634;\n  gB${i}[${k}] *= 1.4426950408889634;\n`;
      setup += `  gS${i} *= 1.4426950408889634;\n`;
    }
    // E_k and the quantity multiplying E in ∂/∂b (G) and ∂/∂c (U) per family.
    const term = (k: number): { E: string; G: string; U: string } => {
      switch (g.family) {
        case 'rbf': return { E: `${ex}(-gB${i}[${k}] * x)`, G: 'x', U: '0.0' };
        case 'tisa': return { E: `${ex}(-gB${i}[${k}] * (x - gC${i}[${k}]) * (x - gC${i}[${k}]))`,
          G: `(x - gC${i}[${k}]) * (x - gC${i}[${k}])`, U: `(x - gC${i}[${k}])` };
        case 'exp': return { E: `${ex}(-gB${i}[${k}] * x)`, G: 'x', U: '0.0' };
        case 'scalar': return { E: 'x', G: '0.0', U: '0.0' };
      }
    };
    if (g.family === 'scalar') {
      fns += `fn betaT${i}(x: f32) -> f32 { return gA${i}[0] * x; }\nfn betaF${i}(x: f32) -> f32 { return gA${i}[0] * x; }\n`;
      if (grads) {
        fns += `fn gradT${i}(x: f32, ds: f32) { sE${i}[0] += select(0.0, ds * x, ds != 0.0); }\nfn gradF${i}(x: f32, ds: f32) { gradT${i}(x, ds); }\n`;
      }
      continue;
    }
    const t0 = term(0);
    const keep = (k: number): string => (grads ? `gE${i}[${k}] = e; ` : '');
    fns += `fn betaT${i}(x: f32) -> f32 { let e = ${t0.E}; ${keep(0)}return gS${i} * e; }\n`;
    fns += `fn betaF${i}(x: f32) -> f32 {\n  var s = 0.0;\n`;
    for (const k of range(F)) fns += `  { let e = ${term(k).E}; ${keep(k)}s += gA${i}[${k}] * e; }\n`;
    fns += '  return s;\n}\n';
    if (grads) {
      const acc = (k: number): string => {
        const tk = term(k);
        let s = `  { let w = select(0.0, ds * gE${i}[${k}], ds != 0.0); sE${i}[${k}] += w; sG${i}[${k}] += w * ${tk.G};`;
        if (g.family === 'tisa') s += ` sU${i}[${k}] += w * ${tk.U};`;
        return `${s} }\n`;
      };
      fns += `fn gradT${i}(x: f32, ds: f32) {\n${acc(0)}}\n`;
      fns += `fn gradF${i}(x: f32, ds: f32) {\n${range(F).map(acc).join('')}}\n`;
    }
  }
  setup += '  tied = t;\n}\n';
  return decl + setup + fns;
}

/**
 * Expression of gradient slot `s` (after the key loop), per thread: da_k = ΣdS·E, db_k = −a_k·ΣdS·G·E,
 * dc_k = 2·a_k·b_k·ΣdS·(δ−c)·E (bsa.md §5.2), reading slot 0 when the head is tied.
 */
export function slotExprs(layout: BsaLayout): string[] {
  const out: string[] = [];
  for (const gl of layout.groups) {
    const i = gl.index;
    for (let p = 0; p < gl.nParams; p++) {
      for (let k = 0; k < gl.F; k++) {
        const pick = (arr: string): string => (gl.g.family === 'scalar' ? `${arr}${i}[0]`
          : `select(${arr}${i}[${k}], ${arr}${i}[0], tied)`);
        if (p === 0) out.push(pick('sE'));
        else if (p === 1) out.push(`-gA${i}[${k}] * ${pick('sG')}`);
        else out.push(`2.0 * gA${i}[${k}] * gB${i}[${k}] * ${pick('sU')}`);
      }
    }
  }
  return out;
}

/** Bias of one pair: `β = Σ_g beta{T|F}{g}(x{g}(…))`, given chunk-name producers. */
export function pairBias(layout: BsaLayout, tiedBody: boolean, qChunk: (g: number, c: number) => string,
  kChunk: (g: number, c: number) => string, xName: (g: number) => string): string {
  let s = '';
  const terms: string[] = [];
  for (const gl of layout.groups) {
    const i = gl.index;
    const args = [...range(gl.M4).map((c) => qChunk(i, c)), ...range(gl.M4).map((c) => kChunk(i, c))].join(', ');
    s += `let ${xName(i)} = x${i}(${args});\n`;
    terms.push(`beta${tiedBody ? 'T' : 'F'}${i}(${xName(i)})`);
  }
  return `${s}let beta = ${terms.length ? terms.join(' + ') : '0.0'};\n`;
}

export { range };
