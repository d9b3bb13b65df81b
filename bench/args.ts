/** Helpers shared by the benchmarks. */

/** The value after `--name` in a benchmark's arguments, or `dflt`. */
export function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

/** The upper median (the middle element of the sorted values). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
