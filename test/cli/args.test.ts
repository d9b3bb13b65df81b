import { describe, expect, it } from 'vitest';
import { type CommandSpec, UsageError, formatHelp, parseCommandArgs } from '../../src/cli/args.js';

const spec: CommandSpec = {
  name: 'fake',
  summary: 'A fake command.',
  description: 'Does nothing.',
  positionals: { names: ['<a>', '<b>'], min: 1, max: 2 },
  options: {
    context: { type: 'string', short: 'c', value: 'FILE', description: 'context file' },
    verbose: { type: 'boolean', description: 'talk more', default: 'false' },
  },
  run: async () => 0,
};

function usage(argv: string[]): string {
  try {
    parseCommandArgs(spec, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('parseCommandArgs', () => {
  it('parses options and positionals', () => {
    expect(parseCommandArgs(spec, ['x', '-c', 'f.csv', '--verbose'])).toEqual({ values: { context: 'f.csv', verbose: true }, positionals: ['x'] });
    expect(parseCommandArgs(spec, ['--context=a', 'x', 'y'])).toMatchObject({ positionals: ['x', 'y'] });
    expect(parseCommandArgs(spec, ['--bogus', '--help'])).toBe('help');
    expect(parseCommandArgs(spec, ['-h'])).toBe('help');
  });

  it('reports usage errors clearly', () => {
    expect(usage(['x', '-c'])).toBe("bsa-tnp fake: option '--context' needs a value (FILE)");
    expect(usage(['x', '--context'])).toBe("bsa-tnp fake: option '--context' needs a value (FILE)");
    expect(usage(['x', '--verbose=yes'])).toBe("bsa-tnp fake: option '--verbose' takes no value");
    expect(usage(['x', '--contxt', 'a'])).toBe("bsa-tnp fake: unknown option '--contxt'; did you mean '--context'?");
    expect(usage(['x', '-z'])).toBe("bsa-tnp fake: unknown option '-z'");
    expect(usage([])).toBe('bsa-tnp fake: missing <a>');
    expect(usage(['1', '2', '3', '4'])).toBe("bsa-tnp fake: unexpected arguments '3' '4'");
  });

  it('formats help with every option', () => {
    const h = formatHelp(spec);
    expect(h).toContain('Usage: bsa-tnp fake <a> <b> [options]');
    expect(h).toMatch(/-c, --context FILE\s+context file/);
    expect(h).toMatch(/--verbose\s+talk more \(default: false\)/);
    expect(h).toMatch(/-h, --help\s+show this help/);
  });
});
