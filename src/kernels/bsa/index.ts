/**
 * Biased Scan Attention kernels (shared/spec/bsa.md). Pure functions over float32 arrays; the
 * differentiable-op wiring uses the pair `bsaForwardCpu` / `bsaBackwardCpu` (forward saves O and the
 * per-row log-normaliser L; backward takes them plus dO and returns dq, dk, dv and the bias-parameter
 * gradients). WebGPU kernels are not written yet.
 */
export * from './desc.js';
export { bsaDenseBackward, bsaDenseForward, denseDistance } from './dense.js';
export { bsaBackwardCpu, bsaForwardCpu, bsaWasmAvailable, CPU_DEFAULT_TILE_K, CPU_DEFAULT_TILE_Q,
  type BsaCpuOptions } from './cpu.js';
export { bsaBackwardJs, bsaForwardJs } from './cpu-js.js';
