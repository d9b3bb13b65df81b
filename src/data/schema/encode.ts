/**
 * `encode(table, schema)`: a user's table → the model's numeric inputs, in model space.
 *
 * The encoded form (`EncodedTable`), for `n` kept rows:
 * - `rowIndex[i]`: the table row (0-based) that encoded row i came from. Rows with a missing
 *   coordinate, time or covariate are dropped (counted in `dropped`, first one in `firstDropped`;
 *   with `strict` they are an error instead). Duplicated rows and unsorted times are kept as they are.
 * - `coords.x | s | t`: Float32Array [n, dims] row-major (dims = `schema.columns[g].length`),
 *   normalised with the schema's statistics; one-hot dims are 0/1; great-circle `s` stays lon°/lat°.
 *   Absent when the group has no columns.
 * - `f` (only when values are encoded): Float32Array [n, fWidth] row-major. Gaussian: the
 *   transformed, normalised values, 0 where missing. Categorical: one-hot of width `classes`,
 *   all-zero where missing; `classes[i]` holds the class index (−1 = missing).
 * - `observed`: Uint8Array [n, outputs] (outputs = `schema.columns.f.length`): 1 where that output
 *   has a value. A missing output is neither context nor target: for the training loss use it as the
 *   per-output target mask; `contextRows(enc)` lists rows with every output observed (the model's
 *   context mask is per row, so a row with one of several outputs missing is not used as context).
 *
 * Errors are `TableError`s naming the table, row, column and value: a column that is absent
 * (did-you-mean), text in a numeric column, an unparseable time, an unseen category (the known ones
 * are listed: we do not guess an encoding for a category the model never saw), an output value
 * outside its transform's domain. No Node built-ins.
 */
import type { GroupName } from '../../models/config.js';
import type { DataSchema } from '../../models/data-schema.js';
import { oneHotSource } from '../../models/data-schema.js';
import { type Table, TableError } from '../table.js';
import { labelsOf, numbersOf, timesOf } from './columns.js';
import { domainText, forward } from './transforms.js';

export interface EncodedTable {
  /** Kept rows. */
  readonly n: number;
  /** Table row (0-based) of each kept row. */
  readonly rowIndex: Int32Array;
  /** Rows dropped for a missing coordinate, time or covariate. */
  readonly dropped: number;
  /** The first dropped row (1-based, as users count) and the column that was missing. */
  readonly firstDropped: { readonly row: number; readonly column: string } | null;
  /** Model-space inputs [n, dims] per group with columns. */
  readonly coords: Partial<Record<GroupName, Float32Array>>;
  /** Model-space values [n, fWidth], or null when values were not encoded. */
  readonly f: Float32Array | null;
  /** Width of `f`: Gaussian outputs, or classes. */
  readonly fWidth: number;
  /** [n, outputs]: 1 = that output was observed. Null when values were not encoded. */
  readonly observed: Uint8Array | null;
  /** Categorical outputs: class index per row, −1 = missing. */
  readonly classes: Int32Array | null;
}

export interface EncodeOptions {
  /** Table name for messages ("context 'obs.csv'"). */
  label?: string;
  /** Encode the output columns too. Default: when the table has every output column. */
  values?: boolean;
  /** A row with a missing coordinate, time or covariate is an error (default: dropped and counted). */
  strict?: boolean;
  /** Rows before this table (a chunk of a larger file): messages and `firstDropped` count from here. */
  rowOffset?: number;
}

/** Table columns a schema reads, by role (one-hot blocks as their source column). */
export function schemaColumns(schema: DataSchema): { s: string[]; t: string[]; x: string[]; f: string[] } {
  const x: string[] = [];
  for (const d of schema.columns.x) {
    const src = oneHotSource(schema, d);
    const name = src ? src.column : d;
    if (!x.includes(name)) x.push(name);
  }
  return { s: [...schema.columns.s], t: [...schema.columns.t], x, f: [...schema.columns.f] };
}

/** Whether a schema's output is categorical, and its class count. */
export function categoricalClasses(schema: DataSchema, modelClasses?: number): number | null {
  const f = schema.columns.f;
  const cats = f.length === 1 ? schema.categories?.[f[0]!] : undefined;
  if (cats) return cats.length;
  return modelClasses ?? null;
}

