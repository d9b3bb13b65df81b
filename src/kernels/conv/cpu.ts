/**
 * CPU kernels of the depthwise 2-D convolution (op.ts), NHWC, SAME zero padding: the forward
 * (also the input gradient, with the kernel flipped) and the kernel gradient. With a CPU backend
 * whose heap is shared wasm memory they run the wasm SIMD kernels (engine/cpu/ew.ts; float64x2,
 * the same arithmetic, rows or channel pairs split over the thread pool); otherwise the JavaScript
 * loops below, which are also their reference.
 */
import type { CpuBackend } from '../../engine/cpu/backend.js';

export interface ConvDims {
  B: number;
  H: number;
  W: number;
  C: number;
  /** Odd kernel width. */
  k: number;
}

/**
 * y[b,h,w,c] = bias[c] + Σ_{dy,dx} K[dy,dx,c]·x[b, h+dy−r, w+dx−r, c] (K flipped when `flip`).
 * Per output row and kernel row: for each output pixel, the channels innermost (contiguous in x,
 * K and y) with the k horizontal taps summed in a register before one update of y (the update of
 * y per tap was the bottleneck). The kernel is flipped once up front, not per tap.
 */
export function depthwiseForwardCpu(x: Float32Array, w: Float32Array, bias: Float32Array | null, d: ConvDims, flip: boolean, y: Float32Array,
  cpu?: CpuBackend): void {
  const { B, H, W, C, k } = d;
  const r = (k - 1) / 2;
  const pixels = B * H * W;
  if (bias) for (let p = 0; p < pixels; p++) y.set(bias, p * C);
  else y.fill(0, 0, pixels * C);
  let K = w;
  if (flip) {
    K = new Float32Array(k * k * C);
    for (let t = 0; t < k * k; t++) K.set(w.subarray((k * k - 1 - t) * C, (k * k - t) * C), t * C);
  }
  if (cpu?.ew) {
    // The kernel must live in the heap too: a flipped copy is staged there.
    const staged = K === w ? null : cpu.heap.alloc(K.length);
    try {
      if (staged) staged.set(K);
      if (cpu.ew.depthwiseForward(x, staged ?? K, y, B, H, W, C, k)) return;
    } finally {
      if (staged) cpu.heap.free(staged);
    }
  }
  const rowC = W * C;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const out = (b * H + h) * rowC;
      for (let dy = 0; dy < k; dy++) {
        const hs = h + dy - r;
        if (hs < 0 || hs >= H) continue;
        const inRow = (b * H + hs) * rowC;
        const tapRow = dy * k * C;
        for (let q = 0; q < W; q++) {
          // Valid taps dx: 0 ≤ q + dx − r < W.
          const dx0 = q < r ? r - q : 0;
          const dx1 = q + r >= W ? W + r - q : k;
          const dst = out + q * C;
          const src = inRow + (q - r) * C;
          if (dx1 - dx0 === 9) {
            const t0 = tapRow + dx0 * C;
            const s0 = src + dx0 * C;
            for (let c = 0; c < C; c++) {
              y[dst + c] += K[t0 + c]! * x[s0 + c]! + K[t0 + C + c]! * x[s0 + C + c]! + K[t0 + 2 * C + c]! * x[s0 + 2 * C + c]!
                + K[t0 + 3 * C + c]! * x[s0 + 3 * C + c]! + K[t0 + 4 * C + c]! * x[s0 + 4 * C + c]! + K[t0 + 5 * C + c]! * x[s0 + 5 * C + c]!
                + K[t0 + 6 * C + c]! * x[s0 + 6 * C + c]! + K[t0 + 7 * C + c]! * x[s0 + 7 * C + c]! + K[t0 + 8 * C + c]! * x[s0 + 8 * C + c]!;
            }
          } else {
            for (let c = 0; c < C; c++) {
              let acc = 0;
              for (let dx = dx0; dx < dx1; dx++) acc += K[tapRow + dx * C + c]! * x[src + dx * C + c]!;
              y[dst + c] += acc;
            }
          }
        }
      }
    }
  }
}

/**
 * dK[dy,dx,c] = Σ_{b,h,w} g[b,h,w,c]·x[b, h+dy−r, w+dx−r, c]. Per (b, h, dy) pair of rows and tap
 * dx, the sum over the row's pixels runs with channels innermost into a float64 row of partial
 * sums (exact enough at any size; the order of the sum is the same as before within a row).
 */
export function depthwiseKernelGradCpu(x: Float32Array, g: Float32Array, d: ConvDims, dk: Float32Array, cpu?: CpuBackend): void {
  const { B, H, W, C, k } = d;
  if (cpu?.ew) {
    const acc32 = cpu.heap.alloc(2 * k * k * C);
    try {
      acc32.fill(0);
      if (cpu.ew.depthwiseKernelGrad(x, g, acc32, B, H, W, C, k)) {
        dk.set(new Float64Array(acc32.buffer, acc32.byteOffset, k * k * C));
        return;
      }
    } finally {
      cpu.heap.free(acc32);
    }
  }
  const r = (k - 1) / 2;
  const acc = new Float64Array(k * k * C);
  const rowC = W * C;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const go = (b * H + h) * rowC;
      for (let dy = 0; dy < k; dy++) {
        const hs = h + dy - r;
        if (hs < 0 || hs >= H) continue;
        const inRow = (b * H + hs) * rowC;
        for (let dx = 0; dx < k; dx++) {
          const tap = (dy * k + dx) * C;
          const q0 = Math.max(0, r - dx);
          const q1 = Math.min(W, W + r - dx);
          for (let c = 0; c < C; c++) {
            let s = 0;
            let gi = go + q0 * C + c;
            let xi = inRow + (q0 + dx - r) * C + c;
            for (let q = q0; q < q1; q++, gi += C, xi += C) s += g[gi]! * x[xi]!;
            acc[tap + c]! += s;
          }
        }
      }
    }
  }
  dk.set(acc);
}
