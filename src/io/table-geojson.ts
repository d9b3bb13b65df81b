/**
 * GeoJSON tables: a FeatureCollection (or one Feature) of Point features; each feature is a row,
 * its properties are columns (numbers, numeric text → number columns; other text → text; null →
 * missing), and its point gives the columns `lon`, `lat` (unless the properties already have
 * `lon` and `lat`, which are then used as they are). A missing geometry gives missing lon/lat.
 * The file is read whole (GeoJSON cannot be split into rows before it is parsed). Node only.
 */
import * as fs from 'node:fs';
import { type Table, TableError, makeTable } from '../data/table.js';
import { didYouMean } from '../models/config-checks.js';
import { ColumnBuilder } from './table-columns.js';

export interface GeoJsonTableOptions {
  label: string;
  columns?: readonly string[];
}

function describeJson(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** Reads a GeoJSON file of Point features into a table. */
export function readGeoJsonTable(file: string, options: GeoJsonTableOptions): Table {
  const { label } = options;
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new TableError(`${label}: not valid JSON (${(e as Error).message})`);
  }
  const o = doc as { type?: unknown; features?: unknown };
  let features: unknown[];
  if (o && typeof o === 'object' && o.type === 'FeatureCollection' && Array.isArray(o.features)) features = o.features;
  else if (o && typeof o === 'object' && o.type === 'Feature') features = [o];
  else throw new TableError(`${label}: expected a GeoJSON FeatureCollection of Point features, got ${o && typeof o === 'object' ? `type ${JSON.stringify(o.type)}` : describeJson(doc)}`);
  if (features.length === 0) throw new TableError(`${label} has no features`);
  const names: string[] = [];
  const index = new Map<string, number>();
  const props: Record<string, unknown>[] = [];
  const points: ([number, number] | null)[] = [];
  features.forEach((f, i) => {
    const feat = f as { type?: unknown; properties?: unknown; geometry?: unknown };
    if (!feat || typeof feat !== 'object' || feat.type !== 'Feature') throw new TableError(`${label}: features[${i}] is not a Feature`);
    const p = (feat.properties ?? {}) as Record<string, unknown>;
    if (typeof p !== 'object' || Array.isArray(p)) throw new TableError(`${label}: features[${i}].properties: expected an object, got ${describeJson(p)}`);
    for (const k of Object.keys(p)) if (!index.has(k)) { index.set(k, names.length); names.push(k); }
    props.push(p);
    const g = feat.geometry as { type?: unknown; coordinates?: unknown } | null | undefined;
    if (g === null || g === undefined) { points.push(null); return; }
    if (g.type !== 'Point') throw new TableError(`${label}: features[${i}] has a ${String(g.type)} geometry; only Point features can be rows (use their centroids)`);
    const c = g.coordinates;
    if (!Array.isArray(c) || c.length < 2 || typeof c[0] !== 'number' || typeof c[1] !== 'number') {
      throw new TableError(`${label}: features[${i}].geometry.coordinates: expected [lon, lat], got ${JSON.stringify(c)}`);
    }
    points.push([c[0], c[1]]);
  });
  const fromGeometry = !(index.has('lon') && index.has('lat'));
  const all = fromGeometry ? [...names.filter((n) => n !== 'lon' && n !== 'lat'), 'lon', 'lat'] : names;
  const wanted = options.columns ? [...options.columns] : all;
  const missing = wanted.filter((c) => !all.includes(c));
  if (missing.length > 0) {
    const hint = (c: string) => { const g = didYouMean(c, all); return g !== undefined ? ` (did you mean '${g}'?)` : ''; };
    throw new TableError(`${label}: no column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `'${c}'${hint(c)}`).join(', ')}; the features have: ${all.join(', ')}`);
  }
  const builders = wanted.map((n) => new ColumnBuilder(n));
  wanted.forEach((n, k) => {
    const b = builders[k]!;
    if (fromGeometry && (n === 'lon' || n === 'lat')) {
      for (const p of points) (p === null ? b.pushMissing() : b.pushNumber(p[n === 'lon' ? 0 : 1]));
      return;
    }
    props.forEach((p, i) => {
      const v = p[n];
      if (v === null || v === undefined) b.pushMissing();
      else if (typeof v === 'number') b.pushNumber(v);
      else if (typeof v === 'string') b.pushText(v);
      else if (typeof v === 'boolean') b.pushString(String(v));
      else throw new TableError(`${label}: features[${i}].properties.${n}: expected a number, text or null, got ${describeJson(v)}`);
    });
  });
  return makeTable(wanted, builders.map((b) => b.column()), label);
}
