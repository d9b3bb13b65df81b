/**
 * Slow (BSA_TNP_SLOW=1; ~30 s on lavapipe, mostly pipeline compilation): the real
 * `bsa-tnp serve --backend webgpu` answers like the CPU command line's `predict` on the same
 * points, to float32 rounding across backends (1e-4 relative). Skipped without a WebGPU adapter.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/io/csv.js';
import { allclose, webgpuBackend } from '../helpers/backends.js';
import { randomContext, removeTempDirs, runCli, writeCsvText } from '../cli-predict/fixtures.js';
import { type ServeProcess, makeModel, postJson, spawnServe } from './helpers.js';

let proc: ServeProcess | undefined;
afterAll(() => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  removeTempDirs();
});

describe.skipIf(!process.env.BSA_TNP_SLOW)('serve --backend webgpu', () => {
  it('equals the CPU command line to 1e-4 and shuts down cleanly', async () => {
    const probe = await webgpuBackend();
    if (!probe) return;
    probe.destroy();
    const { dir, model } = await makeModel('serve-webgpu');
    const ctx = randomContext(80, 3);
    const tgt = randomContext(40, 5).map((r) => [r[0]!, r[1]!]);
    writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], ctx);
    writeCsvText(path.join(dir, 'tgt.csv'), ['s0', 's1'], tgt);
    const cli = await runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'), '--targets', path.join(dir, 'tgt.csv'), '--out', path.join(dir, 'out.csv')]);
    expect(cli.code, cli.stderr).toBe(0);
    const want = parseCsv(fs.readFileSync(path.join(dir, 'out.csv'), 'utf8'), { label: 'out' }).values;

    proc = await spawnServe(['--model', model, '--backend', 'webgpu', '--quiet'], 300_000);
    const a = await postJson(proc.url, { context: ctx.map(([s0, s1, f]) => ({ s0, s1, f })), targets: tgt.map(([s0, s1]) => ({ s0, s1 })) });
    expect(a.status, a.body).toBe(200);
    const preds = (JSON.parse(a.body) as { predictions: Record<string, number>[] }).predictions;
    for (const n of ['f_mean', 'f_std', 'f_lo90', 'f_hi90']) {
      expect(allclose(preds.map((p) => p[n]!), want.get(n)!, 1e-4, 1e-5), n).toBeNull();
    }
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 400_000);
});
