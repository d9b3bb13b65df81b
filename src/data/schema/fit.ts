/**
 * Building a data schema from a training table and the user's flags (`--s lon,lat --t time
 * --x elev,landuse --f pm10 --transform pm10=log`): which columns feed which group, the distance,
 * time encoding, one-hot categories, output kind and transforms, and the normalisation learned from
 * the table's complete rows. The result goes into the model folder's config.json (`data`), and
 * `schemaShape` says what model (group dims, output) it needs. No Node built-ins.
 *
 * Normalisation choices:
 * - `s` with great-circle distance: not normalised (the distance needs lon°/lat°).
 * - `s` with Euclidean distance: per-dimension mean, one shared std (pooled over the dimensions) so
 *   distances keep their shape (no stretching of one axis).
 * - `t`: centred on its mean and measured in time steps (the median gap between consecutive distinct
 *   times: a day for daily data, about a month for monthly data). A z-score would shrink the gaps
 *   inside one task's window to a tiny fraction of a unit (PM10: one day = 0.0014 of the 12-year
 *   std), too small for the time bias to tell yesterday from last week.
 * - numeric `x`: z-scores per column. One-hot `x` dimensions: 0/1, not normalised.
 * - Gaussian `f`: z-scores of the transformed values (observed values only).
 */
import type { Distance } from '../../models/config.js';
import type { ColumnStats, DataSchema, TimeEncoding, TimeUnit, ValueTransform } from '../../models/data-schema.js';
import { TIME_UNITS } from '../../models/data-schema.js';
import { type Table, TableError, getColumn } from '../table.js';
import { isTextColumn, labelsOf, numbersOf, timesOf } from './columns.js';
import { domainText, fitBoxCoxLambda, forward } from './transforms.js';
import { looksIso } from './time.js';

export type TransformName = 'log' | 'log1p' | 'boxcox';

/** What the user said about the columns (the CLI flags, or the web page's form). */
export interface SchemaFlags {
  /** Spatial coordinate columns (`--s lon,lat`). */
  readonly s?: readonly string[];
  /** Time columns (`--t time`). */
  readonly t?: readonly string[];
  /** Covariate columns (`--x elev,landuse`); text columns become one-hot categories. */
  readonly x?: readonly string[];
  /** Output columns (`--f pm10,pm25`), or one categorical column. */
  readonly f: readonly string[];
  /** Distance on `s`; default great-circle when the `s` names are lon/lat-like, else Euclidean. */
  readonly distance?: Distance;
  /** Unit of ISO times (`--time-unit`); default day. */
  readonly timeUnit?: TimeUnit;
  /** Output transforms (`--transform pm10=log`). */
  readonly transforms?: Readonly<Record<string, TransformName>>;
  /** Force a categorical output (an integer class column); a text output column is categorical anyway. */
  readonly categorical?: boolean;
  /** Free-text units per column. */
  readonly units?: Readonly<Record<string, string>>;
}

/** What model a schema needs: group dims (0 = no group) and the output. */
export interface SchemaShape {
  readonly x: number;
  readonly s: number;
  readonly t: number;
  readonly output: { readonly kind: 'gaussian'; readonly dims: number } | { readonly kind: 'categorical'; readonly classes: number };
}

const LON = /^(lon|lng|long|longitude)$/i;
const LAT = /^(lat|latitude)$/i;

/** Whether `s` names look like longitude, latitude (in that order): the great-circle default. */
export function looksLonLat(names: readonly string[]): boolean {
  return names.length === 2 && LON.test(names[0]!) && LAT.test(names[1]!);
}

/**
 * Parses the command line's schema flags (strings as typed) into `SchemaFlags`:
 * `s`, `t`, `x`, `f` comma lists; `distance`; `time-unit`; `transform` as `col=log[,col2=boxcox]`;
 * `categorical` a boolean. Throws `TableError` with the flag named.
 */
