/**
 * CPU (JavaScript) kernels of the depthwise 2-D convolution (op.ts), NHWC, SAME zero padding:
 * the forward (also the input gradient, with the kernel flipped) and the kernel gradient.
 */

export interface ConvDims {
  B: number;
  H: number;
  W: number;
  C: number;
  /** Odd kernel width. */
  k: number;
}

/** y[b,h,w,c] = bias[c] + Σ_{dy,dx} K[dy,dx,c]·x[b, h+dy−r, w+dx−r, c] (K flipped when `flip`). */
export function depthwiseForwardCpu(x: Float32Array, w: Float32Array, bias: Float32Array | null, d: ConvDims, flip: boolean, y: Float32Array): void {
  const { B, H, W, C, k } = d;
  const r = (k - 1) / 2;
  const acc = new Float64Array(C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let q = 0; q < W; q++) {
        if (bias) for (let c = 0; c < C; c++) acc[c] = bias[c]!;
        else acc.fill(0);
        for (let dy = 0; dy < k; dy++) {
          const hs = h + dy - r;
          if (hs < 0 || hs >= H) continue;
          for (let dx = 0; dx < k; dx++) {
            const ws = q + dx - r;
            if (ws < 0 || ws >= W) continue;
            const tap = (flip ? (k - 1 - dy) * k + (k - 1 - dx) : dy * k + dx) * C;
            const src = ((b * H + hs) * W + ws) * C;
            for (let c = 0; c < C; c++) acc[c]! += w[tap + c]! * x[src + c]!;
          }
        }
        const dst = ((b * H + h) * W + q) * C;
        for (let c = 0; c < C; c++) y[dst + c] = acc[c]!;
      }
    }
  }
}

/** dK[dy,dx,c] = Σ_{b,h,w} g[b,h,w,c]·x[b, h+dy−r, w+dx−r, c]. */
export function depthwiseKernelGradCpu(x: Float32Array, g: Float32Array, d: ConvDims, dk: Float32Array): void {
  const { B, H, W, C, k } = d;
  const r = (k - 1) / 2;
  const acc = new Float64Array(k * k * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let q = 0; q < W; q++) {
        const go = ((b * H + h) * W + q) * C;
        for (let dy = 0; dy < k; dy++) {
          const hs = h + dy - r;
          if (hs < 0 || hs >= H) continue;
          for (let dx = 0; dx < k; dx++) {
            const ws = q + dx - r;
            if (ws < 0 || ws >= W) continue;
            const src = ((b * H + hs) * W + ws) * C;
            const tap = (dy * k + dx) * C;
            for (let c = 0; c < C; c++) acc[tap + c]! += g[go + c]! * x[src + c]!;
          }
        }
      }
    }
  }
  dk.set(acc);
}
