/**
 * The hook for fused ops defined outside the engine (src/kernels: biased scan attention, ...).
 *
 * A fused op computes its outputs with backend-specific code (reach the backend's handles through
 * `tensor.backend`: `CpuBackend.view(storage)`, the WebGPU backend's `buffer(storage)` and
 * `dispatch`), wraps them with `Tensor.fromStorage`, and, when `needsGrad(inputs)`, saves what its
 * backward reads and records a backward function:
 *
 *   const y = Tensor.fromStorage(b, outStorage, shape);
 *   if (needsGrad([q, k])) {
 *     const sq = save(q), sk = save(k), sy = save(y);      // kept alive until backward ran
 *     record([q, k], [y], ([dy]) => [dq, dk]);            // grads as new tensors (or null)
 *   }
 *
 * Backward functions run unrecorded, inside a scope that frees what they do not return.
 */
export { Folded, needsGrad, record, save, Tensor } from './tensor.js';
export type { BackwardFn } from './tensor.js';
