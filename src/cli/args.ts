/**
 * Command-line argument handling: typed command descriptions, parsing through node:util parseArgs
 * (strict: unknown options and missing values are errors, with a did-you-mean), and help text.
 *
 * Exit codes: 0 success; 1 a runtime error (bad input file, corrupt model folder); 2 a usage
 * error (unknown command or option, missing argument) or a command that is not implemented yet.
 */
import { parseArgs } from 'node:util';
import { didYouMean } from '../models/config-checks.js';
import type { ProgressSink } from '../api/progress.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** Wrong use of the command line: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A runtime problem to report to the user without a stack trace, exit code 1 (the API's UserError). */
export { UserError as CliError } from '../api/errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder for the value in help ("FILE"). */
  value?: string;
  description: string;
  /** Shown in help; parsing does not fill it in (commands apply their own defaults). */
  default?: string;
}

export interface CommandSpec {
  name: string;
  /** One line for the top-level command list. */
  summary: string;
  /** Positional arguments in the usage line, e.g. "<model-folder>". */
  positionals?: { names: string[]; min: number; max: number };
  /** Longer help text (paragraphs, examples). */
  description: string;
  options: Readonly<Record<string, OptionSpec>>;
  run(args: ParsedArgs, ctx: CliContext): Promise<number>;
}

export interface ParsedArgs {
  values: Readonly<Record<string, string | boolean | undefined>>;
  positionals: readonly string[];
}

export interface OutputStream extends ProgressSink {
  write(text: string): unknown;
}

/** What a command may touch: explicit, so tests can run commands in-process. */
export interface CliContext {
  stdout: OutputStream;
  stderr: OutputStream;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

function allOptions(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, help: HELP_OPTION };
}

/**
 * Parses `argv` (the words after the command name) against `spec`. Returns `'help'` when --help
 * was given. Throws `UsageError` for unknown options, missing values, bad positional counts.
 */
export function parseCommandArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs | 'help' {
  const options = allOptions(spec);
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, o] of Object.entries(options)) config[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  const where = `bsa-tnp ${spec.name}`;
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (argv.includes('--help') || argv.includes('-h')) return 'help';
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const m = /'([^']+)'/.exec(err.message);
      const flag = m?.[1] ?? '?';
      const guess = didYouMean(flag.replace(/^-+/, '').replace(/=.*$/, ''), Object.keys(options));
      throw new UsageError(`${where}: unknown option '${flag}'${guess !== undefined ? `; did you mean '--${guess}'?` : ''}`);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      // Node: "Option '-c, --context <value>' argument missing" / "Option '--json' does not take an argument".
      const name = /--([A-Za-z0-9-]+)/.exec(err.message)?.[1] ?? '';
      const o = options[name];
      if (o?.type === 'boolean') throw new UsageError(`${where}: option '--${name}' takes no value`);
      throw new UsageError(`${where}: option '--${name}' needs a value${o?.value ? ` (${o.value})` : ''}`);
    }
    throw new UsageError(`${where}: ${err.message}`);
  }
  if (parsed.values.help === true) return 'help';
  const p = spec.positionals ?? { names: [], min: 0, max: 0 };
  if (parsed.positionals.length < p.min) {
    throw new UsageError(`${where}: missing ${p.names.slice(parsed.positionals.length, p.min).join(' ')}`);
  }
  if (parsed.positionals.length > p.max) {
    const extra = parsed.positionals.slice(p.max).map((a) => `'${a}'`).join(' ');
    throw new UsageError(`${where}: unexpected argument${parsed.positionals.length - p.max > 1 ? 's' : ''} ${extra}`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

function wrap(text: string, indent: number, width = 100): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line !== '' && indent + line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line === '' ? w : `${line} ${w}`;
  }
  if (line !== '') lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** Help text of one command. */
export function formatHelp(spec: CommandSpec): string {
  const options = allOptions(spec);
  const usage = [`bsa-tnp ${spec.name}`, ...(spec.positionals?.names ?? []), Object.keys(spec.options).length > 0 ? '[options]' : ''].filter(Boolean).join(' ');
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return [flag, `${o.description}${o.default !== undefined ? ` (default: ${o.default})` : ''}`] as const;
  });
  const pad = Math.max(...rows.map(([f]) => f.length)) + 2;
  return [
    `Usage: ${usage}`,
    '',
    spec.summary,
    '',
    spec.description.trim(),
    '',
    'Options:',
    ...rows.map(([f, d]) => `  ${f.padEnd(pad)}${wrap(d, pad + 2)}`),
    '',
  ].join('\n');
}
