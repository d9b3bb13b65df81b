/**
 * The attention bench's TensorFlow.js baseline (bench/attention.ts): its FlashAttention-style
 * backward (tf.customGrad, recomputing chunk by chunk) in both layouts must give the same gradients
 * as tfjs autograd through the chunked forward and as the dense float64 reference.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type * as TF from '@tensorflow/tfjs-core';
import {
  initTfjs, tfBsa, tfBsaFlash, tfBsaFlashPerHead, tfBsaForward, tfBsaForwardPerHead, tfBsaPerHead,
} from '../../bench/attention.js';
import { bsaDenseBackward, bsaDenseForward } from '../../src/kernels/bsa/dense.js';
import { makeProblem, randomF32, relErr, S2_RBF5 } from './helpers.js';

type Attn = (q: TF.Tensor3D, k: TF.Tensor3D, v: TF.Tensor3D, a: TF.Tensor2D, b: TF.Tensor2D) => TF.Tensor3D;

let tf: typeof TF;
beforeAll(async () => { tf = await initTfjs(); });

describe('tfjs chunked BSA baseline (bench/attention.ts)', () => {
  // Q, K not multiples of the chunk: exercises the ragged last chunks.
  const H = 3, Q = 37, K = 45, d = 8, chunk = 16;
  const { desc, data } = makeProblem({ H, Q, K, d, dv: d, groups: [S2_RBF5], seed: 5 });
  const dO = randomF32(H * Q * d, 17);
  const ref = bsaDenseForward(desc, data);
  const refG = bsaDenseBackward(desc, data, dO);
  const refL = Array.from(ref.lse);

  function grads(attn: (cq: TF.Tensor2D, ck: TF.Tensor2D) => Attn): Float32Array[] {
    return tf.tidy(() => {
      const gd = data.groups[0]!;
      const cq = tf.tensor2d(gd.cq, [Q, 2]), ck = tf.tensor2d(gd.ck, [K, 2]);
      const g = tf.tensor3d(dO, [H, Q, d]);
      const f = attn(cq, ck);
      const gs = tf.grads((q: TF.Tensor, k: TF.Tensor, v: TF.Tensor, a: TF.Tensor, b: TF.Tensor) =>
        tf.sum(tf.mul(f(q as TF.Tensor3D, k as TF.Tensor3D, v as TF.Tensor3D, a as TF.Tensor2D, b as TF.Tensor2D), g)))(
        [tf.tensor3d(data.q, [H, Q, d]), tf.tensor3d(data.k, [H, K, d]), tf.tensor3d(data.v, [H, K, d]),
          tf.tensor2d(gd.a, [H, 5]), tf.tensor2d(gd.b!, [H, 5])]);
      return gs.map((t) => t.dataSync() as Float32Array);
    });
  }
  const expectClose = (got: Float32Array[], exp: ArrayLike<number>[], tol: number, label: string): void => {
    ['dq', 'dk', 'dv', 'da', 'db'].forEach((name, i) => {
      expect(relErr(got[i]!, exp[i]!), `${label}: ${name}`).toBeLessThanOrEqual(tol);
    });
  };

  it('forward O and L match the dense reference in both layouts', () => {
    for (const fwd of [tfBsaForward, tfBsaForwardPerHead]) {
      const [o, l] = tf.tidy(() => {
        const gd = data.groups[0]!;
        const r = fwd(tf.tensor3d(data.q, [H, Q, d]), tf.tensor3d(data.k, [H, K, d]), tf.tensor3d(data.v, [H, K, d]),
          tf.tensor2d(gd.a, [H, 5]), tf.tensor2d(gd.b!, [H, 5]), tf.tensor2d(gd.cq, [Q, 2]), tf.tensor2d(gd.ck, [K, 2]),
          chunk);
        return [r.o.dataSync(), r.lse.dataSync()];
      });
      expect(relErr(o!, ref.o)).toBeLessThanOrEqual(1e-5);
      expect(relErr(l!, refL)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('flash backward = tfjs autograd = dense reference (both layouts)', () => {
    const before = tf.memory().numTensors;
    const auto = grads((cq, ck) => (q, k, v, a, b) => tfBsa(q, k, v, a, b, cq, ck, chunk));
    const autoPH = grads((cq, ck) => (q, k, v, a, b) => tfBsaPerHead(q, k, v, a, b, cq, ck, chunk));
    const flash = grads((cq, ck) => tfBsaFlash(cq, ck, chunk));
    const flashPH = grads((cq, ck) => tfBsaFlashPerHead(cq, ck, chunk));
    const dense = [refG.dq, refG.dk, refG.dv, refG.groups[0]!.da, refG.groups[0]!.db!];
    expectClose(auto, dense, 1e-5, 'autograd (batched) vs dense');
    expectClose(autoPH, dense, 1e-5, 'autograd (per-head) vs dense');
    expectClose(flash, dense, 1e-5, 'flash (batched) vs dense');
    expectClose(flashPH, dense, 1e-5, 'flash (per-head) vs dense');
    expectClose(flash, auto, 1e-5, 'flash vs autograd (batched)');
    expectClose(flashPH, autoPH, 1e-5, 'flash vs autograd (per-head)');
    // Nothing leaked by the custom backward.
    expect(tf.memory().numTensors).toBe(before);
  });
});
