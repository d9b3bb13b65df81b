/** The engine's public API: tensors, ops with autodiff, backends' contract, random numbers. */
export * from './ops.js';
export { Tensor, tidy, keep, noGrad, save, record, needsGrad, DisposedTensorError, Folded, ShapeError, shapeSize } from './tensor.js';
export type { BackwardFn, ValueAndGrad, TensorTree } from './tensor.js';
export type { Backend, Storage, UnaryOp, BinaryOp, ReduceOp, MatmulArgs, AdamWArgs } from './backend.js';
export { UnsupportedKernelError } from './backend.js';
export { MemoryAccount } from './memory.js';
export type { MemoryStats } from './memory.js';
export { Rng, threefry2x32, randomHost } from './random.js';
export { CpuBackend, createCpuBackend } from './cpu/backend.js';
export * as custom from './custom.js';
