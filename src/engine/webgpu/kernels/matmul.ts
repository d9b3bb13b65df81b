/**
 * Batched matmul C[b] = op(A[b]) · op(B[b]) (+ bias) (+ residual) in f32, or with a GELU epilogue
 * (`matmulGelu`: z = the product + bias, and C = gelu(z), both written).
 *
 * Kernels (`matmulPlan` picks one; the pipeline key starts with its name):
 * - `mm128a`, `mm64a`: a T×T output tile (T = 128 or 64) per 256-thread workgroup, vec4 global
 *   loads and stores, no bounds checks. Each K-step stages 1024/T rows of the reduction (8 or 16)
 *   through workgroup memory (k-major, vec4-readable), so every thread loads exactly one vec4 of A
 *   and one of B per step; the next step is prefetched into registers while the current one is
 *   multiplied. Thread (tx, ty) owns rows {4ty…4ty+3} and cols {4tx…4tx+3} of each 64×64 quarter
 *   (one quarter for T = 64: 4×4 outputs; four for T = 128: 8×8), so workgroup-memory reads are
 *   vec4 and conflict-free. Needs M, N ≡ 0 mod T, K ≡ 0 mod the K-step, batch strides ≡ 0 mod 4.
 *   `mm64a` exists for the embed-dim-64 shapes of training (M or N = 64): they took the checked
 *   kernel, ~54 µs per dispatch on average in an H200 profile of one training step against ~23 µs
 *   for `mm128a`'s shapes, and a 128 tile over 64 columns computes a padding half.
 * - `mm128`: the 128 tile with every load and store bounds-checked; any other shape with
 *   M, N ≥ 64 and K ≥ 8.
 * - `mm16`: one output per thread, 16×16 tiles; for small M or N.
 * Split-K (every kernel, see `splitCount`): a product with few output tiles and a long K runs as
 * several layers of workgroups, each over one run of K into its own partial product, then
 * `mmsum` adds the layers.
 * transA / transB change only the load code (A stored [k][m], B stored [n][k]).
 * Batches beyond 65535 and tile rows beyond 65535 are split over several dispatches.
 */

import type { MatmulArgs, Storage } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { FLAT_WG, GRID_BUILTINS, MATH_WGSL, Params, grid, paramsWgsl } from '../wgsl.js';

const MAXG = 65535;

export type MatmulKernel = 'mm16' | 'mm64a' | 'mm128' | 'mm128a';

/** How `matmul` runs a product (a pure function of the arguments; tests and benchmarks read it). */
export interface MatmulPlan {
  kernel: MatmulKernel;
  /** Output tile edge: 16, 64 or 128. */
  tile: number;
  /** Rows of K staged per step; split-K runs are whole steps (the vec4 kernels do not check K). */
  kStep: number;
  /** Split-K layers (1: no split) and the rows of K each layer multiplies. */
  layers: number;
  runK: number;
  /** Workgroups of the multiply over all batches and layers (the split-K sum's are extra). */
  workgroups: number;
}

export function matmulPlan(args: MatmulArgs, gelu = false): MatmulPlan {
  const { batch, m: M, k: K, n: N, strideA, strideB } = args;
  const kernel = pickKernel(M, K, N, strideA % 4 === 0 && strideB % 4 === 0);
  const tile = { mm16: 16, mm64a: 64, mm128: 128, mm128a: 128 }[kernel];
  const kStep = kernel === 'mm16' ? 16 : 1024 / tile;
  const tiles = batch * Math.ceil(M / tile) * Math.ceil(N / tile);
  const S = splitCount(tiles, K, gelu || (args.bias ?? null) !== null || (args.residual ?? null) !== null, batch);
  const runK = S > 1 ? Math.ceil(K / S / kStep) * kStep : Math.max(K, 1);
  const layers = S > 1 ? Math.ceil(K / runK) : 1;
  return { kernel, tile, kStep, layers, runK, workgroups: tiles * layers };
}

