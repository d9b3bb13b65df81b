/**
 * Entry point of the `bsa-tnp` command line: dispatches to src/cli/commands/*, prints help, and
 * turns errors into messages and exit codes (args.ts: 0 ok, 1 error, 2 usage / not implemented).
 * `main` takes its streams explicitly so tests run it in-process; bin/bsa-tnp.js calls `runCli`.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CliContext, CliError, EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError, formatHelp, parseCommandArgs } from './args.js';
import { COMMANDS } from './commands/index.js';
import { ConfigError, didYouMean } from '../models/config-checks.js';
import { SafetensorsError } from '../train/safetensors.js';
import { CsvError } from '../io/csv.js';
import { GridSpecError } from '../api/grid.js';
import { ModelFolderError } from '../train/model-folder.js';

function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function topLevelHelp(): string {
  const pad = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: bsa-tnp <command> [options]',
    '',
    'Biased Scan Attention Transformer Neural Processes: train, evaluate and predict.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(pad)}${c.summary}`),
    '',
    'Options:',
    '  -h, --help     show this help (also: bsa-tnp <command> --help)',
    '  -V, --version  print the version',
    '',
    'Environment: BSA_TNP_DEBUG=1 prints stack traces of internal errors.',
    '',
  ].join('\n');
}

/** Errors whose message is already a complete user-facing explanation. */
function isUserError(e: unknown): e is Error {
  return e instanceof CliError || e instanceof ConfigError || e instanceof CsvError || e instanceof SafetensorsError ||
    e instanceof GridSpecError || e instanceof ModelFolderError;
}

/** Runs one command line (`argv` without node and script) and returns the exit code. */
export async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    ctx.stderr.write(topLevelHelp());
    return EXIT_USAGE;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const target = first === 'help' ? rest[0] : undefined;
    const cmd = COMMANDS.find((c) => c.name === target);
    if (target !== undefined && cmd === undefined) {
      ctx.stderr.write(`bsa-tnp: unknown command '${target}'\n`);
      return EXIT_USAGE;
    }
    ctx.stdout.write(cmd ? formatHelp(cmd) : topLevelHelp());
    return EXIT_OK;
  }
  if (first === '--version' || first === '-V') {
    ctx.stdout.write(`bsa-tnp ${version()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (command === undefined) {
    const names = COMMANDS.map((c) => c.name);
    const guess = first.startsWith('-') ? undefined : didYouMean(first, names);
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    ctx.stderr.write(`bsa-tnp: ${what}${guess !== undefined ? `; did you mean '${guess}'?` : ''}\nCommands: ${names.join(', ')}. Run 'bsa-tnp --help'.\n`);
    return EXIT_USAGE;
  }
  try {
    const parsed = parseCommandArgs(command, rest);
    if (parsed === 'help') {
      ctx.stdout.write(formatHelp(command));
      return EXIT_OK;
    }
    return await command.run(parsed, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.stderr.write(`${e.message}\nRun 'bsa-tnp ${command.name} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (isUserError(e)) {
      const msg = e.message.startsWith(`${command.name}:`) ? e.message : `${command.name}: ${e.message}`;
      ctx.stderr.write(`bsa-tnp ${msg}\n`);
      return EXIT_ERROR;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    ctx.stderr.write(`bsa-tnp ${command.name}: internal error: ${err.message}\n`);
    ctx.stderr.write(ctx.env.BSA_TNP_DEBUG ? `${err.stack ?? ''}\n` : 'Set BSA_TNP_DEBUG=1 for a stack trace; please report it.\n');
    return EXIT_ERROR;
  }
}

/** `main` on the real process streams. */
export async function runCli(argv: readonly string[]): Promise<number> {
  return main(argv, { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env });
}
