/**
 * The placeholder `run` of commands whose engine or model is still being written: says so and
 * exits 2, never pretends to work. Replace a command's `run` with the real one to wire it up.
 */
import { type CliContext, EXIT_USAGE, type ParsedArgs } from '../args.js';

export function notImplemented(name: string): (args: ParsedArgs, ctx: CliContext) => Promise<number> {
  return async (_args, ctx) => {
    ctx.stderr.write(`bsa-tnp ${name}: not implemented yet (the model and trainer it needs are still being written)\n`);
    return EXIT_USAGE;
  };
}