/**
 * The 128 tile when the shape is 128-aligned (more work per staged value), else the 64 tile when
 * it is 64-aligned (every shape of the training step is), else the checked 128 tile. A 64-wide K
 * step needs K ≡ 0 mod 16: K ≡ 8 mod 16 takes the checked kernel.
 */
function pickKernel(M: number, K: number, N: number, vecStrides: boolean): MatmulKernel {
  if (M < 64 || N < 64 || K < 8) return 'mm16';
  if (vecStrides && M % 128 === 0 && N % 128 === 0 && K % 8 === 0) return 'mm128a';
  if (vecStrides && M % 64 === 0 && N % 64 === 0 && K % 16 === 0) return 'mm64a';
  return 'mm128';
}

export function matmul(be: WebGPUBackend, a: Storage, b: Storage, args: MatmulArgs): Storage {
  return run(be, a, b, args, false).out;
}

/** z = op(A)·op(B) (+ bias) and y = gelu(z) from one kernel (no residual, never split over K). */
export function matmulGelu(be: WebGPUBackend, a: Storage, b: Storage, args: MatmulArgs): { z: Storage; y: Storage } {
  if ((args.residual ?? null) !== null) throw new Error('matmulGelu: expected no residual, got one');
  const r = run(be, a, b, args, true);
  return { z: r.z!, y: r.out };
}

