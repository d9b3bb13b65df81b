/**
 * Tuning knobs of the WebGPU BSA kernels, read from environment variables (benchmarks set them to
 * compare variants in one process tree; an unset or empty variable means the default). Browsers
 * have no `process`: there every knob is its default. A malformed value throws "bsa webgpu:
 * expected NAME ..., got '...'".
 */

function raw(name: string): string | undefined {
  const v = typeof process === 'undefined' ? undefined : process.env?.[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A '0' / '1' switch. */
export function knobFlag(name: string, dflt: boolean): boolean {
  const v = raw(name);
  if (v === undefined) return dflt;
  if (v !== '0' && v !== '1') throw new Error(`bsa webgpu: expected ${name} 0 or 1, got '${v}'`);
  return v === '1';
}

/** A positive integer, one of `allowed` when given. */
export function knobInt(name: string, dflt: number, allowed?: readonly number[]): number {
  const v = raw(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || (allowed && !allowed.includes(n))) {
    throw new Error(`bsa webgpu: expected ${name} ${allowed ? `one of ${allowed.join(', ')}` : 'a positive integer'}, got '${v}'`);
  }
  return n;
}

/** A comma-separated subset of `allowed` (the default when unset). */
export function knobSet(name: string, dflt: readonly string[], allowed: readonly string[]): Set<string> {
  const v = raw(name);
  const parts = new Set((v === undefined ? dflt : v.split(',')).map((x) => x.trim()).filter((x) => x !== ''));
  for (const x of parts) {
    if (!allowed.includes(x)) throw new Error(`bsa webgpu: expected ${name} from ${allowed.join(', ')}, got '${x}'`);
  }
  return parts;
}
