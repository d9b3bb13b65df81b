/**
 * Biased Scan Attention kernels (shared/spec/bsa.md): the dense float64 reference, the tiled CPU
 * kernels (wasm SIMD with a JS fallback: `bsaForwardCpu` / `bsaBackwardCpu`, forward saves O and
 * the per-row log-normaliser L), the fused WebGPU kernels (`webgpu.ts`), and the differentiable
 * engine op `biasedScanAttention` (`op.ts`) that dispatches to them by backend.
 */
export * from './desc.js';
export { bsaDenseBackward, bsaDenseForward, denseDistance } from './dense.js';
export { bsaBackwardCpu, bsaForwardCpu, bsaWasmAvailable, CPU_DEFAULT_TILE_K, CPU_DEFAULT_TILE_Q,
  type BsaCpuOptions } from './cpu.js';
export { bsaBackwardJs, bsaForwardJs } from './cpu-js.js';
export { biasedScanAttention, type ScanGroup, type ScanOptions } from './op.js';
