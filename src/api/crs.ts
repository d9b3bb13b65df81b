/**
 * Which coordinate reference system a map is tagged with (no Node built-ins): EPSG:4326 (WGS 84
 * lon/lat) when the model measures great-circle distance on (lon°, lat°), a user's
 * `--crs EPSG:code`, or none (plain x/y: the file is georeferenced in the data's own units).
 *
 * Without a CRS database we cannot tell a geographic code from a projected one, so the codes below
 * (common geographic 2-D CRSs) are written as geographic and every other code as projected.
 */
import { UserError } from './errors.js';

export interface Crs {
  epsg: number;
  geographic: boolean;
}

/** EPSG codes written as geographic (lon/lat) CRSs: WGS 84, NAD83, ETRS89, GDA94, GDA2020, NAD27, ... */
export const GEOGRAPHIC_EPSG: ReadonlySet<number> = new Set([4326, 4269, 4258, 4283, 7844, 4267, 4230, 4674, 4617, 4148, 4167, 4612, 6668, 4490, 4979]);

/** Parses "EPSG:32633" (or a bare code). `flag` names the option in errors. */
export function parseCrs(text: string, flag = '--crs'): Crs {
  const m = /^\s*(?:EPSG:)?(\d{4,6})\s*$/i.exec(text);
  if (!m) throw new UserError(`${flag}: expected an EPSG code such as EPSG:4326 or EPSG:32633, got '${text}'`);
  const epsg = Number(m[1]);
  if (epsg > 65535) throw new UserError(`${flag}: EPSG codes above 65535 do not fit a GeoTIFF key, got ${epsg}`);
  return { epsg, geographic: GEOGRAPHIC_EPSG.has(epsg) };
}

/** The CRS for a model: the user's choice, else EPSG:4326 for great-circle models, else none. */
export function crsFor(distance: 'euclidean' | 'great-circle', user: Crs | null): Crs | null {
  if (user) return user;
  return distance === 'great-circle' ? { epsg: 4326, geographic: true } : null;
}
