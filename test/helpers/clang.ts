/** Whether clang and wasm-ld are installed (the wasm build checks need them; CI has neither). */
import { execFileSync } from 'node:child_process';

export function hasClang(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    execFileSync('wasm-ld', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
