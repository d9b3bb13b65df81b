/**
 * Depthwise 2-D convolution as one differentiable op (ConvCNP's CNN, baselines.md §3): x [B, H,
 * W, C] (NHWC), kernel [k, k, C] (odd k), bias [C] → [B, H, W, C], SAME zero padding,
 * y[b,h,w,c] = bias[c] + Σ_{dy,dx} K[dy,dx,c]·x[b, h+dy−r, w+dx−r, c], r = (k − 1)/2.
 * Gradients: dx = the same convolution of dy with the kernel flipped (no bias); dK by its own
 * kernel; dbias = Σ dy over b, h, w. Kernels: cpu.ts (JavaScript, or the wasm SIMD ones of
 * engine/cpu/ew.ts on the shared heap) and webgpu.ts (WGSL).
 */
import type { Backend, Storage } from '../../engine/backend.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { needsGrad, record, save, Tensor } from '../../engine/custom.js';
import { ShapeError } from '../../engine/tensor.js';
import { sum } from '../../engine/ops.js';
import type { WebGPUBackend } from '../../engine/webgpu/backend.js';
import { depthwiseForwardCpu, depthwiseKernelGradCpu, type ConvDims } from './cpu.js';
import { depthwiseForwardWebGPU, depthwiseKernelGradWebGPU } from './webgpu.js';

function forward(b: Backend, x: Storage, w: Storage, bias: Storage | null, d: ConvDims, flip: boolean): Storage {
  if (b.kind === 'cpu') {
    const cpu = b as CpuBackend;
    const y = cpu.alloc(d.B * d.H * d.W * d.C);
    depthwiseForwardCpu(cpu.view(x), cpu.view(w), bias && cpu.view(bias), d, flip, cpu.view(y), cpu);
    return y;
  }
  return depthwiseForwardWebGPU(b as WebGPUBackend, x, w, bias, d, flip);
}

function kernelGrad(b: Backend, x: Storage, g: Storage, d: ConvDims): Storage {
  if (b.kind === 'cpu') {
    const cpu = b as CpuBackend;
    const dk = cpu.alloc(d.k * d.k * d.C);
    depthwiseKernelGradCpu(cpu.view(x), cpu.view(g), d, cpu.view(dk), cpu);
    return dk;
  }
  return depthwiseKernelGradWebGPU(b as WebGPUBackend, x, g, d);
}

export function depthwiseConv2d(x: Tensor, w: Tensor, bias: Tensor): Tensor {
  const b = x.backend;
  if (w.backend !== b || bias.backend !== b) throw new Error('depthwiseConv2d: expected x, kernel and bias on one backend');
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const k = w.shape[0]!;
  if (x.rank !== 4 || w.rank !== 3 || w.shape[1] !== k || w.shape[2] !== C || k % 2 !== 1 || bias.rank !== 1 || bias.shape[0] !== C) {
    throw new ShapeError(`depthwiseConv2d: expected x [B, H, W, C], kernel [k, k, C] with odd k, bias [C], got [${x.shape}], [${w.shape}], [${bias.shape}]`);
  }
  const d: ConvDims = { B, H, W, C, k };
  const y = Tensor.fromStorage(b, forward(b, x.storage('depthwiseConv2d'), w.storage('depthwiseConv2d'), bias.storage('depthwiseConv2d'), d, false), x.shape);
  if (needsGrad([x, w, bias])) {
    const sx = save(x);
    const sw = save(w);
    record([x, w, bias], [y], ([g]) => {
      const gs = g!.storage('depthwiseConv2d backward');
      return [
        Tensor.fromStorage(b, forward(b, gs, sw.storage('depthwiseConv2d backward'), null, d, true), x.shape),
        Tensor.fromStorage(b, kernelGrad(b, sx.storage('depthwiseConv2d backward'), gs, d), w.shape),
        sum(g!, [0, 1, 2]),
      ];
    });
  }
  return y;
}
