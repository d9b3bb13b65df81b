/**
 * The f16 BSA forward (kernels/bsa/webgpu/forward-f16.ts) against the dense float64 reference.
 *
 * Independent expectations. 'f16' (split products, three f16 products per product with f32
 * accumulation): relative error ~u² with u = 2⁻¹¹, so it must match dense like the f32 kernel does
 * (1e-5). 'f16-fast' rounds scale·q, k, v and P to f16 and accumulates in f32, so the dense
 * reference run on f16-rounded scale·q, k, v (scale 1) must match it to about one f16 rounding of P
 * (2⁻¹¹ relative, averaged over keys): tolerance 2e-3; against the unrounded reference 2e-2. On lavapipe (CI) the 'emulate'
 * dialect runs (no subgroup-matrix feature): the same layouts, staging, bias, online softmax and
 * masking as the tensor-core dialect, with the two products as scalar loops. The tensor-core
 * dialect is checked on the GPU machine by `npm run bench -- attention-gpu --f16` (accuracy fields).
 */
import { describe, expect, it } from 'vitest';
import { bsaDenseForward } from '../../src/kernels/bsa/dense.js';
import type { BsaData, BsaDesc } from '../../src/kernels/bsa/desc.js';
import { scaleOf } from '../../src/kernels/bsa/desc.js';
import { bsaForwardWebGPU } from '../../src/kernels/bsa/webgpu.js';
import { makeProblem, relErr, S2_RBF5, T1_RBF3, type ProblemOptions } from '../bsa/helpers.js';
import { gpu, upload } from './helpers.js';

const SLOW = 400_000;

/** Round to the nearest IEEE half (ties to even), as f16(x) does in WGSL. */
export function f16round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  e = Math.max(e, -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let n = Math.round(q);
  if (q - Math.floor(q) === 0.5 && n % 2 === 1) n -= 1;
  return Math.sign(x) * n * ulp;
}

/**
 * The inputs as 'f16-fast' sees them: k and v rounded to f16, q as the kernel rounds it (it keeps
 * scores in base 2: f16(scale·log2 e·q), divided back here).
 */
function roundedData(desc: BsaDesc, data: BsaData): { desc: BsaDesc; data: BsaData } {
  const s = scaleOf(desc);
  const r = (a: Float32Array, k = 1): Float32Array => Float32Array.from(a, (x) => f16round(Math.fround(x * k)));
  const q = r(data.q, s * Math.LOG2E).map((x) => x / Math.LOG2E);
  return { desc: { ...desc, scale: 1 }, data: { ...data, q, k: r(data.k), v: r(data.v) } };
}

type Half = 'f16' | 'f16-fast';

async function check(o: ProblemOptions, label: string, edit?: (d: BsaData) => void, precision: Half = 'f16'):
  Promise<{ o: Float32Array; lse: Float32Array; exactErr: number } | null> {
  const be = await gpu();
  if (!be || !be.hasF16) return null;
  const { desc, data } = makeProblem(o);
  edit?.(data);
  const d16: BsaDesc = { ...desc, precision };
  const { x, all } = upload(be, data);
  const f = bsaForwardWebGPU(be, d16, x);
  const got = { o: await be.read(f.o), lse: await be.read(f.lse), exactErr: 0 };
  for (const s of [...all, f.o, f.lse]) be.free(s);
  const fast = precision === 'f16-fast';
  const rd = roundedData(desc, data);
  const exact = bsaDenseForward(desc, data);
  const ref = fast ? bsaDenseForward(rd.desc, rd.data) : exact;
  const tol = fast ? 2e-3 : 1e-5;
  expect(relErr(got.o, ref.o), `${label}: O vs dense${fast ? ' on f16-rounded inputs' : ''}`).toBeLessThanOrEqual(tol);
  got.exactErr = relErr(got.o, exact.o);
  expect(got.exactErr, `${label}: O vs dense f32`).toBeLessThanOrEqual(fast ? 2e-2 : 1e-5);
  for (let r = 0; r < ref.lse.length; r++) {
    if (ref.lse[r] === -Infinity) expect(got.lse[r], `${label}: L[${r}]`).toBe(-Infinity);
    else expect(Math.abs(got.lse[r]! - ref.lse[r]!), `${label}: L[${r}]`).toBeLessThan((fast ? 2e-3 : 1e-5) * Math.max(1, Math.abs(ref.lse[r]!)));
  }
  return got;
}

