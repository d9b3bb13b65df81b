/**
 * `bsa-tnp web`: serves the web page (src/web) and model folders on this machine and prints the
 * address. The page predicts in the browser (WebGPU, else WebAssembly); the server only hands out
 * the page and the models' files. Runs until Ctrl-C.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { buildWebPage, type PageFiles, readBuiltPage, ROOT } from '../../web/build-node.js';
import { listModelFolders, type ServedModel, startWebServer } from '../../web/server-node.js';

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** The shipped folders (models/*) plus `extra`, names made unique. */
export function modelsToServe(extra: string | undefined, cwd: string): ServedModel[] {
  const models = listModelFolders(path.join(ROOT, 'models'));
  if (extra !== undefined) {
    const dir = path.resolve(cwd, extra);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`web: --model '${dir}' is not a folder (expected a model folder with config.json and model.safetensors)`);
    for (const f of ['config.json', 'model.safetensors']) {
      if (!fs.existsSync(path.join(dir, f))) throw new CliError(`web: --model '${dir}' has no ${f} (expected a model folder with config.json and model.safetensors)`);
    }
    const known = models.find((m) => m.dir === dir);
    let name = path.basename(dir);
    for (let k = 2; models.some((m) => m.name === name); k++) name = `${path.basename(dir)}-${k}`;
    if (known) models.splice(models.indexOf(known), 1);
    models.unshift(known ?? { name, dir });
  }
  return models;
}

async function pageFiles(): Promise<PageFiles> {
  try {
    const files = await buildWebPage();
    // esbuild's service process would keep this process alive after the server closes.
    await (await import('esbuild')).stop();
    return files;
  } catch (e) {
    const built = readBuiltPage();
    if (built && (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return built;
    throw e;
  }
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const portText = str(args, 'port') ?? '8080';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new UsageError(`bsa-tnp web: --port must be an integer 0..65535, got '${portText}'`);
  const host = str(args, 'host') ?? '127.0.0.1';
  const models = modelsToServe(str(args, 'model'), ctx.cwd);
  if (models.length === 0) throw new CliError('web: no model folders to serve; pass --model DIR (a folder with config.json and model.safetensors)');
  const page = await pageFiles();
  let server;
  try {
    server = await startWebServer({ page, models, host, port: Number(portText) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`web: port ${portText} on ${host} is in use; pick another with --port N (0 = any free port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new CliError(`web: cannot listen on --host '${host}' (${code})`);
    throw e;
  }
  const summary = { event: 'web_listening', url: server.url, models: models.map((m) => m.name) };
  ctx.stdout.write(ctx.stdout.isTTY
    ? `bsa-tnp web: open ${server.url} (models: ${summary.models.join(', ')}); Ctrl-C to stop\n`
    : `${JSON.stringify(summary)}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return EXIT_OK;
}

export const webCommand: CommandSpec = {
  name: 'web',
  summary: 'Serve the web page: pick a model, load a CSV/Parquet file or click points, see mean and std maps.',
  description: `
Serves a web page on this machine and prints its address. In the page: choose a model folder
(the shipped ones in models/ and --model DIR), load observations from a CSV or Parquet file with
the model's column names (or click on a map to add points with the value in the box), and see the
predictive mean and standard deviation over the area as colour maps, with the observations on top,
the mean ± std under the cursor, and the time taken.

The prediction runs in the browser: on WebGPU where the browser has it (Chrome, Edge; Firefox and
Safari recent versions), else on the WebAssembly CPU backend; the page says which. Add
?backend=cpu to the address to force the CPU. The server only hands out the page and the model
folders' config.json and model.safetensors; it listens on 127.0.0.1 unless --host says otherwise
(WebGPU needs a secure context: localhost or https).

Examples:
  bsa-tnp web
  bsa-tnp web --model runs/my-model --port 8090`,
  options: {
    model: { type: 'string', short: 'm', value: 'DIR', description: 'a model folder to serve first, besides the shipped ones' },
    port: { type: 'string', short: 'p', value: 'N', description: 'port (0 = any free port)', default: '8080' },
    host: { type: 'string', value: 'ADDR', description: 'address to listen on', default: '127.0.0.1' },
  },
  run,
};
