/**
 * Polygon masks for `predict --grid ... --mask region.geojson` (no Node built-ins).
 *
 * The mask is the union of every Polygon and MultiPolygon in a GeoJSON object (a geometry, a
 * Feature, a FeatureCollection or a GeometryCollection), with coordinates in the model's own
 * coordinate columns ([x, y] = [lon, lat] for lon/lat models). Within one polygon the rings
 * (outer ring and holes) combine by the even-odd rule, found by ray casting: a point is inside when
 * a ray from it crosses the polygon's rings an odd number of times, so holes are respected and
 * ring orientation does not matter. Polygons are closed sets: a point exactly on any ring's edge
 * (outer ring or hole) counts as inside. Polygons combine by union (nonzero across polygons).
 */
import { UserError } from './errors.js';

type Ring = Float64Array; // x0, y0, x1, y1, ... (closed or not; the closing edge is implied)

export interface Polygon {
  rings: Ring[];
  /** Bounding box of the outer ring: minX, minY, maxX, maxY. */
  box: [number, number, number, number];
}

function ringOf(value: unknown, where: string): Ring {
  if (!Array.isArray(value) || value.length < 3) throw new UserError(`${where}: expected a ring of at least 3 [x, y] positions, got ${JSON.stringify(value)?.slice(0, 80)}`);
  const out = new Float64Array(value.length * 2);
  value.forEach((p: unknown, i) => {
    if (!Array.isArray(p) || p.length < 2 || typeof p[0] !== 'number' || typeof p[1] !== 'number' || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
      throw new UserError(`${where}, position ${i}: expected [x, y] numbers, got ${JSON.stringify(p)}`);
    }
    out[2 * i] = p[0];
    out[2 * i + 1] = p[1];
  });
  return out;
}

function polygonOf(coords: unknown, where: string): Polygon {
  if (!Array.isArray(coords) || coords.length === 0) throw new UserError(`${where}: expected an array of rings (outer ring, then holes), got ${JSON.stringify(coords)?.slice(0, 80)}`);
  const rings = coords.map((r, i) => ringOf(r, `${where}, ring ${i}`));
  const outer = rings[0]!;
  const box: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < outer.length; i += 2) {
    box[0] = Math.min(box[0], outer[i]!);
    box[1] = Math.min(box[1], outer[i + 1]!);
    box[2] = Math.max(box[2], outer[i]!);
    box[3] = Math.max(box[3], outer[i + 1]!);
  }
  return { rings, box };
}

/** Every polygon of a parsed GeoJSON object; `label` names the file in errors. */
export function polygonsOf(json: unknown, label: string): Polygon[] {
  const out: Polygon[] = [];
  const visit = (g: unknown, where: string): void => {
    if (g === null || typeof g !== 'object') throw new UserError(`${where}: expected a GeoJSON object, got ${JSON.stringify(g)?.slice(0, 80)}`);
    const o = g as { type?: unknown; coordinates?: unknown; geometry?: unknown; features?: unknown; geometries?: unknown };
    switch (o.type) {
      case 'Polygon': out.push(polygonOf(o.coordinates, where)); return;
      case 'MultiPolygon':
        if (!Array.isArray(o.coordinates)) throw new UserError(`${where}: MultiPolygon coordinates must be an array of polygons`);
        o.coordinates.forEach((p, i) => out.push(polygonOf(p, `${where}, polygon ${i}`)));
        return;
      case 'Feature': if (o.geometry !== null) visit(o.geometry, `${where} (feature geometry)`); return;
      case 'FeatureCollection':
        if (!Array.isArray(o.features)) throw new UserError(`${where}: a FeatureCollection needs a 'features' array`);
        o.features.forEach((f, i) => visit(f, `${label}, feature ${i}`));
        return;
      case 'GeometryCollection':
        if (!Array.isArray(o.geometries)) throw new UserError(`${where}: a GeometryCollection needs a 'geometries' array`);
        o.geometries.forEach((f, i) => visit(f, `${where}, geometry ${i}`));
        return;
      case 'Point': case 'MultiPoint': case 'LineString': case 'MultiLineString': return;
      default: throw new UserError(`${where}: unknown GeoJSON type ${JSON.stringify(o.type)}; expected Polygon, MultiPolygon, Feature or FeatureCollection`);
    }
  };
  visit(json, label);
  if (out.length === 0) throw new UserError(`${label}: no Polygon or MultiPolygon found; a mask needs at least one polygon`);
  return out;
}

/** Whether (px, py) lies on the segment a–b (within rounding of the coordinates' magnitude). */
function onSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): boolean {
  if (px < Math.min(ax, bx) || px > Math.max(ax, bx) || py < Math.min(ay, by) || py > Math.max(ay, by)) return false;
  const cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax);
  const scale = Math.max(Math.abs(bx - ax), Math.abs(by - ay)) * Math.max(1, Math.abs(px), Math.abs(py));
  return Math.abs(cross) <= 1e-12 * scale;
}

/** Even-odd ray casting over all rings of one polygon; boundary points are inside. */
export function insidePolygon(poly: Polygon, px: number, py: number): boolean {
  const [x0, y0, x1, y1] = poly.box;
  if (px < x0 || px > x1 || py < y0 || py > y1) return false;
  let inside = false;
  for (const ring of poly.rings) {
    const n = ring.length / 2;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const ax = ring[2 * j]!;
      const ay = ring[2 * j + 1]!;
      const bx = ring[2 * i]!;
      const by = ring[2 * i + 1]!;
      if (onSegment(px, py, ax, ay, bx, by)) return true;
      // Half-open rule on y (a vertex is counted for exactly one of its two edges).
      if ((ay > py) !== (by > py) && px < ax + ((py - ay) * (bx - ax)) / (by - ay)) inside = !inside;
    }
  }
  return inside;
}

/** Whether (px, py) is in the union of `polys`. */
export function insideAny(polys: readonly Polygon[], px: number, py: number): boolean {
  for (const p of polys) if (insidePolygon(p, px, py)) return true;
  return false;
}
