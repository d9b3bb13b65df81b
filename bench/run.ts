/**
 * Benchmark entry: `npm run bench -- NAME [args...]` runs `bench/NAME.ts`'s `run(args)`.
 * Benchmarks print one JSON object per measurement on stdout; diagnostics go to stderr.
 */
const [name, ...args] = process.argv.slice(2);
if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) {
  process.stderr.write('usage: npm run bench -- NAME [args...]   (NAME: a file bench/NAME.ts, e.g. matmul)\n');
  process.exit(2);
}
let mod: { run?: (args: string[]) => Promise<void> };
try {
  mod = await import(`./${name}.ts`) as typeof mod;
} catch (e) {
  process.stderr.write(`bench: cannot load bench/${name}.ts: ${String(e)}\n`);
  process.exit(2);
}
if (typeof mod.run !== 'function') {
  process.stderr.write(`bench: bench/${name}.ts must export async function run(args: string[])\n`);
  process.exit(2);
}
await mod.run(args);
