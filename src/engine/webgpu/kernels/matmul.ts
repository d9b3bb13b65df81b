/**
 * Batched matmul C[b] = op(A[b]) · op(B[b]) in f32.
 *
 * Versions (pick is automatic):
 * - `mm128`: 128×128 output tile per 256-thread workgroup, 8×8 outputs per thread held in 16
 *   vec4 registers, K-steps of 8 staged through workgroup memory (k-major, vec4-readable), the
 *   next tile prefetched into registers while the current one is multiplied. Thread (tx, ty) owns
 *   rows {4ty…4ty+3, 64+4ty…} and cols {4tx…, 64+4tx…} so workgroup-memory reads are vec4 and
 *   conflict-free. `aligned` variant (M, N ≡ 0 mod 128, K ≡ 0 mod 8, batch strides ≡ 0 mod 4):
 *   vec4 global loads/stores, no bounds checks; otherwise every load and store is checked.
 * - `mm16`: one output per thread, 16×16 tiles; for small M or N.
 * Split-K (both versions, see `splitCount`): a product with few output tiles and a long K runs as
 * several layers of workgroups, each over one run of K into its own partial product, then one
 * reduction sums the layers.
 * transA / transB change only the load code (A stored [k][m], B stored [n][k]).
 * Batches beyond 65535 and tile rows beyond 65535 are split over several dispatches.
 */

import type { MatmulArgs, Storage } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { Params, paramsWgsl } from '../wgsl.js';

const MAXG = 65535;