export function parseSchemaFlags(v: Readonly<Record<string, string | boolean | undefined>>): SchemaFlags {
  const list = (k: string): string[] | undefined => {
    const x = v[k];
    if (x === undefined || typeof x === 'boolean') return undefined;
    const names = x.split(',').map((n) => n.trim());
    if (names.some((n) => n === '')) throw new TableError(`--${k}: expected comma-separated column names, got '${x}'`);
    return names;
  };
  const f = list('f');
  if (f === undefined) throw new TableError('--f: name the output column(s) to model, e.g. --f pm10');
  const distance = v.distance;
  if (distance !== undefined && distance !== 'great-circle' && distance !== 'euclidean') {
    throw new TableError(`--distance: expected great-circle or euclidean, got '${String(distance)}'`);
  }
  const unit = v['time-unit'];
  if (unit !== undefined && !TIME_UNITS.includes(unit as TimeUnit)) {
    throw new TableError(`--time-unit: expected one of ${TIME_UNITS.join(', ')}, got '${String(unit)}'`);
  }
  const transforms: Record<string, TransformName> = {};
  for (const item of list('transform') ?? []) {
    const m = /^(.+)=(log|log1p|boxcox)$/.exec(item);
    if (!m) throw new TableError(`--transform: expected COLUMN=log|log1p|boxcox, got '${item}'`);
    transforms[m[1]!] = m[2] as TransformName;
  }
  const s = list('s'), t = list('t'), x = list('x');
  return {
    f,
    ...(s ? { s } : {}), ...(t ? { t } : {}), ...(x ? { x } : {}),
    ...(distance !== undefined ? { distance: distance as Distance } : {}),
    ...(unit !== undefined ? { timeUnit: unit as TimeUnit } : {}),
    ...(Object.keys(transforms).length > 0 ? { transforms } : {}),
    ...(v.categorical === true ? { categorical: true } : {}),
  };
}

function zStats(values: ArrayLike<number>, keep: (i: number) => boolean): ColumnStats {
  let n = 0, sum = 0, sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!keep(i) || !Number.isFinite(v)) continue;
    n++; sum += v; sumSq += v * v;
  }
  if (n === 0) return { mean: 0, std: 1 };
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  return { mean, std: std > 1e-12 * Math.max(1, Math.abs(mean)) ? std : 1 };
}

/** Mean, and the median gap between consecutive distinct values as the unit (1 if fewer than 2). */
function stepStats(values: ArrayLike<number>, keep: (i: number) => boolean): ColumnStats {
  const { mean } = zStats(values, keep);
  const v: number[] = [];
  for (let i = 0; i < values.length; i++) if (keep(i) && Number.isFinite(values[i]!)) v.push(values[i]!);
  v.sort((a, b) => a - b);
  const gaps: number[] = [];
  for (let i = 1; i < v.length; i++) if (v[i]! > v[i - 1]!) gaps.push(v[i]! - v[i - 1]!);
  if (gaps.length === 0) return { mean, std: 1 };
  gaps.sort((a, b) => a - b);
  const step = gaps[gaps.length >> 1]!;
  return { mean, std: step > 1e-12 * Math.max(1, Math.abs(mean)) ? step : 1 };
}

function sortLabels(labels: Iterable<string>): string[] {
  const all = [...new Set(labels)];
  const numeric = all.every((l) => Number.isFinite(Number(l)));
  return numeric ? all.sort((a, b) => Number(a) - Number(b)) : all.sort();
}

/**
 * Fits a data schema to `table` from `flags` (see the file comment for what is learned). Rows with
 * a missing coordinate, time or covariate do not count; output statistics use observed values only.
 * Throws `TableError` naming the column (did-you-mean), row and value on bad input: unknown or
 * repeated columns, text in a numeric column, unparseable times, values outside a transform's
 * domain, too few categories.
 */
