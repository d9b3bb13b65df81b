/**
 * Fixtures for the table-training tests: a station × day table as users bring them (user column
 * names, lon/lat, ISO dates, a text covariate, missing values), written as CSV or Parquet.
 */
import * as fs from 'node:fs';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { Rng } from '../../src/engine/random.js';

export interface StationRow {
  site: string;
  longitude: number;
  latitude: number;
  day: string;
  landuse: string | null;
  elev: number;
  pm10: number | null;
}

/**
 * `stations` sites in south Germany over `days` days from 2024-03-01: pm10 = smooth field in space
 * × a daily factor, + noise; landuse text (urban/rural/forest); about 8 % of pm10 missing, one
 * landuse missing.
 */
export function stationRows(stations: number, days: number, seed = 1): StationRow[] {
  const rng = Rng.fromSeed(seed);
  const sites = Array.from({ length: stations }, (_, k) => ({
    site: `DE${String(k).padStart(3, '0')}`,
    lon: +(8 + 5 * rng.uniform()).toFixed(4), lat: +(47.5 + 3 * rng.uniform()).toFixed(4),
    landuse: ['urban', 'rural', 'forest'][k % 3]!, elev: Math.round(200 + 800 * rng.uniform()),
  }));
  const rows: StationRow[] = [];
  for (let d = 0; d < days; d++) {
    const date = new Date(Date.UTC(2024, 2, 1 + d)).toISOString().slice(0, 10);
    const daily = 1 + 0.5 * Math.sin(d / 2);
    for (const s of sites) {
      const field = 20 + 8 * Math.sin(s.lon) * Math.cos(2 * s.lat) + (s.landuse === 'urban' ? 6 : 0) - 0.005 * s.elev;
      const v = Math.max(1, field * daily + 2 * rng.normal());
      rows.push({
        site: s.site, longitude: s.lon, latitude: s.lat, day: date, landuse: s.landuse, elev: s.elev,
        pm10: rng.uniform() < 0.08 ? null : +v.toFixed(2),
      });
    }
  }
  rows[5]!.landuse = null;
  return rows;
}

export const STATION_COLUMNS = ['site', 'longitude', 'latitude', 'day', 'landuse', 'elev', 'pm10'] as const;

export function writeStationCsv(file: string, rows: readonly StationRow[]): void {
  const line = (r: StationRow) => STATION_COLUMNS.map((c) => (r[c] === null ? '' : String(r[c]))).join(',');
  fs.writeFileSync(file, `${STATION_COLUMNS.join(',')}\n${rows.map(line).join('\n')}\n`);
}

export function writeStationParquet(file: string, rows: readonly StationRow[]): void {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'site', data: rows.map((r) => r.site), type: 'STRING' },
      { name: 'longitude', data: rows.map((r) => r.longitude), type: 'DOUBLE' },
      { name: 'latitude', data: rows.map((r) => r.latitude), type: 'DOUBLE' },
      { name: 'day', data: rows.map((r) => r.day), type: 'STRING' },
      { name: 'landuse', data: rows.map((r) => r.landuse), type: 'STRING' },
      { name: 'elev', data: rows.map((r) => r.elev), type: 'DOUBLE' },
      { name: 'pm10', data: rows.map((r) => r.pm10), type: 'DOUBLE' },
    ],
  });
  fs.writeFileSync(file, new Uint8Array(buf));
}