export function matmul(be: WebGPUBackend, a: Storage, b: Storage, args: MatmulArgs): Storage {
  const { batch, m: M, k: K, n: N, transA, transB, strideA, strideB } = args;
  const bias = args.bias ?? null;
  if (bias && bias.length < N) throw new Error(`matmul: expected a bias of ${N} elements, got ${bias.length}`);
  for (const [name, v] of Object.entries({ batch, m: M, k: K, n: N, strideA, strideB })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: expected ${name} to be a non-negative integer, got ${v}`);
  }
  if (batch * M * N === 0) return be.alloc(0);
  // K = 0: the kernels still run (zero K-tiles) and write zeros.
  const big = M >= 64 && N >= 64 && K >= 8;
  const tile = big ? 128 : 16;
  const aligned = big && M % 128 === 0 && N % 128 === 0 && K % 8 === 0 && strideA % 4 === 0 && strideB % 4 === 0;
  const key = `${big ? (aligned ? 'mm128a' : 'mm128') : 'mm16'}_${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${bias ? 'b' : ''}`;
  const src = (): string => (big ? mm128(transA, transB, aligned, bias !== null) : mm16(transA, transB, bias !== null));
  const tilesM = Math.ceil(M / tile);
  const tilesN = Math.ceil(N / tile);
  if (tilesN > MAXG) throw new Error(`matmul: n = ${N} needs more than 65535 column tiles; split B`);
  const S = splitCount(batch * tilesM * tilesN, K, bias !== null, batch);
  if (S > 1) {
    // Split-K: S workgroup layers each multiply one run of KS rows of the reduction into its own
    // partial product; one reduction sums them (weight gradients Xᵀ·dY over every token: one
    // 128×128 tile walking K = 12,288 took ~1 ms, most of a training step).
    const KS = Math.ceil(K / S / 8) * 8;
    const layers = Math.ceil(K / KS);
    const part = be.alloc(layers * M * N);
    const p = new Params().u32(M).u32(N).u32(K).u32(strideA).u32(strideB).u32(0).u32(0).u32(KS).u32(layers).buffer();
    be.dispatch(key, src, [a, b, part], ['read', 'read', 'read_write'], p, [tilesN, tilesM, layers]);
    const sum = be.reduce('sum', part, 1, layers, M * N);
    be.free(part);
    return sum;
  }
  const out = be.alloc(batch * M * N);
  for (let b0 = 0; b0 < batch; b0 += MAXG) {
    for (let t0 = 0; t0 < tilesM; t0 += MAXG) {
      const p = new Params().u32(M).u32(N).u32(K).u32(strideA).u32(strideB).u32(b0).u32(t0).u32(Math.max(K, 1)).u32(1).buffer();
      be.dispatch(key, src, bias ? [a, b, out, bias] : [a, b, out], bias ? ['read', 'read', 'read_write', 'read'] : ['read', 'read', 'read_write'], p,
        [tilesN, Math.min(MAXG, tilesM - t0), Math.min(MAXG, batch - b0)]);
    }
  }
  return out;
}

/**
 * How many K-runs to split a product into: 1 unless there are few output tiles (fewer than about
 * two waves of workgroups) and a long reduction; then enough runs of at least 256 rows to give
 * ~256 workgroups, at most 64. Only single products without a bias epilogue are split.
 */
export function splitCount(workgroups: number, K: number, bias: boolean, batch = 1): number {
  if (bias || batch !== 1 || workgroups >= 128 || K < 1024) return 1;
  return Math.max(1, Math.min(64, Math.ceil(256 / workgroups), Math.floor(K / 256)));
}

/**
 * Shape, batch and K-range of a workgroup, shared by both kernels. Split-K (pu(8) > 1 layers,
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

const HEADER = (vecIn: boolean, vecOut: boolean, bias: boolean): string => `${paramsWgsl(bias ? 4 : 3, 9)}
@group(0) @binding(0) var<storage, read> A: array<${vecIn ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read> B: array<${vecIn ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> C: array<${vecOut ? 'vec4<f32>' : 'f32'}>;
${bias ? `@group(0) @binding(3) var<storage, read> BIAS: array<${vecOut ? 'vec4<f32>' : 'f32'}>;\n` : ''}`;

function mm128(transA: boolean, transB: boolean, aligned: boolean, bias: boolean): string {
  // Register staging of the next tile: A and B each 4 values per thread.
  // Load geometry per thread t (0..255):
  //   "row-run" loads (normal A, transB): row = t / 2, k0 = (t % 2) * 4, 4 consecutive k.
  //   "k-run" loads (transA, normal B): k = t / 32, c0 = (t % 32) * 4, 4 consecutive m or n.
  const ld = (mat: 'A' | 'B', rowRun: boolean): string => {
    const dimRow = mat === 'A' ? 'M' : 'N';
    const base = mat === 'A' ? 'aBase' : 'bBase';
    const tileOff = mat === 'A' ? 'm0' : 'n0';
    if (rowRun) {
      // element (row, k) at base + row*K + k
      const idx = `${base} + (${tileOff} + t / 2u) * K + kt + (t % 2u) * 4u`;
      if (aligned) return `r${mat} = ${mat}[(${idx}) / 4u];`;
      return [0, 1, 2, 3].map((j) => `{ let rr = ${tileOff} + t / 2u; let kk = kt + (t % 2u) * 4u + ${j}u;
      r${mat}[${j}] = select(0.0, ${mat}[min(${base} + rr * K + kk, arrayLength(&${mat}) - 1u)], rr < ${dimRow} && kk < kEnd); }`).join('\n    ');
    }
    // element (k, col) at base + k*DIM + col
    const idx = `${base} + (kt + t / 32u) * ${dimRow} + ${tileOff} + (t % 32u) * 4u`;
    if (aligned) return `r${mat} = ${mat}[(${idx}) / 4u];`;
    return [0, 1, 2, 3].map((j) => `{ let kk = kt + t / 32u; let cc = ${tileOff} + (t % 32u) * 4u + ${j}u;
      r${mat}[${j}] = select(0.0, ${mat}[min(${base} + kk * ${dimRow} + cc, arrayLength(&${mat}) - 1u)], kk < kEnd && cc < ${dimRow}); }`).join('\n    ');
  };
  const st = (mat: 'A' | 'B', rowRun: boolean): string => {
    const S = mat === 'A' ? 'As' : 'Bs';
    if (rowRun) {
      return [0, 1, 2, 3].map((j) => `${S}[((t % 2u) * 4u + ${j}u) * 32u + (t / 2u) / 4u][(t / 2u) % 4u] = r${mat}[${j}];`).join('\n  ');
    }
    const v = aligned ? `r${mat}` : `vec4<f32>(r${mat}[0], r${mat}[1], r${mat}[2], r${mat}[3])`;
    return `${S}[(t / 32u) * 32u + t % 32u] = ${v};`;
  };
  const aRowRun = !transA;
  const bRowRun = transB;
  let fma = '';
  for (let kk = 0; kk < 8; kk++) {
    fma += `    { let a0 = As[${kk * 32}u + ty]; let a1 = As[${kk * 32 + 16}u + ty];
      let b0 = Bs[${kk * 32}u + tx]; let b1 = Bs[${kk * 32 + 16}u + tx];\n`;
    const comps = ['x', 'y', 'z', 'w'];
    for (let r = 0; r < 8; r++) {
      const av = `${r < 4 ? 'a0' : 'a1'}.${comps[r % 4]}`;
      fma += `      c${r}0 = fma(vec4<f32>(${av}), b0, c${r}0); c${r}1 = fma(vec4<f32>(${av}), b1, c${r}1);\n`;
    }
    fma += '    }\n';
  }
  let store = '';
  for (let r = 0; r < 8; r++) {
    const row = `m0 + ${r < 4 ? '' : '64u + '}ty * 4u + ${r % 4}u`;
    for (let h = 0; h < 2; h++) {
      const col = `n0 + ${h === 0 ? '' : '64u + '}tx * 4u`;
      if (aligned) {
        store += `  C[(cBase + (${row}) * N + ${col}) / 4u] = c${r}${h}${bias ? ` + BIAS[(${col}) / 4u]` : ''};\n`;
      } else {
        store += `  { let row = ${row}; let col = ${col};
    if (row < M) { for (var j = 0u; j < 4u; j++) { if (col + j < N) { C[cBase + row * N + col + j] = c${r}${h}[j]${bias ? ' + BIAS[col + j]' : ''}; } } } }\n`;
      }
    }
  }
  const regDecl = (mat: 'A' | 'B'): string => (aligned ? `var r${mat}: vec4<f32>;` : `var r${mat}: array<f32, 4>;`);
  const stA = st('A', aRowRun);
  return `${HEADER(aligned, aligned, bias)}
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
${SPLIT_PRELUDE}
  let m0 = (wid.y + pu(6u)) * 128u;
  let n0 = wid.x * 128u;
  let tx = t % 16u;
  let ty = t / 16u;
  ${regDecl('A')}
  ${regDecl('B')}
${[0, 1, 2, 3, 4, 5, 6, 7].map((r) => `  var c${r}0 = vec4<f32>(0.0); var c${r}1 = vec4<f32>(0.0);`).join('\n')}
  let tiles = (kEnd - kBegin + 7u) / 8u;
  var kt = kBegin;
  if (tiles > 0u) {
    ${ld('A', aRowRun)}
    ${ld('B', bRowRun)}
  }
  for (var it = 0u; it < tiles; it++) {
  ${stA}
  ${st('B', bRowRun)}
    workgroupBarrier();
    kt = kBegin + (it + 1u) * 8u;
    if (it + 1u < tiles) {
    ${ld('A', aRowRun)}
    ${ld('B', bRowRun)}
    }
${fma}
    workgroupBarrier();
  }
${store}
}`;
}

function mm16(transA: boolean, transB: boolean, bias: boolean): string {
  const aIdx = transA ? 'aBase + kk * M + row' : 'aBase + row * K + kk';
  const bIdx = transB ? 'bBase + col * K + kk' : 'bBase + kk * N + col';
  return `${HEADER(false, false, bias)}
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
  if (r < M && c < N) { C[cBase + r * N + c] = acc${bias ? ' + BIAS[c]' : ''}; }
}`;
}
