/**
 * The placeholder `run` of commands whose engine or model is still being written: says so and
 * exits 2, never pretends to work. Replace a command's `run` with the real one to wire it up.
 */
import { type CliContext, EXIT_USAGE, type ParsedArgs } from '../args.js';

type Run = (args: ParsedArgs, ctx: CliContext) => Promise<number>;
const stubs = new WeakSet<Run>();

export function notImplemented(name: string): Run {
  const run: Run = async (_args, ctx) => {
    ctx.stderr.write(`bsa-tnp ${name}: not implemented yet (the model and trainer it needs are still being written)\n`);
    return EXIT_USAGE;
  };
  stubs.add(run);
  return run;
}

/** True while a command's `run` is still the placeholder (lets tests follow the wiring). */
export function isNotImplemented(run: Run): boolean {
  return stubs.has(run);
}