/**
 * Encodes `table` for a model with data schema `schema`; see the file comment for the form.
 * `modelClasses`: the class count of a categorical model whose schema has no labels (the original
 * integer-class format); omit for Gaussian models.
 */
export function encode(table: Table, schema: DataSchema, options: EncodeOptions = {}, modelClasses?: number): EncodedTable {
  const label = options.label ?? 'table';
  const rows = table.rows;
  const off = options.rowOffset ?? 0;
  const stats = (name: string) => schema.normalization[name] ?? { mean: 0, std: 1 };
  const missingAt = new Int32Array(rows).fill(-1);
  const inputNames: string[] = [];
  const note = (i: number, name: string) => {
    if (missingAt[i] === -1) {
      let k = inputNames.indexOf(name);
      if (k < 0) { k = inputNames.length; inputNames.push(name); }
      missingAt[i] = k;
    }
  };
  // Read every input column into data units (or labels).
  type Reader = (i: number) => number;
  const groupReaders: Partial<Record<GroupName, Reader[]>> = {};
  const numeric = (name: string, v: Float64Array, st: { mean: number; std: number }): Reader => {
    for (let i = 0; i < rows; i++) if (Number.isNaN(v[i]!)) note(i, name);
    return (i) => (v[i]! - st.mean) / st.std;
  };
  if (schema.columns.s.length > 0) {
    groupReaders.s = schema.columns.s.map((n) => numeric(n, numbersOf(table, n, label, off), stats(n)));
  }
  if (schema.columns.t.length > 0) {
    groupReaders.t = schema.columns.t.map((n) => {
      const enc = schema.times?.[n] ?? { format: 'number' as const, unit: 'day' as const };
      return numeric(n, timesOf(table, n, enc, label, off), stats(n));
    });
  }
  if (schema.columns.x.length > 0) {
    const labelCache = new Map<string, (string | null)[]>();
    groupReaders.x = schema.columns.x.map((d) => {
      const src = oneHotSource(schema, d);
      if (!src) return numeric(d, numbersOf(table, d, label, off), stats(d));
      let labels = labelCache.get(src.column);
      if (!labels) {
        labels = labelsOf(table, src.column, label);
        const known = schema.categories![src.column]!;
        labels.forEach((l, i) => {
          if (l === null) { note(i, src.column); return; }
          if (!known.includes(l)) {
            throw new TableError(`${label}: row ${i + 1 + off}, column '${src.column}': category '${l}' was not in the training data ` +
              `(known: ${known.join(', ')}); the model has no encoding for it`);
          }
        });
        labelCache.set(src.column, labels);
      }
      const l = labels;
      return (i) => (l[i] === src.category ? 1 : 0);
    });
  }
  let dropped = 0;
  let firstDropped: { row: number; column: string } | null = null;
  const keep: number[] = [];
  for (let i = 0; i < rows; i++) {
    if (missingAt[i] === -1) { keep.push(i); continue; }
    const column = inputNames[missingAt[i]!]!;
    if (options.strict) throw new TableError(`${label}: row ${i + 1 + off}, column '${column}': the value is missing (--strict: rows with a missing coordinate, time or covariate are errors)`);
    dropped++;
    firstDropped ??= { row: i + 1 + off, column };
  }
  const n = keep.length;
  const rowIndex = Int32Array.from(keep);
  const coords: Partial<Record<GroupName, Float32Array>> = {};
  for (const g of ['x', 's', 't'] as const) {
    const readers = groupReaders[g];
    if (!readers) continue;
    const dims = readers.length;
    const out = new Float32Array(n * dims);
    for (let r = 0; r < n; r++) for (let d = 0; d < dims; d++) out[r * dims + d] = readers[d]!(rowIndex[r]!);
    coords[g] = out;
  }
  const fNames = schema.columns.f;
  const withValues = options.values ?? fNames.every((c) => table.names.includes(c));
  const classesN = categoricalClasses(schema, modelClasses);
  const fWidth = classesN ?? fNames.length;
  if (!withValues) return { n, rowIndex, dropped, firstDropped, coords, f: null, fWidth, observed: null, classes: null };
  const f = new Float32Array(n * fWidth);
  const observed = new Uint8Array(n * fNames.length);
  if (classesN !== null) {
    const name = fNames[0]!;
    const cats = schema.categories?.[name];
    const classes = new Int32Array(n);
    if (cats) {
      const labels = labelsOf(table, name, label);
      for (let r = 0; r < n; r++) {
        const l = labels[rowIndex[r]!]!;
        if (l === null) { classes[r] = -1; continue; }
        const c = cats.indexOf(l);
        if (c < 0) throw new TableError(`${label}: row ${rowIndex[r]! + 1 + off}, column '${name}': class '${l}' was not in the training data (known: ${cats.join(', ')})`);
        classes[r] = c;
      }
    } else {
      const v = numbersOf(table, name, label, off);
      for (let r = 0; r < n; r++) {
        const c = v[rowIndex[r]!]!;
        if (Number.isNaN(c)) { classes[r] = -1; continue; }
        if (!Number.isInteger(c) || c < 0 || c >= classesN) throw new TableError(`${label}: row ${rowIndex[r]! + 1 + off}, column '${name}': expected a class 0..${classesN - 1}, got ${c}`);
        classes[r] = c;
      }
    }
    for (let r = 0; r < n; r++) {
      if (classes[r]! < 0) continue;
      observed[r] = 1;
      f[r * fWidth + classes[r]!] = 1;
    }
    return { n, rowIndex, dropped, firstDropped, coords, f, fWidth, observed, classes };
  }
  fNames.forEach((name, d) => {
    const v = numbersOf(table, name, label, off);
    const tr = schema.transforms?.[name];
    const st = stats(name);
    for (let r = 0; r < n; r++) {
      const y = v[rowIndex[r]!]!;
      if (Number.isNaN(y)) continue;
      const z = forward(tr, y);
      if (!Number.isFinite(z)) {
        throw new TableError(`${label}: row ${rowIndex[r]! + 1 + off}, column '${name}': ${tr ? `the ${tr.kind} transform needs ${domainText(tr)}` : 'expected a finite number'}, got ${y}`);
      }
      f[r * fWidth + d] = (z - st.mean) / st.std;
      observed[r * fNames.length + d] = 1;
    }
  });
  return { n, rowIndex, dropped, firstDropped, coords, f, fWidth, observed, classes: null };
}

