/**
 * Fixtures for the user-table tests: a small sensor-network data set with the user's own column
 * names (station ids, lon/lat, ISO dates, elevation, a text land-use covariate, pm10 with gaps),
 * writers for it as CSV text and Parquet (hyparquet-writer, an independent writer), and a random
 * model folder whose data schema is fitted to it.
 */
import * as fs from 'node:fs';
import { parquetWriteFile } from 'hyparquet-writer';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import { MODEL_FOLDER_FORMAT_VERSION, parseModelFolderConfig, type DataSchema, type ModelConfig, type ModelFolderConfig } from '../../src/models/config.js';
import { modelForSchema } from '../../src/data/schema/index.js';
import { saveModelFolder, type Weights } from '../../src/train/checkpoint.js';
import { SMALL_MODEL } from '../cli-predict/fixtures.js';

/** One row of the station data; null = missing. */
export interface StationRow {
  station: string;
  lon: number | null;
  lat: number | null;
  time: string | null;
  elev: number | null;
  landuse: string | null;
  pm10: number | null;
}

export const LANDUSE = ['forest', 'rural', 'urban'] as const;

/**
 * `n` observations at 8 stations over a few days, pm10 log-normal-ish. With `withBadRows` (n ≥ 11):
 * two gaps in pm10 (rows 4 and 11), one row without a latitude (row 6, to be dropped) and an exact
 * duplicate of row 8 at the end.
 */
export function stationRows(n: number, seed: number, withBadRows = true): StationRow[] {
  const rng = Rng.fromSeed(seed);
  const stations = Array.from({ length: 8 }, (_, i) => ({
    id: `st${String(i + 1).padStart(2, '0')}`,
    lon: 5 + 10 * rng.uniform(),
    lat: 45 + 8 * rng.uniform(),
    elev: Math.round(50 + 900 * rng.uniform()),
    landuse: LANDUSE[i % 3]!,
  }));
  const rows: StationRow[] = [];
  for (let i = 0; i < n; i++) {
    const st = stations[i % stations.length]!;
    const day = 1 + Math.floor(rng.uniform() * 20);
    const hour = Math.floor(rng.uniform() * 24);
    const time = hour === 0 ? `2024-03-${String(day).padStart(2, '0')}` : `2024-03-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00Z`;
    const pm10 = Math.exp(2.5 + 0.3 * Math.sin(st.lon) + 0.2 * rng.normal()) ;
    rows.push({ station: st.id, lon: st.lon, lat: st.lat, time, elev: st.elev, landuse: st.landuse, pm10: Math.round(pm10 * 100) / 100 });
  }
  if (withBadRows) {
    rows[3]!.pm10 = null;
    rows[10]!.pm10 = null;
    rows[5]!.lat = null;
    rows.push({ ...rows[7]! });
  }
  return rows;
}

const COLUMNS = ['station', 'lon', 'lat', 'time', 'elev', 'landuse', 'pm10'] as const;

/** CSV text; missing values written as `missing` (default empty; also try NA, NaN, null). */
export function stationCsv(rows: readonly StationRow[], options: { missing?: string; columns?: readonly (keyof StationRow)[]; delimiter?: string } = {}): string {
  const cols = options.columns ?? COLUMNS;
  const d = options.delimiter ?? ',';
  const cell = (v: string | number | null) => (v === null ? options.missing ?? '' : typeof v === 'string' && v.includes(d) ? `"${v}"` : String(v));
  return `${cols.join(d)}\n${rows.map((r) => cols.map((c) => cell(r[c])).join(d)).join('\n')}\n`;
}

/** Writes the rows as Parquet with hyparquet-writer: doubles, strings and a TIMESTAMP column. */
export function writeStationParquet(file: string, rows: readonly StationRow[], columns: readonly (keyof StationRow)[] = COLUMNS, rowGroupSize?: number): void {
  const num = (c: keyof StationRow) => rows.map((r) => r[c] as number | null);
  const columnData = columns.map((c) => {
    if (c === 'time') return { name: c, data: rows.map((r) => (r.time === null ? null : new Date(r.time.length === 10 ? `${r.time}T00:00:00Z` : r.time))), type: 'TIMESTAMP' as const, nullable: true };
    if (c === 'station' || c === 'landuse') return { name: c, data: rows.map((r) => r[c] as string | null), type: 'STRING' as const, nullable: true };
    return { name: c, data: num(c), type: 'DOUBLE' as const, nullable: true };
  });
  parquetWriteFile({ filename: file, columnData, ...(rowGroupSize !== undefined ? { rowGroupSize } : {}) });
}

/** A model folder's config whose model is a BSA-TNP (what `writeSchemaModel` writes). */
export type BsaFolderConfig = ModelFolderConfig & { readonly model: ModelConfig };

/** Writes a random model folder for `schema` (the small trunk of the predict tests); returns its config. */

export async function writeSchemaModel(folder: string, schema: DataSchema, seed = 1): Promise<BsaFolderConfig> {
  const model = modelForSchema(schema, SMALL_MODEL);
  const config = parseModelFolderConfig(JSON.parse(JSON.stringify({ formatVersion: MODEL_FOLDER_FORMAT_VERSION, model, data: schema, training: null })));
  const specs = new BsaTnp(model).specs(Rng.fromSeed(seed));
  const weights: Weights = new Map(specs.map((s) => [s.name, { shape: [...s.shape], data: s.init }]));
  await saveModelFolder(folder, config, weights);
  return config as BsaFolderConfig;
}

export function writeText(file: string, text: string): string {
  fs.writeFileSync(file, text);
  return file;
}
