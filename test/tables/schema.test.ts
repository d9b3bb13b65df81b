/**
 * The data schema (models/data-schema.ts) and its API (data/schema): old model folders parse to the
 * very same object; fitted schemas round-trip through config.json; `fitSchema` learns what the data
 * says (checked by direct computation here); `encode` gives per-output masks, drops and counts
 * rows with missing inputs, and names bad values by row and column; ISO times parse like
 * `Date.parse` on valid text and reject the ambiguous.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  contextRows, encode, fitSchema, outputColumnNames, parseIsoMs, parseSchemaFlags, schemaShape, selectRows,
} from '../../src/data/schema/index.js';
import { TableError, makeTable, tableFromRecords } from '../../src/data/table.js';
import { ConfigError, MODEL_FOLDER_FORMAT_VERSION, parseModelFolderConfig } from '../../src/models/config.js';
import { modelForSchema } from '../../src/data/schema/index.js';
import { ROOT, SMALL_MODEL } from '../cli-predict/fixtures.js';

const rec = (rows: Record<string, unknown>[]) => tableFromRecords(rows);

describe('backward compatibility', () => {
  it('models/demo-gp2d loads to exactly the old data schema (no new fields appear)', () => {
    const json = JSON.parse(fs.readFileSync(path.join(ROOT, 'models/demo-gp2d/config.json'), 'utf8')) as { data: unknown };
    const c = parseModelFolderConfig(json);
    expect(Object.keys(c.data).sort()).toEqual(['columns', 'distance', 'normalization', 'units']);
    expect(c.data.columns).toEqual({ x: [], s: ['s0', 's1'], t: [], f: ['f'] });
    // Encoding the old numeric columns is the z-score of each column, as before.
    const t = rec([{ s0: 1.5, s1: -2, f: 0.25 }]);
    const e = encode(t, c.data);
    const n = c.data.normalization;
    const z = (v: number, k: string) => Math.fround((v - (n[k]?.mean ?? 0)) / (n[k]?.std ?? 1));
    expect(Array.from(e.coords.s!)).toEqual([z(1.5, 's0'), z(-2, 's1')]);
    expect(Array.from(e.f!)).toEqual([z(0.25, 'f')]);
    expect(outputColumnNames(c.data, 'gaussian')).toEqual(['f_mean', 'f_std', 'f_lo90', 'f_hi90']);
  });

  it('a fitted schema round-trips through config.json, and bad new fields are named', () => {
    const table = rec([
      { lon: 10, lat: 50, when: '2024-01-01', elev: 100, lu: 'a', y: 2 },
      { lon: 11, lat: 51, when: '2024-01-02T06:00Z', elev: 200, lu: 'b', y: 3 },
      { lon: 12, lat: 52, when: '2024-01-03', elev: 250, lu: 'a', y: 5 },
    ]);
    const schema = fitSchema(table, { s: ['lon', 'lat'], t: ['when'], x: ['elev', 'lu'], f: ['y'], transforms: { y: 'boxcox' }, timeUnit: 'hour' });
    const model = modelForSchema(schema, SMALL_MODEL);
    const json = JSON.parse(JSON.stringify({ formatVersion: MODEL_FOLDER_FORMAT_VERSION, model, data: schema, training: null }));
    expect(parseModelFolderConfig(json).data).toEqual(schema);
    const bad = structuredClone(json);
    bad.data.categories.lu = ['a', 'c'];
    expect(() => parseModelFolderConfig(bad)).toThrow(/config\.json\.data\.categories\.lu: expected columns\.x to hold the one-hot dimensions \["lu=a","lu=c"\] consecutively/);
    const bad2 = structuredClone(json);
    bad2.data.times.when.unit = 'fortnight';
    expect(() => parseModelFolderConfig(bad2)).toThrow(ConfigError);
    const bad3 = structuredClone(json);
    bad3.data.transforms = { y: { kind: 'sqrt' } };
    expect(() => parseModelFolderConfig(bad3)).toThrow(/data\.transforms\.y\.kind/);
  });
});

describe('fitSchema', () => {
  it('t: the unit is the median gap between distinct times (daily data: a day; irregular gaps: the median)', () => {
    // Daily dates over 3 years with duplicates (many stations a day): unit 1 day, not the 316-day std.
    const rows = [];
    for (let d = 0; d < 1096; d++) for (let k = 0; k < 3; k++) rows.push({ t: 10000 + d, f: k });
    const daily = fitSchema(rec(rows), { t: ['t'], f: ['f'] });
    expect(daily.normalization.t!.std).toBe(1);
    expect(daily.normalization.t!.mean).toBeCloseTo(10000 + 547.5, 9);
    // Gaps 1, 1, 5, 30, 30 (sorted distinct times 0, 1, 2, 7, 37, 67): median gap (index 2 of 5) = 5.
    const irregular = fitSchema(rec([0, 67, 1, 2, 7, 37, 2].map((t) => ({ t, f: 1 }))), { t: ['t'], f: ['f'] });
    expect(irregular.normalization.t!.std).toBe(5);
    // One distinct time: unit 1.
    expect(fitSchema(rec([{ t: 4, f: 1 }, { t: 4, f: 2 }]), { t: ['t'], f: ['f'] }).normalization.t!.std).toBe(1);
  });
  it('Euclidean s: per-dimension means and one pooled std; numeric x z-scored; t centred in time steps; the shape', () => {
    const table = rec([
      { e: 0, n: 0, t: 1, x: 5, f: 1 }, { e: 2, n: 10, t: 2, x: 7, f: 2 }, { e: 4, n: 20, t: 3, x: 9, f: 4 },
    ]);
    const s = fitSchema(table, { s: ['e', 'n'], t: ['t'], x: ['x'], f: ['f'] });
    const sdE = Math.sqrt(8 / 3), sdN = Math.sqrt(200 / 3);
    const pooled = Math.sqrt((sdE ** 2 + sdN ** 2) / 2);
    expect(s.distance).toBe('euclidean');
    expect(s.normalization.e!.mean).toBeCloseTo(2, 12);
    expect(s.normalization.n!.mean).toBeCloseTo(10, 12);
    expect(s.normalization.e!.std).toBeCloseTo(pooled, 12);
    expect(s.normalization.n!.std).toBeCloseTo(pooled, 12);
    expect(s.normalization.t!.mean).toBeCloseTo(2, 12);
    expect(s.normalization.t!.std).toBe(1); // times 1, 2, 3: one step
    expect(s.times).toEqual({ t: { format: 'number', unit: 'day' } });
    expect(schemaShape(s)).toEqual({ x: 1, s: 2, t: 1, output: { kind: 'gaussian', dims: 1 } });
  });

  it('a text output is categorical with sorted labels; outputs name their classes', () => {
    const table = rec([{ x: 1, cover: 'water' }, { x: 2, cover: 'forest' }, { x: 3, cover: 'urban' }, { x: 4, cover: null }]);
    const s = fitSchema(table, { x: ['x'], f: ['cover'] });
    expect(s.categories).toEqual({ cover: ['forest', 'urban', 'water'] });
    expect(schemaShape(s).output).toEqual({ kind: 'categorical', classes: 3 });
    expect(outputColumnNames(s, 'categorical', 3)).toEqual(['cover_p_forest', 'cover_p_urban', 'cover_p_water']);
    const e = encode(table, s);
    expect(Array.from(e.classes!)).toEqual([2, 0, 1, -1]);
    expect(Array.from(e.f!)).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(Array.from(e.observed!)).toEqual([1, 1, 1, 0]);
  });

  it('names problems: unknown column (did-you-mean), a column in two roles, lat before lon, a log of zero', () => {
    const table = rec([{ lon: 1, lat: 2, pm10: 0, elev: 3 }, { lon: 2, lat: 3, pm10: 4, elev: 5 }]);
    expect(() => fitSchema(table, { s: ['lon', 'lat'], f: ['pm01'] })).toThrow(/training data: no column 'pm01'; did you mean 'pm10'\?/);
    expect(() => fitSchema(table, { s: ['lon', 'lat'], x: ['lat'], f: ['pm10'] })).toThrow(/column 'lat' is named twice \(--s and --x\)/);
    expect(() => fitSchema(table, { s: ['lat', 'lon'], distance: 'great-circle', f: ['pm10'] })).toThrow(/--s lists latitude first; give longitude then latitude: --s lon,lat/);
    expect(() => fitSchema(table, { s: ['lon', 'lat'], f: ['pm10'], transforms: { pm10: 'log' } })).toThrow(/row 1, column 'pm10': the log transform needs positive values, got 0/);
    expect(() => fitSchema(table, { s: ['lon', 'lat'], f: ['pm10'], transforms: { pm10: 'boxcox' } })).toThrow(/row 1, column 'pm10': boxcox needs positive values, got 0; use log1p/);
    expect(fitSchema(table, { s: ['lon', 'lat'], f: ['pm10'], transforms: { pm10: 'log1p' } }).transforms).toEqual({ pm10: { kind: 'log1p' } });
  });

  it('parseSchemaFlags reads the command line forms and names bad ones', () => {
    expect(parseSchemaFlags({ s: 'lon,lat', t: 'time', x: 'elev,landuse', f: 'pm10,pm25', transform: 'pm10=log,pm25=boxcox', 'time-unit': 'hour', distance: 'euclidean' })).toEqual({
      s: ['lon', 'lat'], t: ['time'], x: ['elev', 'landuse'], f: ['pm10', 'pm25'], transforms: { pm10: 'log', pm25: 'boxcox' }, timeUnit: 'hour', distance: 'euclidean',
    });
    expect(() => parseSchemaFlags({ s: 'lon,lat' })).toThrow(/--f: name the output column/);
    expect(() => parseSchemaFlags({ f: 'y', transform: 'y=sqrt' })).toThrow(/--transform: expected COLUMN=log\|log1p\|boxcox, got 'y=sqrt'/);
    expect(() => parseSchemaFlags({ f: 'y', 'time-unit': 'week' })).toThrow(/--time-unit: expected one of day, hour, minute, second, year, got 'week'/);
    expect(() => parseSchemaFlags({ f: 'y,,z' })).toThrow(/--f: expected comma-separated column names/);
  });
});

describe('encode', () => {
  const train = rec([
    { a: 0, b: 0, lu: 'x', y1: 1, y2: 10 }, { a: 1, b: 1, lu: 'y', y1: 2, y2: 20 }, { a: 2, b: 2, lu: 'x', y1: 3, y2: 30 },
  ]);
  const schema = fitSchema(train, { s: ['a', 'b'], x: ['lu'], f: ['y1', 'y2'], distance: 'euclidean' });

  it('two outputs: per-output observed mask; only fully observed rows are context; missing inputs drop rows', () => {
    const t = rec([
      { a: 0, b: 0, lu: 'x', y1: 1, y2: 'NA' },
      { a: 1, b: null, lu: 'y', y1: 2, y2: 20 },
      { a: 2, b: 2, lu: 'y', y1: null, y2: null },
      { a: 3, b: 3, lu: 'x', y1: 4, y2: 40 },
      { a: 4, b: 4, lu: null, y1: 4, y2: 40 },
    ]);
    const e = encode(t, schema, { label: 'ctx' });
    expect(e.n).toBe(3);
    expect(Array.from(e.rowIndex)).toEqual([0, 2, 3]);
    expect(e.dropped).toBe(2);
    expect(e.firstDropped).toEqual({ row: 2, column: 'b' });
    expect(Array.from(e.observed!)).toEqual([1, 0, 0, 0, 1, 1]);
    expect(Array.from(contextRows(e))).toEqual([2]);
    expect(Array.from(e.coords.x!)).toEqual([1, 0, 0, 1, 1, 0]);
    const y2 = schema.normalization.y2!;
    expect(e.f![5]).toBeCloseTo((40 - y2.mean) / y2.std, 6);
    expect(e.f![1]).toBe(0);
    const sub = selectRows(e, [2]);
    expect(Array.from(sub.rowIndex)).toEqual([3]);
    expect(Array.from(sub.coords.s!)).toEqual(Array.from(e.coords.s!.subarray(4, 6)));
    expect(() => encode(t, schema, { label: 'ctx', strict: true })).toThrow(/ctx: row 2, column 'b': the value is missing/);
    expect(() => encode(t, schema, { label: 'ctx', strict: true, rowOffset: 100 })).toThrow(/ctx: row 102, column 'b'/);
  });

  it('targets without output columns encode inputs only; unseen categories and text numbers are named', () => {
    const e = encode(rec([{ a: 5, b: 6, lu: 'y' }]), schema, { label: 'targets' });
    expect(e.f).toBeNull();
    expect(e.observed).toBeNull();
    expect(() => encode(rec([{ a: 5, b: 6, lu: 'z' }]), schema, { label: 'targets' })).toThrow(/targets: row 1, column 'lu': category 'z' was not in the training data \(known: x, y\)/);
    expect(() => encode(rec([{ a: 5, b: 'six', lu: 'x' }]), schema, { label: 'targets' })).toThrow(/targets: row 1, column 'b': expected a number, got 'six'/);
    expect(() => encode(makeTable(['a', 'lu'], [{ kind: 'number', values: new Float64Array(1) }, { kind: 'text', values: ['x'] }]), schema, { label: 'targets' }))
      .toThrow(TableError);
  });
});

describe('ISO 8601 times', () => {
  it('parses like Date.parse on valid text (dates, times, fractions, zones; no zone = UTC)', () => {
    for (const [text, iso] of [
      ['2024-01-05', '2024-01-05T00:00:00Z'], ['2024-01-05T10:30', '2024-01-05T10:30:00Z'], ['2024-01-05 10:30:15.5Z', '2024-01-05T10:30:15.5Z'],
      ['2024-01-05T10:30:00+01:00', '2024-01-05T10:30:00+01:00'], ['2024-02-29T23:59:59-0530', '2024-02-29T23:59:59-05:30'], ['1969-12-31', '1969-12-31T00:00:00Z'],
    ] as const) expect(parseIsoMs(text), text).toBe(Date.parse(iso));
  });
  it('rejects ambiguous or impossible dates', () => {
    for (const text of ['05/01/2024', '2024-13-01', '2023-02-29', '2024-1-5', 'yesterday', '2024-01-05T25:00']) expect(parseIsoMs(text), text).toBeNaN();
  });
});
