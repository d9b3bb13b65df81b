/**
 * Backends the test suites run on: `cpu` always; `webgpu` when an adapter is found. With
 * CI=true a missing adapter is an error (CI installs lavapipe); elsewhere the WebGPU suites are
 * skipped with a visible notice.
 */
import type { Backend } from '../../src/engine/backend.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';

let gpu: Promise<Backend | null> | null = null;

export function cpuBackend(): Backend {
  return new CpuBackend();
}

/** The WebGPU backend (lavapipe in CI), or null with a notice when unavailable outside CI. */
export function webgpuBackend(): Promise<Backend | null> {
  gpu ??= (async () => {
    // Lavapipe's own worker threads fight the test runner for the 2 CI cores; one is faster.
    process.env.LP_NUM_THREADS ??= '1';
    const mod = await import('../../src/engine/webgpu/node.js').catch((e: unknown) => {
      throw new Error(`webgpu loader failed to import: ${String(e)}`);
    });
    const res = await mod.createNodeWebGPUBackend();
    if (res.backend) return res.backend as Backend;
    const why = `no WebGPU adapter: ${res.reason}`;
    if (process.env.CI === 'true') throw new Error(`${why} (CI=true requires one: install lavapipe with .ci/install-lavapipe.sh)`);
    console.log(`NOTICE: skipping WebGPU tests, ${why}`);
    return null;
  })();
  return gpu;
}

/** Relative/absolute closeness: |a − b| ≤ atol + rtol·|b| elementwise; returns the first failure. */
export function allclose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  const bad: string[] = [];
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      bad.push(`[${i}] got ${a}, expected ${e}`);
      if (bad.length >= 5) break;
    }
  }
  return bad.length ? bad.join('; ') : null;
}
