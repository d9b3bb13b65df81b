/**
 * `bsa-tnp web` through the real command line: it prints its address (a JSON line when stdout is
 * a pipe), serves the page, the bundle and the model list (the --model folder first, then the
 * shipped ones), stops cleanly on SIGTERM, and rejects a folder that is not a model folder.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, removeTempDirs, runCli, tempDir, writeRandomModel } from '../cli-predict/fixtures.js';

afterAll(removeTempDirs);

describe('bsa-tnp web', () => {
  it('serves the page and the model folders at the address it prints, and stops on SIGTERM', async () => {
    const dir = tempDir('web-cmd');
    const model = path.join(dir, 'my-model');
    await writeRandomModel(model, 3);
    const child = spawn(process.execPath, [BIN, 'web', '--model', model, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(out.split('\n')[0]!); });
      child.on('close', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const msg = JSON.parse(line) as { event: string; url: string; models: string[] };
    expect(msg.event).toBe('web_listening');
    expect(msg.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // The shipped ones: every folder of models/ that holds weights (models/demo-gp2d, models/prior-gp-mixture, …).
    const shipped = fs.readdirSync(path.join(ROOT, 'models')).filter((n) => fs.existsSync(path.join(ROOT, 'models', n, 'model.safetensors')));
    expect(shipped).toContain('demo-gp2d');
    expect([...msg.models].sort()).toEqual(['my-model', ...shipped].sort());
    expect(msg.models[0]).toBe('my-model');
    const page = await fetch(msg.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(await page.text()).toContain('<script type="module" src="main.js"></script>');
    const js = await fetch(new URL('main.js', msg.url));
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect((await js.text()).length).toBeGreaterThan(100_000);
    expect(await (await fetch(new URL('models/index.json', msg.url))).json())
      .toEqual(msg.models.map((name) => ({ name, url: `models/${name}/` })));
    const weights = await fetch(new URL('models/my-model/model.safetensors', msg.url));
    expect(weights.status).toBe(200);
    const code = await new Promise<number | null>((resolve) => { child.on('close', resolve); child.kill('SIGTERM'); });
    expect(code).toBe(0);
  });

  it('rejects a --model that is not a model folder', async () => {
    const dir = tempDir('web-bad');
    const r = await runCli(['web', '--model', dir, '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`web: --model '${dir}' has no config.json (expected a model folder with config.json and model.safetensors)`);
  });
});