export function fitSchema(table: Table, flags: SchemaFlags, label = 'training data'): DataSchema {
  const s = [...(flags.s ?? [])], t = [...(flags.t ?? [])], x = [...(flags.x ?? [])], f = [...flags.f];
  if (f.length === 0) throw new TableError(`${label}: name at least one output column (--f)`);
  const used = new Map<string, string>();
  for (const [g, names] of [['s', s], ['t', t], ['x', x], ['f', f]] as const) {
    for (const n of names) {
      const prev = used.get(n);
      if (prev !== undefined) throw new TableError(`${label}: column '${n}' is named twice (--${prev} and --${g}); each column feeds one role`);
      used.set(n, g);
      getColumn(table, n, label);
      if (n.includes('=')) throw new TableError(`${label}: column name '${n}' contains '=', which the schema reserves for categories; rename it`);
    }
  }
  if (s.length + t.length + x.length === 0) throw new TableError(`${label}: name the coordinate columns (--s lon,lat and/or --t time and/or --x covariates)`);
  for (const k of Object.keys(flags.transforms ?? {})) {
    if (!f.includes(k)) throw new TableError(`${label}: --transform names '${k}', which is not an output column (--f ${f.join(',')})`);
  }
  const rows = table.rows;
  if (rows === 0) throw new TableError(`${label}: the table has no rows`);

  // Inputs: read every column, mark complete rows.
  const complete = new Uint8Array(rows).fill(1);
  const mark = (v: ArrayLike<number> | readonly (string | null)[]) => {
    for (let i = 0; i < rows; i++) {
      const c = v[i];
      if (c === null || (typeof c === 'number' && Number.isNaN(c))) complete[i] = 0;
    }
  };
  const sVals = s.map((n) => numbersOf(table, n, label));
  sVals.forEach(mark);
  const times: Record<string, TimeEncoding> = {};
  const tVals = t.map((n) => {
    const col = getColumn(table, n, label);
    const iso = col.kind === 'text' && isTextColumn(col);
    const enc: TimeEncoding = { format: iso ? 'iso' : 'number', unit: flags.timeUnit ?? 'day' };
    if (iso && !col.values.some((v) => v !== null && looksIso(v))) {
      throw new TableError(`${label}: column '${n}' (--t) holds neither numbers nor ISO 8601 dates/times`);
    }
    times[n] = enc;
    return timesOf(table, n, enc, label);
  });
  tVals.forEach(mark);
  const categories: Record<string, string[]> = {};
  const xCols = x.map((n) => {
    const col = getColumn(table, n, label);
    if (isTextColumn(col)) {
      const labels = labelsOf(table, n, label);
      mark(labels);
      return { name: n, labels };
    }
    const v = numbersOf(table, n, label);
    mark(v);
    return { name: n, numbers: v };
  });
  const keep = (i: number) => complete[i] === 1;
  if (!complete.some((v) => v === 1)) throw new TableError(`${label}: no row has all of ${[...s, ...t, ...x].join(', ')} present`);

  const normalization: Record<string, ColumnStats> = {};
  const units: Record<string, string> = { ...(flags.units ?? {}) };
  // s
  const distance: Distance = flags.distance ?? (looksLonLat(s) ? 'great-circle' : 'euclidean');
  if (distance === 'great-circle') {
    if (s.length !== 2) throw new TableError(`${label}: great-circle distance needs two --s columns (longitude, latitude), got ${s.length}`);
    if (LAT.test(s[0]!) && LON.test(s[1]!)) throw new TableError(`${label}: --s lists latitude first; give longitude then latitude: --s ${s[1]},${s[0]}`);
    sVals.forEach((v, k) => {
      const lim = k === 0 ? 360 : 90;
      for (let i = 0; i < rows; i++) {
        if (Math.abs(v[i]!) > lim) throw new TableError(`${label}: row ${i + 1}, column '${s[k]}': ${v[i]} is not a ${k === 0 ? 'longitude' : 'latitude'} in degrees (great-circle distance); use --distance euclidean for projected coordinates`);
      }
    });
    units[s[0]!] ??= 'degrees longitude';
    units[s[1]!] ??= 'degrees latitude';
  } else if (s.length > 0) {
    const per = sVals.map((v) => zStats(v, keep));
    const pooled = Math.sqrt(per.reduce((a, st) => a + st.std * st.std, 0) / per.length) || 1;
    s.forEach((n, k) => { normalization[n] = { mean: per[k]!.mean, std: pooled }; });
  }
  // t
  t.forEach((n, k) => {
    normalization[n] = stepStats(tVals[k]!, keep);
    if (times[n]!.format === 'iso') units[n] ??= `${times[n]!.unit}s since 1970-01-01`;
  });
  // x
  const xDims: string[] = [];
  for (const c of xCols) {
    if ('numbers' in c && c.numbers) {
      xDims.push(c.name);
      normalization[c.name] = zStats(c.numbers, keep);
    } else if ('labels' in c && c.labels) {
      const cats = sortLabels(c.labels.filter((l, i): l is string => l !== null && keep(i)));
      categories[c.name] = cats;
      for (const k of cats) xDims.push(`${c.name}=${k}`);
    }
  }
  // f
  const fCol = getColumn(table, f[0]!, label);
  const categorical = flags.categorical === true || (f.length === 1 && isTextColumn(fCol));
  const transforms: Record<string, ValueTransform> = {};
  if (categorical) {
    if (f.length !== 1) throw new TableError(`${label}: a categorical output is one column, got ${f.join(', ')}`);
    if (flags.transforms && Object.keys(flags.transforms).length > 0) throw new TableError(`${label}: --transform applies to numeric outputs, '${f[0]}' is categorical`);
    const labels = labelsOf(table, f[0]!, label).filter((l, i): l is string => l !== null && keep(i));
    const cats = sortLabels(labels);
    if (cats.length < 2) throw new TableError(`${label}: categorical output '${f[0]}' needs at least 2 classes, got ${cats.length} (${cats.join(', ') || 'no values'})`);
    categories[f[0]!] = cats;
  } else {
    f.forEach((n) => {
      const col = getColumn(table, n, label);
      if (isTextColumn(col)) throw new TableError(`${label}: output '${n}' holds text; with several outputs every one must be numeric (a categorical output is modelled alone)`);
      const raw = numbersOf(table, n, label);
      const name = flags.transforms?.[n];
      let tr: ValueTransform | undefined;
      if (name !== undefined) {
        if (name === 'boxcox') {
          const pos: number[] = [];
          for (let i = 0; i < rows; i++) {
            if (!keep(i) || Number.isNaN(raw[i]!)) continue;
            if (!(raw[i]! > 0)) throw new TableError(`${label}: row ${i + 1}, column '${n}': boxcox needs positive values, got ${raw[i]}; use log1p for values >= 0`);
            pos.push(raw[i]!);
          }
          if (pos.length < 2) throw new TableError(`${label}: column '${n}': boxcox needs at least 2 observed values`);
          tr = { kind: 'boxcox', lambda: fitBoxCoxLambda(pos) };
        } else tr = { kind: name };
        transforms[n] = tr as ValueTransform;
      }
      const z = new Float64Array(rows);
      for (let i = 0; i < rows; i++) {
        const y = raw[i]!;
        if (Number.isNaN(y)) { z[i] = NaN; continue; }
        z[i] = forward(tr, y);
        if (tr && Number.isNaN(z[i]!) && keep(i)) {
          throw new TableError(`${label}: row ${i + 1}, column '${n}': the ${tr.kind} transform needs ${domainText(tr)}, got ${y}`);
        }
      }
      if (!z.some((v, i) => keep(i) && Number.isFinite(v))) throw new TableError(`${label}: output '${n}' has no observed values in complete rows`);
      normalization[n] = zStats(z, keep);
    });
  }
  return {
    columns: { x: xDims, s, t, f },
    units,
    distance,
    normalization,
    ...(Object.keys(categories).length > 0 ? { categories } : {}),
    ...(t.length > 0 ? { times } : {}),
    ...(Object.keys(transforms).length > 0 ? { transforms } : {}),
  };
}

/** Group dims and output the model for `schema` needs (categorical: classes from `categories`). */
export function schemaShape(schema: DataSchema): SchemaShape {
  const f = schema.columns.f;
  const cats = f.length === 1 ? schema.categories?.[f[0]!] : undefined;
  return {
    x: schema.columns.x.length,
    s: schema.columns.s.length,
    t: schema.columns.t.length,
    output: cats ? { kind: 'categorical', classes: cats.length } : { kind: 'gaussian', dims: f.length },
  };
}