/** Kept rows (indices into the encoded rows) with every output observed: the usable context rows. */
export function contextRows(enc: EncodedTable): Int32Array {
  if (!enc.observed) throw new TableError('contextRows: the table was encoded without values');
  const outs = enc.observed.length / Math.max(1, enc.n);
  const out: number[] = [];
  for (let r = 0; r < enc.n; r++) {
    let all = true;
    for (let d = 0; d < outs; d++) if (enc.observed[r * outs + d] !== 1) all = false;
    if (all) out.push(r);
  }
  return Int32Array.from(out);
}

/** The rows `pick` (encoded row indices) of an encoded table, as a new encoded table. */
export function selectRows(enc: EncodedTable, pick: ArrayLike<number>): EncodedTable {
  const n = pick.length;
  const take = (a: Float32Array, w: number) => {
    const out = new Float32Array(n * w);
    for (let r = 0; r < n; r++) out.set(a.subarray(pick[r]! * w, pick[r]! * w + w), r * w);
    return out;
  };
  const coords: Partial<Record<GroupName, Float32Array>> = {};
  for (const g of ['x', 's', 't'] as const) {
    const c = enc.coords[g];
    if (c) coords[g] = take(c, c.length / Math.max(1, enc.n));
  }
  const outs = enc.observed ? enc.observed.length / Math.max(1, enc.n) : 0;
  let observed: Uint8Array | null = null;
  if (enc.observed) {
    observed = new Uint8Array(n * outs);
    for (let r = 0; r < n; r++) observed.set(enc.observed.subarray(pick[r]! * outs, pick[r]! * outs + outs), r * outs);
  }
  return {
    n,
    rowIndex: Int32Array.from({ length: n }, (_, r) => enc.rowIndex[pick[r]!]!),
    dropped: enc.dropped,
    firstDropped: enc.firstDropped,
    coords,
    f: enc.f ? take(enc.f, enc.fWidth) : null,
    fWidth: enc.fWidth,
    observed,
    classes: enc.classes ? Int32Array.from({ length: n }, (_, r) => enc.classes![pick[r]!]!) : null,
  };
}
