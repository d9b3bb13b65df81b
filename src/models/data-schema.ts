/**
 * The data schema of a model folder (the `data` section of its config.json): how the columns of a
 * user's table map onto the model's inputs and outputs, and what was learned from the training
 * data to get there (normalisation, one-hot categories, time encoding, value transforms).
 *
 * Backward compatible: a folder written before categories/times/transforms existed has none of
 * them and behaves exactly as before (every column numeric, used as is, then z-scored with the
 * stored statistics). The new fields are optional in the type and absent after parsing when
 * absent from the file, so old folders parse to the very same object.
 *
 * Names in `columns` are the model's *dimensions*, in order. A numeric column is one dimension
 * named after it. A text covariate `landuse` with categories [forest, urban] learned from the
 * training data is two one-hot dimensions named `landuse=forest`, `landuse=urban` (consecutive in
 * `columns.x`; `categories.landuse` lists them). A categorical output `cover` is one dimension
 * named `cover`; `categories.cover` (when present) gives the class labels in class order,
 * otherwise the column holds the class index 0..C−1 (the original format).
 * No Node built-ins here.
 */
import {
  ConfigError, finiteNumber, nonEmptyString, numberIn, object, oneOf, or, stringArray,
} from './config-checks.js';
import type { Distance, ModelConfig } from './config.js';

/** Per-dimension normalisation learned from training data: z = (value − mean) / std. */
export interface ColumnStats {
  readonly mean: number;
  readonly std: number;
}

/** Units a time column is counted in (after parsing ISO 8601 text: units since 1970-01-01T00:00Z). */
export type TimeUnit = 'day' | 'hour' | 'minute' | 'second' | 'year';
export const TIME_UNITS: readonly TimeUnit[] = ['day', 'hour', 'minute', 'second', 'year'];

/**
 * How a `t` column's values become numbers: `iso` = ISO 8601 dates/times (text, or Parquet
 * timestamps), counted in `unit`s since 1970-01-01T00:00Z (a date/time without a zone is UTC; a
 * year is 365.25 days); `number` = the column already holds numbers, `unit` only names them.
 */
export interface TimeEncoding {
  readonly format: 'iso' | 'number';
  readonly unit: TimeUnit;
}

/**
 * A monotone transform of a Gaussian output column; the model works on the transformed values.
 * `log`: ln y (y > 0); `log1p`: ln(1 + y) (y > −1); `boxcox`: (y^λ − 1)/λ, or ln y at λ = 0 (y > 0),
 * λ fitted by maximum likelihood on the training data.
 */
export type ValueTransform =
  | { readonly kind: 'log' }
  | { readonly kind: 'log1p' }
  | { readonly kind: 'boxcox'; readonly lambda: number };

/** Category labels of a text column, in one-hot (covariate) or class (output) order. */
export type CategoryList = readonly string[];

/** How table columns map onto the model's inputs (the `data` section of a model folder's config.json). */
export interface DataSchema {
  /** Dimension names per group, in the model's dimension order; `f` are the outputs (see file comment). */
  readonly columns: {
    readonly x: readonly string[];
    readonly s: readonly string[];
    readonly t: readonly string[];
    readonly f: readonly string[];
  };
  /** Free-text unit per column (e.g. {"pm10": "µg/m³"}); optional per column. */
  readonly units: Readonly<Record<string, string>>;
  /** Distance on the `s` coordinates; must match the `s` bias distance when there is one. */
  readonly distance: Distance;
  /** Statistics per dimension learned from the training data (of transformed values for a transformed output). */
  readonly normalization: Readonly<Record<string, ColumnStats>>;
  /** Text columns (x covariates, categorical output) → their category labels. Absent: none. */
  readonly categories?: Readonly<Record<string, CategoryList>>;
  /** `t` columns → how to read them. Absent (or a column not listed): numbers, used as is. */
  readonly times?: Readonly<Record<string, TimeEncoding>>;
  /** Gaussian output columns → transform. Absent (or a column not listed): identity. */
  readonly transforms?: Readonly<Record<string, ValueTransform>>;
}

