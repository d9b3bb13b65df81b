// The committed wasm module (src/engine/cpu/wasm/matmul-wasm.ts) must be what scripts/build-wasm.ts
// builds from matmul.c. Needs clang + lld with the wasm32 target; skipped where clang is absent (CI).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hasClang } from '../helpers/clang.js';


describe.skipIf(!hasClang())('cpu wasm build', () => {
  it('committed module matches scripts/build-wasm.ts output', () => {
    const run = (): string => execFileSync('node', ['--import', 'tsx', 'scripts/build-wasm.ts', '--check'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BSA_WASM_CFLAGS: '' } });
    expect(run).not.toThrow();
  });
});
