/**
 * What the WebAssembly build scripts share (scripts/build-wasm.ts, src/kernels/bsa/wasm/build.ts,
 * src/data/cholesky-build.ts): the module's text form for their static checks, its base64
 * embedding as a TypeScript constant, and writing the generated file or, with `--check`, failing
 * when the committed one is stale. Build tools only (Node); nothing at run time imports this.
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** The module as WebAssembly text (for the scripts' checks: C stack use, static data). */
export async function wasmText(bytes: Uint8Array, threads: boolean): Promise<string> {
  const wabtFactory = (await import('wabt')).default;
  const wabt = await wabtFactory();
  const mod = wabt.readWasm(bytes, { readDebugNames: false, simd: true, threads });
  const text = mod.toText({});
  mod.destroy();
  return text;
}

/** `export const NAME = 'base64…' + …;` under a doc line, 100 characters per line, then a blank. */
export function embedLines(name: string, doc: string, bytes: Uint8Array): string[] {
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = [`/** ${doc} */`, `export const ${name} =`];
  for (let i = 0; i < b64.length; i += 100) {
    lines.push(`  '${b64.slice(i, i + 100)}'${i + 100 < b64.length ? ' +' : ';'}`);
  }
  lines.push('');
  return lines;
}

/** Writes `text` to `target`, or with `--check` exits 1 when the committed file differs. */
export function writeOrCheck(target: string, text: string, label: string, rebuild: string): void {
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== text) {
      process.stderr.write(`${label}: ${target} is stale; run ${rebuild}\n`);
      process.exit(1);
    }
    process.stderr.write(`${label}: committed module is up to date\n`);
  } else {
    writeFileSync(target, text);
    process.stderr.write(`${label}: wrote ${target}\n`);
  }
}
