/**
 * The engine, kernels, layers and models import no Node built-ins: esbuild bundles them for the
 * browser (platform=browser, every Node built-in marked as an error), and the bundle runs in a
 * bare V8 context with no `process`, `require` or Node globals, building a model and predicting.
 */
import { builtinModules } from 'node:module';
import vm from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('browser bundle', () => {
  it('bundles without Node built-ins and runs a forward pass in a bare context', async () => {
    const res = await build({
      entryPoints: [new URL('./entry.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'bsaTnp',
      write: false,
      logLevel: 'silent',
      plugins: [{
        name: 'no-node-builtins',
        setup(b) {
          const names = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
          b.onResolve({ filter: /.*/ }, (args) => (names.has(args.path) || args.path.startsWith('node:')
            ? { errors: [{ text: `${args.importer} imports the Node built-in '${args.path}'` }] } : undefined));
        },
      }],
    });
    expect(res.errors).toEqual([]);
    const code = res.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["']node:/);
    const script = `${code}
      const E = bsaTnp.engine;
      const b = E.createCpuBackend();
      E.setBackend(b);
      const cfg = { ...bsaTnp.config.DEFAULT_CONFIG, blocks: 1 };
      const m = new bsaTnp.model.BsaTnp(cfg);
      const specs = m.specs(E.Rng.fromSeed(1));
      const params = new Map(specs.map((s) => [s.name, E.tensor(s.init, s.shape)]));
      const rng = E.Rng.fromSeed(2);
      const out = m.forward(params, {
        ctx: { f: E.randomNormal([1, 10, 1], rng), coords: { s: E.randomNormal([1, 10, 2], rng) } },
        test: { s: E.randomNormal([1, 4, 2], rng) },
      });
      result = Array.from(out.mean.dataSync());`;
    // Web-platform globals a browser tab has (none of Node's own: no process, require, Buffer).
    const ctx: { result?: number[] } & Record<string, unknown> = {
      result: undefined, console, TextEncoder, TextDecoder, performance, URL, atob, btoa, setTimeout, clearTimeout, queueMicrotask,
    };
    vm.runInNewContext(script, ctx);
    expect(ctx.result).toHaveLength(4);
    expect(ctx.result!.every(Number.isFinite)).toBe(true);
  });
});
