/**
 * Small validators for JSON configuration: each names the field path and says what was expected
 * and what was found ("config.blocks: expected a positive integer, got -1"). Unknown fields are
 * errors, with a did-you-mean when a known field is close. No Node built-ins.
 */

/** A configuration value failed validation; `path` is the dotted field path. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly path: string, readonly detail: string) {
    super(`${path}: ${detail}`);
  }
}

/** Short description of a JSON value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return v.length <= 6 ? `${JSON.stringify(v)}` : `an array of ${v.length} items`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate to `name`, if close enough to be a likely typo. */
export function didYouMean(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  if (lower.length >= 3) {
    // A truncated name ("batch" for "batchSize") is a likely slip too.
    const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(lower));
    if (prefixed.length === 1) return prefixed[0];
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === name.toLowerCase() ? 0 : levenshtein(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = name.length <= 2 ? 0 : Math.max(2, Math.floor(name.length / 3));
  return bestDistance <= limit ? best : undefined;
}

/** Checks that `v` is a plain object whose keys are all in `known`. */
export function object(v: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(path, `expected an object, got ${describe(v)}`);
  const record = v as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) {
      const guess = didYouMean(key, known);
      const hint = guess !== undefined ? `; did you mean '${guess}'?` : `; known fields: ${known.join(', ')}`;
      throw new ConfigError(`${path}.${key}`, `unknown field${hint}`);
    }
  }
  return record;
}

export function positiveInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new ConfigError(path, `expected a positive integer, got ${describe(v)}`);
  return v;
}

export function nonNegativeInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(path, `expected a non-negative integer, got ${describe(v)}`);
  return v;
}

/** A finite number in [lo, hi] (or (lo, hi] / [lo, hi) with the open flags). */
export function numberIn(
  v: unknown,
  path: string,
  lo: number,
  hi: number,
  open: { lo?: boolean; hi?: boolean } = {},
): number {
  const range = `${open.lo ? '(' : '['}${lo}, ${hi}${open.hi ? ')' : ']'}`;
  if (
    typeof v !== 'number' || !Number.isFinite(v) ||
    (open.lo ? v <= lo : v < lo) || (open.hi ? v >= hi : v > hi)
  ) {
    throw new ConfigError(path, `expected a number in ${range}, got ${describe(v)}`);
  }
  return v;
}

export function finiteNumber(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(path, `expected a finite number, got ${describe(v)}`);
  return v;
}

export function boolean(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false, got ${describe(v)}`);
  return v;
}

export function oneOf<T extends string>(v: unknown, path: string, options: readonly T[]): T {
  if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
    const guess = typeof v === 'string' ? didYouMean(v, options) : undefined;
    throw new ConfigError(
      path,
      `expected one of ${options.map((o) => `"${o}"`).join(', ')}, got ${describe(v)}${guess !== undefined ? `; did you mean "${guess}"?` : ''}`,
    );
  }
  return v as T;
}

export function nonEmptyString(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(path, `expected a non-empty string, got ${describe(v)}`);
  return v;
}

export function positiveIntArray(v: unknown, path: string): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(path, `expected a non-empty array of positive integers, got ${describe(v)}`);
  return v.map((x, i) => positiveInt(x, `${path}[${i}]`));
}

export function stringArray(v: unknown, path: string): string[] {
  if (!Array.isArray(v)) throw new ConfigError(path, `expected an array of strings, got ${describe(v)}`);
  return v.map((x, i) => nonEmptyString(x, `${path}[${i}]`));
}

/** `value` if present, else `fallback` (absent = `undefined`; `null` is a value). */
export function or<T>(value: unknown, fallback: T): unknown {
  return value === undefined ? fallback : value;
}
