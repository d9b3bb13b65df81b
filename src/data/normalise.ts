/**
 * Per-column normalisation z = (v − shift) / scale, learned from training data and stored with the
 * model so users never normalise by hand. `zscore`: shift = mean, scale = std (population);
 * `minmax`: shift = min, scale = max − min (Beijing, experiments.md §8). A degenerate column
 * (scale 0 or not finite) gets scale 1. The statistics are plain JSON.
 */

export interface Normaliser {
  kind: 'zscore' | 'minmax';
  shift: number[];
  scale: number[];
}

/**
 * Learns statistics from `data` [rows, cols] row-major, skipping non-finite entries.
 * `mask` [rows] (1 = use the row) restricts the rows, e.g. to valid context rows.
 */
export function fitNormaliser(data: ArrayLike<number>, cols: number, kind: Normaliser['kind'] = 'zscore',
  mask?: ArrayLike<number>): Normaliser {
  if (data.length % cols !== 0) throw new RangeError(`fitNormaliser: ${data.length} entries is not a multiple of ${cols} columns`);
  const rows = data.length / cols;
  const shift: number[] = [];
  const scale: number[] = [];
  for (let c = 0; c < cols; c++) {
    let n = 0, sum = 0, sumSq = 0, lo = Infinity, hi = -Infinity;
    for (let r = 0; r < rows; r++) {
      if (mask !== undefined && !(mask[r]! > 0.5)) continue;
      const v = data[r * cols + c]!;
      if (!Number.isFinite(v)) continue;
      n++; sum += v; sumSq += v * v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (n === 0) throw new RangeError(`fitNormaliser: column ${c} has no finite values`);
    let sh: number, sc: number;
    if (kind === 'zscore') {
      sh = sum / n;
      sc = Math.sqrt(Math.max(0, sumSq / n - sh * sh));
    } else {
      sh = lo;
      sc = hi - lo;
    }
    shift.push(sh);
    scale.push(sc > 0 && Number.isFinite(sc) ? sc : 1);
  }
  return { kind, shift, scale };
}

function checkCols(n: Normaliser, length: number, op: string): number {
  const cols = n.shift.length;
  if (length % cols !== 0) throw new RangeError(`${op}: ${length} entries is not a multiple of ${cols} columns`);
  return cols;
}

/** (v − shift) / scale per column; returns a new Float32Array. */
export function applyNormaliser(n: Normaliser, data: ArrayLike<number>): Float32Array {
  const cols = checkCols(n, data.length, 'applyNormaliser');
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i]! - n.shift[i % cols]!) / n.scale[i % cols]!;
  return out;
}

/** v = z·scale + shift per column (for predicted means). */
export function invertNormaliser(n: Normaliser, data: ArrayLike<number>): Float32Array {
  const cols = checkCols(n, data.length, 'invertNormaliser');
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! * n.scale[i % cols]! + n.shift[i % cols]!;
  return out;
}

/** σ·scale per column (for predicted standard deviations: the shift does not apply). */
export function invertNormaliserStd(n: Normaliser, std: ArrayLike<number>): Float32Array {
  const cols = checkCols(n, std.length, 'invertNormaliserStd');
  const out = new Float32Array(std.length);
  for (let i = 0; i < std.length; i++) out[i] = std[i]! * n.scale[i % cols]!;
  return out;
}

/** Parses and validates a normaliser read from JSON. */
export function normaliserFromJSON(value: unknown): Normaliser {
  const v = value as Partial<Normaliser> | null;
  const ok = v !== null && typeof v === 'object' && (v.kind === 'zscore' || v.kind === 'minmax') &&
    Array.isArray(v.shift) && Array.isArray(v.scale) && v.shift.length === v.scale.length &&
    v.shift.every((x) => typeof x === 'number') && v.scale.every((x) => typeof x === 'number' && x > 0);
  if (!ok) throw new TypeError('normaliserFromJSON: expected { kind: "zscore" | "minmax", shift: number[], scale: number[] (> 0) }');
  return { kind: v.kind!, shift: [...v.shift!], scale: [...v.scale!] };
}