export const DEFAULT_DATA_SCHEMA = {
  columns: { x: [], s: ['s0', 's1'], t: [], f: ['f'] },
  units: {},
  distance: 'euclidean',
  normalization: {},
} as const satisfies DataSchema;

/** The text column and category a one-hot `x` dimension (`landuse=urban`) stands for, or null for a numeric dimension. */
export function oneHotSource(schema: DataSchema, dim: string): { column: string; category: string } | null {
  const eq = dim.indexOf('=');
  if (eq < 0) return null;
  const column = dim.slice(0, eq);
  const cats = schema.categories?.[column];
  if (cats === undefined) return null;
  const category = dim.slice(eq + 1);
  return cats.includes(category) ? { column, category } : null;
}

function parseCategories(v: unknown, path: string): Record<string, CategoryList> {
  const o = object(v, path, Object.keys((v ?? {}) as object));
  const out: Record<string, CategoryList> = {};
  for (const [k, list] of Object.entries(o)) {
    const cats = stringArray(list, `${path}.${k}`);
    if (cats.length === 0) throw new ConfigError(`${path}.${k}`, 'expected at least one category');
    if (new Set(cats).size !== cats.length) throw new ConfigError(`${path}.${k}`, `categories must be unique, got ${JSON.stringify(cats)}`);
    out[k] = cats;
  }
  return out;
}

function parseTransform(v: unknown, path: string): ValueTransform {
  const probe = object(v, path, ['kind', 'lambda']);
  const kind = oneOf(probe.kind, `${path}.kind`, ['log', 'log1p', 'boxcox'] as const);
  if (kind === 'boxcox') return { kind, lambda: numberIn(probe.lambda, `${path}.lambda`, -10, 10) };
  if (probe.lambda !== undefined) throw new ConfigError(`${path}.lambda`, `only a "boxcox" transform has a lambda`);
  return { kind };
}

/**
 * Validates the `data` section of a model folder's config.json against its model: `columns` must
 * agree with the model's group dims and output; categories, times and transforms must refer to
 * columns of the right group. Absent fields take `DEFAULT_DATA_SCHEMA`'s values (or, for the
 * distance, the model's `s` bias distance); absent optional fields stay absent.
 */
