/** Runs the CLI's `main` in-process from `cwd` with captured stdout/stderr and an empty environment. */
import { main } from '../../src/cli/main.js';

export async function runMain(args: readonly string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '', stderr = '';
  const code = await main(args, {
    stdout: { write: (s: string) => { stdout += s; } },
    stderr: { write: (s: string) => { stderr += s; } },
    cwd, env: {},
  });
  return { code, stdout, stderr };
}