function run(be: WebGPUBackend, a: Storage, b: Storage, args: MatmulArgs, gelu: boolean): { out: Storage; z: Storage | null } {
  const { batch, m: M, k: K, n: N, transA, transB, strideA, strideB } = args;
  const bias = args.bias ?? null;
  const residual = args.residual ?? null;
  if (bias && bias.length < N) throw new Error(`matmul: expected a bias of ${N} elements, got ${bias.length}`);
  for (const [name, v] of Object.entries({ batch, m: M, k: K, n: N, strideA, strideB })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: expected ${name} to be a non-negative integer, got ${v}`);
  }
  if (residual && residual.length < batch * M * N) {
    throw new Error(`matmul: expected a residual of ${batch * M * N} elements, got ${residual.length}`);
  }
  if (batch * M * N === 0) return { out: be.alloc(0), z: gelu ? be.alloc(0) : null };
  // K = 0: the kernels still run (zero K-steps) and write zeros.
  const ep: Epilogue = { bias: bias !== null, residual: residual !== null, gelu };
  const plan = matmulPlan(args, gelu);
  const { kernel, tile } = plan;
  const key = `${kernel}_${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${bias ? 'b' : ''}${residual ? 'r' : ''}${gelu ? 'g' : ''}`;
  const src = (): string => (kernel === 'mm16'
    ? mm16(transA, transB, ep)
    : mmTile(kernel === 'mm64a' ? 64 : 128, transA, transB, kernel !== 'mm128', ep));
  const tilesM = Math.ceil(M / tile);
  const tilesN = Math.ceil(N / tile);
  if (tilesN > MAXG) throw new Error(`matmul: n = ${N} needs more than 65535 column tiles; split B`);
  if (plan.layers > 1) {
    // Split-K: each layer multiplies one run of K into its own partial product (weight gradients
    // Xᵀ·dY over every token: one 128×128 tile walking K = 12,288 took ~1 ms, most of a step).
    const part = be.alloc(plan.layers * M * N);
    const p = new Params().u32(M).u32(N).u32(K).u32(strideA).u32(strideB).u32(0).u32(0).u32(plan.runK).u32(plan.layers).buffer();
    be.dispatch(key, src, [a, b, part], ['read', 'read', 'read_write'], p, [tilesN, tilesM, plan.layers]);
    const sum = splitSum(be, part, plan.layers, M * N);
    be.free(part);
    return { out: sum, z: null };
  }
  const out = be.alloc(batch * M * N);
  const z = gelu ? be.alloc(batch * M * N) : null;
  // Bindings in HEADER's order: A, B, C, then BIAS, RES, Z where present.
  const bindings = [a, b, out, ...(bias ? [bias] : []), ...(residual ? [residual] : []), ...(z ? [z] : [])];
  const access = bindings.map((x) => (x === out || x === z ? 'read_write' : 'read') as 'read' | 'read_write');
  for (let b0 = 0; b0 < batch; b0 += MAXG) {
    for (let t0 = 0; t0 < tilesM; t0 += MAXG) {
      const p = new Params().u32(M).u32(N).u32(K).u32(strideA).u32(strideB).u32(b0).u32(t0).u32(Math.max(K, 1)).u32(1).buffer();
      be.dispatch(key, src, bindings, access, p, [tilesN, Math.min(MAXG, tilesM - t0), Math.min(MAXG, batch - b0)]);
    }
  }
  return { out, z };
}

/**
 * C = op(A)·op(B) (batch 1, no bias) and the column sums of op(B) (Σ_k op(B)[k][n], a dense
 * layer's bias gradient when B is its output gradient). Split tile products compute the sums in the
 * same workgroups (those of the first row of tiles add up the B values they stage anyway) and the
 * split-K sum adds both partials in one dispatch: the separate column reduction this replaces was
 * ~70 dispatches per training step. Other plans: the product, then `be.reduce`.
 */
export function matmulColSums(be: WebGPUBackend, a: Storage, b: Storage, args: MatmulArgs): { c: Storage; sums: Storage } {
  const { m: M, k: K, n: N, transA, transB } = args;
  if (args.batch !== 1 || (args.bias ?? null) !== null || (args.residual ?? null) !== null) {
    throw new Error(`matmulColSums: expected batch 1 and no bias or residual, got batch ${args.batch}${args.bias ? ' with a bias' : ''}${args.residual ? ' with a residual' : ''}`);
  }
  const plan = matmulPlan(args);
  if (plan.kernel === 'mm16' || plan.layers === 1 || M * N === 0) {
    const c = matmul(be, a, b, args);
    // op(B) is [K, N]: stored [K][N] (reduce the rows) or, transposed, [N][K] (reduce each row).
    const sums = transB ? be.reduce('sum', b, N, K, 1) : be.reduce('sum', b, 1, K, N);
    return { c, sums };
  }
  const { kernel, tile } = plan;
  const key = `${kernel}_${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}s`;
  const src = (): string => mmTile(kernel === 'mm64a' ? 64 : 128, transA, transB, kernel !== 'mm128', NO_EPILOGUE, true);
  const part = be.alloc(plan.layers * M * N);
  const csp = be.alloc(plan.layers * N);
  const p = new Params().u32(M).u32(N).u32(K).u32(args.strideA).u32(args.strideB).u32(0).u32(0).u32(plan.runK).u32(plan.layers).buffer();
  be.dispatch(key, src, [a, b, part, csp], ['read', 'read', 'read_write', 'read_write'], p,
    [Math.ceil(N / tile), Math.ceil(M / tile), plan.layers]);
  const c = be.alloc(M * N);
  const sums = be.alloc(N);
  sumLayersInto(be, part, csp, plan.layers, M * N, N, c, sums);
  be.free(part);
  be.free(csp);
  return { c, sums };
}

/**
 * Workgroups a split product aims for: two per SM of a 132-SM H200, so each SM has a second
 * workgroup to run while one waits on memory (one layer of 2–4 tiles over K = 12,288 left most
 * SMs idle). It also bounds the partial products: at most ~FILL_WORKGROUPS tiles of floats.
 */
const FILL_WORKGROUPS = 264;
/**
 * Shortest run of K per layer. Each layer writes and the sum reads back its tile (8/run bytes per
 * multiply-add): at 64 rows that equals what the 64 tile reads of A and B per multiply-add.
 */
const MIN_RUN = 64;

/**
 * How many K-runs to split a product into: 1 unless it has fewer than FILL_WORKGROUPS / 2
 * workgroups (less than one per SM) and K ≥ 1024; then enough runs of at least MIN_RUN rows to
 * reach FILL_WORKGROUPS. Only single products without an epilogue (bias, residual, gelu) are split.
 */
function splitCount(workgroups: number, K: number, epilogue: boolean, batch = 1): number {
  if (epilogue || batch !== 1 || 2 * workgroups >= FILL_WORKGROUPS || K < 1024) return 1;
  return Math.max(1, Math.min(Math.ceil(FILL_WORKGROUPS / workgroups), Math.floor(K / MIN_RUN)));
}

/**
 * C[i] = Σ_l P[l·mn + i]: the split-K layers added in a fixed order (deterministic). A workgroup
 * takes 32 adjacent outputs with 8 lanes over the layers (each lane reads 128 contiguous bytes
 * per layer), then adds its lanes in workgroup memory. The generic `be.reduce` gives each output
 * either one thread walking every layer in turn (under 128 layers: a few dozen workgroups for a
 * 64×128 product, each thread a chain of ~100 dependent adds) or a whole workgroup of 256 threads
 * (128 layers or more: half of them idle, reads strided by M·N).
 */
function splitSum(be: WebGPUBackend, part: Storage, layers: number, mn: number): Storage {
  const out = be.alloc(mn);
  const p = new Params().u32(mn).u32(layers).buffer();
  be.dispatch('mmsum', () => mmsumWgsl(false), [part, out], ['read', 'read_write'], p, grid(Math.ceil(mn / 32)));
  return out;
}

/**
 * The same for two partial arrays at once ([layers, n1] → C1, [layers, n2] → C2), one dispatch
 * (also the layer norm's two parameter gradients, rows.ts).
 */
export function sumLayersInto(be: WebGPUBackend, p1: Storage, p2: Storage, layers: number, n1: number, n2: number,
  c1: Storage, c2: Storage): void {
  const p = new Params().u32(n1).u32(layers).u32(n2).buffer();
  be.dispatch('mmsum2', () => mmsumWgsl(true), [p1, c1, p2, c2], ['read', 'read_write', 'read', 'read_write'], p,
    grid(Math.ceil(n1 / 32) + Math.ceil(n2 / 32)));
}

/** `mmsum` (one region) or `mmsum2` (workgroups past ⌈n1/32⌉ take the second region). */
function mmsumWgsl(two: boolean): string {
  const add = (P: string, C: string, n: string, i: string): string => `  var acc = 0.0;
  if (${i} < ${n}) { for (var l = lid / 32u; l < layers; l += 8u) { acc += ${P}[l * ${n} + ${i}]; } }
  S[lid] = acc;
  workgroupBarrier();
  if (lid < 32u && ${i} < ${n}) {
    var s = S[lid];
    for (var j = 1u; j < 8u; j++) { s += S[lid + 32u * j]; }
    ${C}[${i}] = s;
  }
`;
  const decl = `@group(0) @binding(0) var<storage, read> PART: array<f32>;
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
${two ? `@group(0) @binding(2) var<storage, read> PART2: array<f32>;
@group(0) @binding(3) var<storage, read_write> C2: array<f32>;
` : ''}`;
  const body = two
    ? `  let n2 = pu(2u);
  let w1 = (mn + 31u) / 32u;
  let wg = ${FLAT_WG};
  if (wg < w1) {
    let i = wg * 32u + lid % 32u;
${add('PART', 'C', 'mn', 'i').replace(/^/gm, '  ')}  } else {
    let i = (wg - w1) * 32u + lid % 32u;
${add('PART2', 'C2', 'n2', 'i').replace(/^/gm, '  ')}  }
`
    : `  let i = ${FLAT_WG} * 32u + lid % 32u;
${add('PART', 'C', 'mn', 'i')}`;
  return `${paramsWgsl(two ? 4 : 2, two ? 3 : 2)}
${decl}var<workgroup> S: array<f32, 256>;
@compute @workgroup_size(256)
fn main(${GRID_BUILTINS}) {
  let mn = pu(0u);
  let layers = pu(1u);
${body}}`;
}

/**
 * Shape, batch and K-range of a workgroup, shared by all kernels. Split-K (pu(8) > 1 layers,
 * batch 1): layer wid.z multiplies rows [kBegin, kEnd) of the reduction into its own partial C.
 */
const SPLIT_PRELUDE = `  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let layers = pu(8u);
  let split = layers > 1u;
  let bi = select(wid.z + pu(5u), 0u, split);
  let kBegin = select(0u, wid.z * pu(7u), split);
  let kEnd = select(K, min(K, kBegin + pu(7u)), split);
  let aBase = bi * pu(3u);
  let bBase = bi * pu(4u);
  let cBase = select(bi, wid.z, split) * M * N;`;

/** What a kernel does after the product: + bias [N], + residual [batch, M, N], or gelu (writing z too). */
interface Epilogue {
  bias: boolean;
  residual: boolean;
  gelu: boolean;
}

const NO_EPILOGUE: Epilogue = { bias: false, residual: false, gelu: false };

const HEADER = (vecIn: boolean, vecOut: boolean, ep: Epilogue, colSums = false): string => {
  const t = vecOut ? 'vec4<f32>' : 'f32';
  let n = 3;
  let s = '';
  if (ep.bias) s += `@group(0) @binding(${n++}) var<storage, read> BIAS: array<${t}>;\n`;
  if (ep.residual) s += `@group(0) @binding(${n++}) var<storage, read> RES: array<${t}>;\n`;
  if (ep.gelu) s += `@group(0) @binding(${n++}) var<storage, read_write> Z: array<${t}>;\n`;
  if (colSums) n++;
  return `${paramsWgsl(n, 9)}
@group(0) @binding(0) var<storage, read> A: array<${vecIn ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read> B: array<${vecIn ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> C: array<${t}>;
${s}${ep.gelu ? MATH_WGSL : ''}`;
};

/**
 * The store of value `v` (vec4 or scalar, the bias already added) at element index `i` of C (a vec4
 * index when `vec`): C = v + residual, or z = v and C = gelu(v).
 */
function epilogueStore(ep: Epilogue, i: string, v: string, vec: boolean): string {
  if (ep.gelu) {
    const g = vec ? `vec4<f32>(gelu_(v.x), gelu_(v.y), gelu_(v.z), gelu_(v.w))` : 'gelu_(v)';
    return `{ let v = ${v}; Z[${i}] = v; C[${i}] = ${g}; }`;
  }
  return `C[${i}] = ${v}${ep.residual ? ` + RES[${i}]` : ''};`;
}

/**
 * Geometry of the T×T tile kernels (T = 64 or 128, 256 threads). Every K-step stages T·KT = 1024
 * values of each operand, 4 per thread, as KT k-rows of W = T/4 vec4s.
 */
function tileGeometry(T: 64 | 128): { H: number; KT: number; W: number; R: number } {
  const KT = 1024 / T;
  // H: 64×64 quarters per side; R: threads per row of a row-run load (4 consecutive k each).
  return { H: T / 64, KT, W: T / 4, R: KT / 4 };
}

/**
 * Load code for one staged K-step of operand `mat` into registers r{mat}. Per thread t (0..255):
 *   row-run (normal A, transB: element (row, k) at base + row·K + k): row = t / R, k0 = (t % R)·4;
 *   k-run (transA, normal B: element (k, col) at base + k·DIM + col): k = t / W, c0 = (t % W)·4.
 */
function loadCode(T: 64 | 128, mat: 'A' | 'B', rowRun: boolean, aligned: boolean): string {
  const { R, W } = tileGeometry(T);
  const dim = mat === 'A' ? 'M' : 'N';
  const base = mat === 'A' ? 'aBase' : 'bBase';
  const off = mat === 'A' ? 'm0' : 'n0';
  if (rowRun) {
    if (aligned) return `r${mat} = ${mat}[(${base} + (${off} + t / ${R}u) * K + kt + (t % ${R}u) * 4u) / 4u];`;
    return [0, 1, 2, 3].map((j) => `{ let rr = ${off} + t / ${R}u; let kk = kt + (t % ${R}u) * 4u + ${j}u;
      r${mat}[${j}] = select(0.0, ${mat}[min(${base} + rr * K + kk, arrayLength(&${mat}) - 1u)], rr < ${dim} && kk < kEnd); }`).join('\n    ');
  }
  if (aligned) return `r${mat} = ${mat}[(${base} + (kt + t / ${W}u) * ${dim} + ${off} + (t % ${W}u) * 4u) / 4u];`;
  return [0, 1, 2, 3].map((j) => `{ let kk = kt + t / ${W}u; let cc = ${off} + (t % ${W}u) * 4u + ${j}u;
      r${mat}[${j}] = select(0.0, ${mat}[min(${base} + kk * ${dim} + cc, arrayLength(&${mat}) - 1u)], kk < kEnd && cc < ${dim}); }`).join('\n    ');
}

/** Stores registers r{mat} into the k-major workgroup tile: S[k·W + row/4][row % 4]. */
function stageCode(T: 64 | 128, mat: 'A' | 'B', rowRun: boolean, aligned: boolean): string {
  const { R, W } = tileGeometry(T);
  const S = mat === 'A' ? 'As' : 'Bs';
  if (rowRun) {
    return [0, 1, 2, 3].map((j) => `${S}[((t % ${R}u) * 4u + ${j}u) * ${W}u + (t / ${R}u) / 4u][(t / ${R}u) % 4u] = r${mat}[${j}];`).join('\n  ');
  }
  // A k-run thread's 4 values are one vec4 of the tile, at k = t / W, vec4 column t % W: index t.
  return `${S}[t] = ${aligned ? `r${mat}` : `vec4<f32>(r${mat}[0], r${mat}[1], r${mat}[2], r${mat}[3])`};`;
}

/** The multiply of one staged K-step: accumulator c{r}{h} holds row r, column quarter h. */
function fmaCode(T: 64 | 128): string {
  const { H, KT, W } = tileGeometry(T);
  const comps = ['x', 'y', 'z', 'w'];
  let s = '';
  for (let kk = 0; kk < KT; kk++) {
    const loads = [];
    for (let h = 0; h < H; h++) loads.push(`let a${h} = As[${kk * W + 16 * h}u + ty]; let b${h} = Bs[${kk * W + 16 * h}u + tx];`);
    s += `    { ${loads.join(' ')}\n`;
    for (let r = 0; r < 4 * H; r++) {
      const av = `vec4<f32>(a${Math.floor(r / 4)}.${comps[r % 4]})`;
      s += `      ${Array.from({ length: H }, (_, h) => `c${r}${h} = fma(${av}, b${h}, c${r}${h});`).join(' ')}\n`;
    }
    s += '    }\n';
  }
  return s;
}

/** Writes the accumulators (+ epilogue): row m0 + 64·(r/4) + 4ty + r%4, cols n0 + 64h + 4tx…+3. */
function storeCode(T: 64 | 128, aligned: boolean, ep: Epilogue): string {
  const { H } = tileGeometry(T);
  let s = '';
  for (let r = 0; r < 4 * H; r++) {
    const row = `m0 + ${64 * Math.floor(r / 4)}u + ty * 4u + ${r % 4}u`;
    for (let h = 0; h < H; h++) {
      const col = `n0 + ${64 * h}u + tx * 4u`;
      if (aligned) {
        s += `  ${epilogueStore(ep, `(cBase + (${row}) * N + ${col}) / 4u`, `c${r}${h}${ep.bias ? ` + BIAS[(${col}) / 4u]` : ''}`, true)}\n`;
      } else {
        s += `  { let row = ${row}; let col = ${col};
    if (row < M) { for (var j = 0u; j < 4u; j++) { if (col + j < N) { ${epilogueStore(ep, 'cBase + row * N + col + j', `c${r}${h}[j]${ep.bias ? ' + BIAS[col + j]' : ''}`, false)} } } } }\n`;
      }
    }
  }
  return s;
}

/**
 * `colSums` (split products, no bias): binding 3 receives per layer the column sums of the staged
 * op(B) over the layer's run of K ([layers, N]), added by the 16 threads of row ty = 0 of the
 * workgroups of the first tile row (each owns the columns it multiplies: n0 + 64h + 4tx…+3).
 */
function mmTile(T: 64 | 128, transA: boolean, transB: boolean, aligned: boolean, ep: Epilogue, colSums = false): string {
  const { H, KT, W } = tileGeometry(T);
  if (colSums && (ep.bias || ep.residual || ep.gelu)) throw new Error('mmTile: expected column sums without an epilogue');
  const csAcc = colSums ? range(H).map((h) => `var cs${h} = vec4<f32>(0.0);`).join(' ') : '';
  const csAdd = colSums
    ? `    if (sums) {
${range(KT).map((kk) => `      ${range(H).map((h) => `cs${h} += Bs[${kk * W + 16 * h}u + tx];`).join(' ')}
`).join('')}    }
`
    : '';
  const csStore = colSums
    ? `  if (sums) {
${range(H).map((h) => `    { let col = n0 + ${64 * h}u + tx * 4u;
      for (var j = 0u; j < 4u; j++) { if (col + j < N) { CS[wid.z * N + col + j] = cs${h}[j]; } } }
`).join('')}  }
`
    : '';
  const aRowRun = !transA;
  const bRowRun = transB;
  const reg = (mat: 'A' | 'B'): string => (aligned ? `var r${mat}: vec4<f32>;` : `var r${mat}: array<f32, 4>;`);
  const load = `${loadCode(T, 'A', aRowRun, aligned)}\n    ${loadCode(T, 'B', bRowRun, aligned)}`;
  const acc = [];
  for (let r = 0; r < 4 * H; r++) for (let h = 0; h < H; h++) acc.push(`var c${r}${h} = vec4<f32>(0.0);`);
  return `${HEADER(aligned, aligned, ep, colSums)}${colSums ? '@group(0) @binding(3) var<storage, read_write> CS: array<f32>;\n' : ''}
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
${SPLIT_PRELUDE}
  let m0 = (wid.y + pu(6u)) * ${T}u;
  let n0 = wid.x * ${T}u;
  let tx = t % 16u;
  let ty = t / 16u;
  ${reg('A')}
  ${reg('B')}
  ${acc.join(' ')}
  ${colSums ? `let sums = ty == 0u && m0 == 0u;
  ${csAcc}` : ''}
  let steps = (kEnd - kBegin + ${KT - 1}u) / ${KT}u;
  var kt = kBegin;
  if (steps > 0u) {
    ${load}
  }
  for (var it = 0u; it < steps; it++) {
  ${stageCode(T, 'A', aRowRun, aligned)}
  ${stageCode(T, 'B', bRowRun, aligned)}
    workgroupBarrier();
${csAdd}    kt = kBegin + (it + 1u) * ${KT}u;
    if (it + 1u < steps) {
    ${load}
    }
${fmaCode(T)}
    workgroupBarrier();
  }
${storeCode(T, aligned, ep)}${csStore}}`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function mm16(transA: boolean, transB: boolean, ep: Epilogue): string {
  const aIdx = transA ? 'aBase + kk * M + row' : 'aBase + row * K + kk';
  const bIdx = transB ? 'bBase + col * K + kk' : 'bBase + kk * N + col';
  return `${HEADER(false, false, ep)}
var<workgroup> As: array<array<f32, 17>, 16>;
var<workgroup> Bs: array<array<f32, 17>, 16>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
${SPLIT_PRELUDE}
  let r = (wid.y + pu(6u)) * 16u + l.y;
  let c = wid.x * 16u + l.x;
  var acc = 0.0;
  for (var k0 = kBegin; k0 < kEnd; k0 += 16u) {
    {
      let row = r; let kk = k0 + l.x;
      As[l.y][l.x] = select(0.0, A[min(${aIdx}, arrayLength(&A) - 1u)], row < M && kk < kEnd);
    }
    {
      let col = c; let kk = k0 + l.y;
      Bs[l.y][l.x] = select(0.0, B[min(${bIdx}, arrayLength(&B) - 1u)], col < N && kk < kEnd);
    }
    workgroupBarrier();
    for (var j = 0u; j < 16u; j++) { acc = fma(As[l.y][j], Bs[j][l.x], acc); }
    workgroupBarrier();
  }
  if (r < M && c < N) { ${epilogueStore(ep, 'cBase + r * N + c', `acc${ep.bias ? ' + BIAS[c]' : ''}`, false)} }
}`;
}