export function parseDataSchema(json: unknown, path: string, model: ModelConfig): DataSchema {
  const d = DEFAULT_DATA_SCHEMA;
  const o = object(json, path, ['columns', 'units', 'distance', 'normalization', 'categories', 'times', 'transforms']);
  const c = object(or(o.columns, {}), `${path}.columns`, ['x', 's', 't', 'f']);
  const defaultNames = (g: 'x' | 's' | 't' | 'f', n: number): string[] =>
    g === 'f' && n === 1 ? ['f'] : Array.from({ length: n }, (_, i) => `${g}${i}`);
  const expected = {
    x: model.groups.x?.dims ?? 0,
    s: model.groups.s?.dims ?? 0,
    t: model.groups.t?.dims ?? 0,
    // Categorical values are one class column, not a one-hot block.
    f: model.output.kind === 'gaussian' ? model.output.dims : 1,
  };
  const columns = { x: [] as string[], s: [] as string[], t: [] as string[], f: [] as string[] };
  const seen = new Map<string, string>();
  for (const g of ['x', 's', 't', 'f'] as const) {
    const names = stringArray(or(c[g], defaultNames(g, expected[g])), `${path}.columns.${g}`);
    const why = g === 'f'
      ? (model.output.kind === 'gaussian' ? 'model.output.dims' : 'one class column for a categorical output')
      : `model.groups.${g}${model.groups[g] === null ? ' is null' : '.dims'}`;
    if (names.length !== expected[g]) {
      throw new ConfigError(`${path}.columns.${g}`, `expected ${expected[g]} column name(s) (${why}), got ${JSON.stringify(names)}`);
    }
    for (const n of names) {
      if (seen.has(n)) throw new ConfigError(`${path}.columns.${g}`, `column '${n}' is already used by columns.${seen.get(n)}`);
      seen.set(n, g);
    }
    columns[g] = names;
  }
  const categories = o.categories === undefined ? undefined : parseCategories(o.categories, `${path}.categories`);
  // Source column names (a one-hot block's column) are known names too (units, messages).
  const known = [...seen.keys()];
  for (const [col, cats] of Object.entries(categories ?? {})) {
    const p = `${path}.categories.${col}`;
    if (columns.f.includes(col)) {
      if (model.output.kind !== 'categorical') throw new ConfigError(p, `'${col}' is a Gaussian output; categories apply to a categorical output or a text covariate`);
      if (cats.length !== model.output.classes) throw new ConfigError(p, `expected ${model.output.classes} labels (model.output.classes), got ${cats.length}`);
      continue;
    }
    const dims = cats.map((k) => `${col}=${k}`);
    const at = columns.x.indexOf(dims[0]!);
    if (at < 0 || dims.some((n, i) => columns.x[at + i] !== n)) {
      throw new ConfigError(p, `expected columns.x to hold the one-hot dimensions ${JSON.stringify(dims)} consecutively`);
    }
    if (seen.has(col)) throw new ConfigError(p, `'${col}' is both a column and a one-hot category block`);
    known.push(col);
  }
  const unitsIn = object(or(o.units, d.units), `${path}.units`, known);
  const units: Record<string, string> = {};
  for (const [k, v] of Object.entries(unitsIn)) units[k] = nonEmptyString(v, `${path}.units.${k}`);
  const distance = oneOf(or(o.distance, model.groups.s?.bias?.distance ?? d.distance), `${path}.distance`, ['euclidean', 'great-circle'] as const);
  const sBias = model.groups.s?.bias;
  if (sBias && sBias.distance !== distance) {
    throw new ConfigError(`${path}.distance`, `"${distance}" disagrees with model.groups.s.bias.distance "${sBias.distance}"`);
  }
  const normIn = object(or(o.normalization, d.normalization), `${path}.normalization`, [...seen.keys()]);
  const normalization: Record<string, ColumnStats> = {};
  for (const [k, v] of Object.entries(normIn)) {
    const p = `${path}.normalization.${k}`;
    const s = object(v, p, ['mean', 'std']);
    normalization[k] = {
      mean: finiteNumber(s.mean, `${p}.mean`),
      std: numberIn(s.std, `${p}.std`, 0, Number.MAX_VALUE, { lo: true }),
    };
  }
  let times: Record<string, TimeEncoding> | undefined;
  if (o.times !== undefined) {
    times = {};
    for (const [k, v] of Object.entries(object(o.times, `${path}.times`, columns.t))) {
      const p = `${path}.times.${k}`;
      const t = object(v, p, ['format', 'unit']);
      times[k] = {
        format: oneOf(t.format, `${p}.format`, ['iso', 'number'] as const),
        unit: oneOf(t.unit, `${p}.unit`, TIME_UNITS),
      };
    }
  }
  let transforms: Record<string, ValueTransform> | undefined;
  if (o.transforms !== undefined) {
    transforms = {};
    for (const [k, v] of Object.entries(object(o.transforms, `${path}.transforms`, columns.f))) {
      if (model.output.kind !== 'gaussian') throw new ConfigError(`${path}.transforms.${k}`, 'transforms apply to Gaussian outputs only');
      transforms[k] = parseTransform(v, `${path}.transforms.${k}`);
    }
  }
  return {
    columns, units, distance, normalization,
    ...(categories !== undefined ? { categories } : {}),
    ...(times !== undefined ? { times } : {}),
    ...(transforms !== undefined ? { transforms } : {}),
  };
}
