/**
 * SetConv layers of ConvCNP (baselines.md §3) on a regular 2-D grid, built from engine ops (so
 * forward and gradient run on every backend through the ops' own kernels), and the depthwise 2-D
 * convolution op (kernels/conv).
 *
 * RBF weights factor over the axes, exp(−‖u − s‖²/(2ℓ²)) = exp(−(u₀−s₀)²/(2ℓ²))·exp(−(u₁−s₁)²/(2ℓ²)),
 * so point → grid and grid → point are two batched matrix products per channel instead of a
 * [points × grid cells] weight matrix.
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import { checkpoint } from './checkpoint.js';

/** ℓ = 1e-6 + exp(θ); returns −1/(2ℓ²) as [1, C, 1, 1] (negated here, on C numbers, not on every weight). */
function negInverseTwoL2(theta: Tensor): Tensor {
  return E.tidy(() => {
    const l = E.add(E.exp(theta), 1e-6);
    return E.reshape(E.neg(E.div(0.5, E.square(l))), [1, theta.shape[0]!, 1, 1]);
  });
}

/**
 * exp(−(a_i − s_j)²/(2ℓ_c²)) for one axis: a [n], s [B, N] → [B, C, n, N], or with `pointsFirst`
 * [B, C, N, n] (built in that layout, not transposed afterwards). −(d²·inv) = d²·(−inv) exactly.
 */
function axisWeights(axis: Tensor, s: Tensor, negInv: Tensor, pointsFirst = false): Tensor {
  return E.tidy(() => {
    const [B, N] = s.shape as [number, number];
    const n = axis.shape[0]!;
    const d2 = pointsFirst
      ? E.square(E.sub(E.reshape(axis, [1, 1, 1, n]), E.reshape(s, [B, 1, N, 1])))
      : E.square(E.sub(E.reshape(axis, [1, 1, n, 1]), E.reshape(s, [B, 1, 1, N])));
    return E.exp(E.mul(d2, negInv));
  });
}

function column(x: Tensor, i: number): Tensor {
  const [B, N] = x.shape as [number, number];
  return E.reshape(E.slice(x, [0, 0, i], [B, N, 1]), [B, N]);
}

/**
 * Points → grid. `s` [B, N, 2] locations, `vals` [B, N, C] (row weights already applied, e.g.
 * channel 0 = the mask), `theta` [C] log-lengthscales, grid axes a0 [n0], a1 [n1]. Returns
 * [B, n0, n1, C]: out[u, c] = Σ_j vals[j, c]·exp(−‖u − s_j‖²/(2ℓ_c²)).
 */
export function pointsToGrid(s: Tensor, vals: Tensor, theta: Tensor, a0: Tensor, a1: Tensor): Tensor {
  return E.tidy(() => {
    const inv = negInverseTwoL2(theta);
    const w0 = axisWeights(a0, column(s, 0), inv); // [B, C, n0, N]
    const w1 = axisWeights(a1, column(s, 1), inv); // [B, C, n1, N]
    const v = E.reshape(E.transpose(vals, [0, 2, 1]), [vals.shape[0]!, vals.shape[2]!, 1, vals.shape[1]!]);
    return E.transpose(E.matmul(E.mul(w0, v), w1, { transB: true }), [0, 2, 3, 1]);
  });
}

/** Default budget of one chunk's [B, C, rows, n] weights in gridToPoints: 2^23 floats (32 MiB). */
export const SETCONV_CHUNK_ELEMENTS = 1 << 23;

/**
 * Grid → points. `h` [B, n0, n1, C] on axes a0, a1, `theta` [C], targets x [B, N, 2]. Returns
 * [B, N, C]: out[x, c] = Σ_u h[u, c]·exp(−‖x − u‖²/(2ℓ_c²)). The per-axis weights [B, C, N, n]
 * are built for a chunk of target rows at a time (rows are independent: exact), each chunk
 * checkpointed (nn/checkpoint.ts), so memory stays bounded at any N in training and evaluation.
 */
export function gridToPoints(h: Tensor, theta: Tensor, a0: Tensor, a1: Tensor, x: Tensor,
  chunkElements = SETCONV_CHUNK_ELEMENTS): Tensor {
  return E.tidy(() => {
    const [B, N] = x.shape as [number, number];
    const C = h.shape[3]!;
    const n = Math.max(a0.shape[0]!, a1.shape[0]!);
    const rows = Math.max(1, Math.floor(chunkElements / (B * C * n)));
    const hc = E.transpose(h, [0, 3, 1, 2]); // [B, C, n0, n1]
    const part = (hc: Tensor, theta: Tensor, x: Tensor, a0: Tensor, a1: Tensor): Tensor => E.tidy(() => {
      const inv = negInverseTwoL2(theta);
      const w0 = axisWeights(a0, column(x, 0), inv, true); // [B, C, rows, n0]
      const w1 = axisWeights(a1, column(x, 1), inv, true); // [B, C, rows, n1]
      const t = E.matmul(w0, hc); // [B, C, rows, n1]
      return E.transpose(E.sum(E.mul(t, w1), -1), [0, 2, 1]);
    });
    if (rows >= N) return part(hc, theta, x, a0, a1);
    const outs: Tensor[] = [];
    for (let r0 = 0; r0 < N; r0 += rows) {
      const xc = E.slice(x, [0, r0, 0], [B, Math.min(rows, N - r0), 2]);
      // The axes are inputs too: the backward reruns the chunk after the caller freed its own.
      outs.push(checkpoint([hc, theta, xc, a0, a1], ([hcc, th, xcc, u0, u1]) => part(hcc!, th!, xcc!, u0!, u1!)));
    }
    return E.concat(outs, 1);
  });
}

/**
 * SetConv with a density channel: `raw` [..., 1 + C] holds the density d (channel 0) and the
 * weighted sums; returns [d, sums / (d + 1e-8)] (baselines.md §3).
 */
export function normaliseByDensity(raw: Tensor): Tensor {
  return E.tidy(() => {
    const shape = raw.shape;
    const r = shape.length;
    const C = shape[r - 1]! - 1;
    const starts = shape.map(() => 0);
    const dens = E.slice(raw, starts, [...shape.slice(0, -1), 1]);
    const sig = E.slice(raw, [...starts.slice(0, -1), 1], [...shape.slice(0, -1), C]);
    return E.concat([dens, E.div(sig, E.add(dens, 1e-8))], r - 1);
  });
}

/** Depthwise 2-D convolution, SAME zero padding (one op with its own CPU and WebGPU kernels). */
export { depthwiseConv2d } from '../kernels/conv/op.js';
