/**
 * Loads the CPU wasm kernel modules (matmul-wasm.ts, built from matmul.c and elementwise.c; the BSA module of
 * kernels/bsa/wasm) and instantiates the matmul one on a given memory. Compiled once per variant; one instance per (thread, memory).
 *
 * Platform-neutral: base64 is decoded with `atob`, present in Node ≥ 16 and browsers.
 */
import { BSA_WASM_PLAIN, BSA_WASM_SHARED } from '../../../kernels/bsa/wasm/bsa-wasm.js';
import { EW_WASM_SHARED } from './ew-wasm.js';
import { MATMUL_WASM_PLAIN, MATMUL_WASM_SHARED } from './matmul-wasm.js';

/** Exports of the kernel module. Pointers are byte addresses; the last three args of threaded
 * kernels are (tid, start, end). */
export interface KernelExports {
  pack_b(b: number, packed: number, k: number, n: number, transB: number, strideB: number,
    tid: number, start: number, end: number): void;
  matmul_rows(a: number, packedB: number, c: number, m: number, k: number, n: number, transA: number,
    strideA: number, stridePackedB: number, mu: number, scratch: number, scratchStride: number,
    tid: number, start: number, end: number): void;
  scratch_floats(mu: number): number;
  micro_rows(): number;
  panel_cols(): number;
  /** elementwise.c: out = gelu(x) and out = dy · gelu'(x) over n floats (tanh form). */
  gelu_f32(x: number, out: number, n: number): void;
  gelu_grad_f32(x: number, dy: number, out: number, n: number): void;
}

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

const modules: { shared?: WebAssembly.Module; plain?: WebAssembly.Module } = {};

/** The compiled kernel module for a shared or a plain memory. */
export function kernelModule(shared: boolean): WebAssembly.Module {
  if (shared) return (modules.shared ??= new WebAssembly.Module(decode(MATMUL_WASM_SHARED)));
  return (modules.plain ??= new WebAssembly.Module(decode(MATMUL_WASM_PLAIN)));
}

const bsaModules: { shared?: WebAssembly.Module; plain?: WebAssembly.Module } = {};

/**
 * The compiled BSA kernel module (kernels/bsa/wasm/bsa.c) for a shared or a plain memory. Like the
 * matmul module it imports `env.memory` and keeps no stack or static data, so it can be
 * instantiated next to it on the same memory.
 */
export function bsaKernelModule(shared: boolean): WebAssembly.Module {
  if (shared) return (bsaModules.shared ??= new WebAssembly.Module(decode(BSA_WASM_SHARED)));
  return (bsaModules.plain ??= new WebAssembly.Module(decode(BSA_WASM_PLAIN)));
}

let ewModule: WebAssembly.Module | undefined;

/**
 * The SIMD elementwise module (ew-wasm.ts, built by scripts/build-ew-wasm.ts); shared memory only
 * (it runs on the heap's memory, which exists only when shared).
 */
export function ewKernelModule(): WebAssembly.Module {
  return (ewModule ??= new WebAssembly.Module(decode(EW_WASM_SHARED)));
}

/** Every module a pool worker instantiates (its kernels: KERNEL_NAMES in threads.ts). */
export function kernelModules(shared: boolean): WebAssembly.Module[] {
  return shared ? [kernelModule(shared), bsaKernelModule(shared), ewKernelModule()] : [kernelModule(shared), bsaKernelModule(shared)];
}

const instances = new WeakMap<WebAssembly.Memory, KernelExports>();

/** This thread's kernel instance on `memory` (created on first use). */
export function kernelsFor(memory: WebAssembly.Memory): KernelExports {
  let k = instances.get(memory);
  if (!k) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const inst = new WebAssembly.Instance(kernelModule(shared), { env: { memory } });
    k = inst.exports as unknown as KernelExports;
    instances.set(memory, k);
  }
  return k;
}