describe('bsa webgpu f16 forward vs dense reference', () => {
  it('2-D RBF 5 (tied and untied heads), mask, ragged Q=37 K=45, small tiles 16×16; f16 (split) is f32-accurate, f16-fast is not', async () => {
    const errs: number[] = [];
    for (const precision of ['f16', 'f16-fast'] as const) {
      const got = await check({ B: 2, H: 2, Q: 37, K: 45, d: 8, dv: 8, groups: [S2_RBF5], tileQ: 16, tileK: 16,
        maskFrac: 0.2, seed: 5 }, `ragged ${precision}`, (data) => {
        const g = data.groups[0]!;
        for (let k = 0; k < 5; k++) g.b![k] = g.b![0]!; // head 0 tied, head 1 general
        for (let i = 0; i < data.q.length; i++) data.q[i]! *= 4; // peaked attention: q·k rounding matters
      }, precision);
      if (!got) return;
      errs.push(got.exactErr);
    }
    expect(errs[0]!, 'split error far below the one-product error').toBeLessThan(errs[1]! / 50);
  }, SLOW);

  it('scores that jump by far more than the lazy-rescale threshold from one key tile to the next', async () => {
    // Keys of tile 1 are 8× and of tile 2 30× the size of tile 0's: every row's maximum rises past
    // m + TAU at least once, so the accumulated O and l must be rescaled (forward-f16.ts TAU).
    for (const [precision, tileQ] of [['f16', 16], ['f16-fast', 32]] as const) {
      await check({ B: 1, H: 2, Q: 40, K: 48, d: 8, dv: 8, groups: [S2_RBF5], tileQ, tileK: 16, maskFrac: 0.1, seed: 21 },
        `jumps ${precision} ${tileQ}`, (data) => {
          for (let h = 0; h < 2; h++) {
            for (let j = 16; j < 48; j++) {
              for (let c = 0; c < 8; c++) data.k[(h * 48 + j) * 8 + c]! *= j < 32 ? 8 : 30;
            }
          }
          for (let i = 0; i < data.q.length; i++) data.q[i] = Math.abs(data.q[i]!); // k > 0 below: large positive scores
          for (let i = 0; i < data.k.length; i++) data.k[i] = Math.abs(data.k[i]!);
        }, precision);
    }
  }, SLOW);

  it('d = 32, dv = 32, s + t groups, several key tiles (16 × 16)', async () => {
    // Default tiles compile for minutes on lavapipe (the unrolled softmax body); 16-key tiles run
    // the same code with 8 keys per lane (the largest single cost of this file with 32-key tiles).
    await check({ B: 1, H: 2, Q: 40, K: 90, d: 32, dv: 32, groups: [S2_RBF5, T1_RBF3], tileQ: 16, tileK: 16,
      maskFrac: 0.3, seed: 9 }, 's+t');
  }, SLOW);

  it('every bias family and great-circle distances (the kernel keeps the bias in base 2)', async () => {
    await check({ B: 1, H: 2, Q: 20, K: 24, d: 8, dv: 8, tileQ: 16, tileK: 16, maskFrac: 0.1, seed: 31, groups: [
      { M: 2, distance: 'greatCircle', family: 'tisa', F: 2 }, { M: 3, distance: 'euclidean', family: 'exp', F: 2 },
      { M: 1, distance: 'euclidean', family: 'scalar', F: 1 }] }, 'families');
  }, SLOW);

  it('32 rows per warp (a lane per row, tileQ 32)', async () => {
    await check({ B: 1, H: 2, Q: 75, K: 40, d: 8, dv: 8, groups: [S2_RBF5], tileQ: 32, tileK: 16, maskFrac: 0.2, seed: 12 },
      'tileQ 32');
  }, SLOW);

  it('all-masked rows give O = 0 and L = −∞; a masked first key tile; odd d and dv are zero-padded', async () => {
    const got = await check({ B: 2, H: 1, Q: 20, K: 21, d: 6, dv: 5, groups: [S2_RBF5], tileQ: 16, tileK: 16,
      maskFrac: 0.1, seed: 4 }, 'masked', (data) => {
      data.mask!.fill(0, 0, 21); // batch 0: every key masked
      data.mask!.fill(0, 21, 21 + 16); // batch 1: the whole first key tile masked, then valid keys
      data.groups[0]!.cq[(20 + 3) * 2] = NaN; // batch 1, query 3: every pair invalid
    });
    if (!got) return;
    for (let i = 0; i < 20; i++) {
      expect(got.lse[i]).toBe(-Infinity);
      for (let c = 0; c < 5; c++) expect(got.o[i * 5 + c]).toBe(0);
    }
    expect(got.lse[20 + 3]).toBe(-Infinity);
  }, SLOW);
});
