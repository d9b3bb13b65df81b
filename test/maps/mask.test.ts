import { describe, expect, it } from 'vitest';
import { insideAny, insidePolygon, polygonsOf } from '../../src/api/mask.js';

// Hand-constructed cases: each expectation below is worked out by eye from the drawn shapes.
const square = { type: 'Polygon', coordinates: [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]] };
const withHole = { type: 'Polygon', coordinates: [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [1, 3], [3, 3], [3, 1], [1, 1]]] };
// An L shape (concave), counter-clockwise, not closed explicitly.
const ell = { type: 'Polygon', coordinates: [[[0, 0], [3, 0], [3, 1], [1, 1], [1, 3], [0, 3]]] };

describe('point in polygon (ray casting, even-odd within a polygon, union across polygons)', () => {
  it('inside, outside and on the edges and vertices of a square', () => {
    const [p] = polygonsOf(square, 'sq');
    expect(insidePolygon(p!, 2, 2)).toBe(true);
    expect(insidePolygon(p!, 5, 2)).toBe(false);
    expect(insidePolygon(p!, -0.001, 2)).toBe(false);
    for (const [x, y] of [[0, 2], [4, 2], [2, 0], [2, 4], [0, 0], [4, 4], [4, 0]]) expect(insidePolygon(p!, x!, y!), `${x},${y}`).toBe(true);
  });

  it('respects holes; a hole edge belongs to the polygon', () => {
    const [p] = polygonsOf(withHole, 'hole');
    expect(insidePolygon(p!, 2, 2)).toBe(false); // in the hole
    expect(insidePolygon(p!, 0.5, 2)).toBe(true); // in the frame
    expect(insidePolygon(p!, 3.5, 3.5)).toBe(true);
    expect(insidePolygon(p!, 1, 2)).toBe(true); // on the hole's edge
    expect(insidePolygon(p!, 3, 3)).toBe(true); // on the hole's vertex
  });

  it('concave polygons and rays through vertices', () => {
    const [p] = polygonsOf(ell, 'ell');
    expect(insidePolygon(p!, 0.5, 2.5)).toBe(true);
    expect(insidePolygon(p!, 2, 0.5)).toBe(true);
    expect(insidePolygon(p!, 2, 2)).toBe(false); // the notch
    // Horizontal rays through the vertex (1, 1) and (3, 1), from outside and inside.
    expect(insidePolygon(p!, -1, 1)).toBe(false);
    expect(insidePolygon(p!, 0.5, 1)).toBe(true);
    expect(insidePolygon(p!, 2, 1)).toBe(true); // on the edge y = 1
    expect(insidePolygon(p!, 3.5, 1)).toBe(false);
    // Ray through the top vertex (0, 3) level.
    expect(insidePolygon(p!, -0.5, 3)).toBe(false);
  });

  it('multipolygons and feature collections are unions', () => {
    const multi = { type: 'MultiPolygon', coordinates: [square.coordinates, [[[10, 10], [12, 10], [11, 12], [10, 10]]]] };
    const fc = { type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: multi }, { type: 'Feature', properties: {}, geometry: ell }] };
    const polys = polygonsOf(fc, 'fc');
    expect(polys.length).toBe(3);
    expect(insideAny(polys, 11, 11)).toBe(true);
    expect(insideAny(polys, 11.1, 11.9)).toBe(false); // the triangle is 11 ± 0.05 wide at y = 11.9
    expect(insideAny(polys, 11.05, 11.8)).toBe(true); // and 11 ± 0.1 wide at y = 11.8
    expect(insideAny(polys, 2, 2)).toBe(true);
    expect(insideAny(polys, 8, 8)).toBe(false);
    // Overlapping polygons (the L inside the square) stay inside: union, not even-odd across polygons.
    expect(insideAny(polys, 0.5, 0.5)).toBe(true);
  });

  it('names the problem in bad GeoJSON', () => {
    expect(() => polygonsOf({ type: 'Point', coordinates: [1, 2] }, 'm.geojson')).toThrow("m.geojson: no Polygon or MultiPolygon found; a mask needs at least one polygon");
    expect(() => polygonsOf({ type: 'Polygon', coordinates: [[[0, 0], [1, 'a'], [1, 1]]] }, 'm.geojson')).toThrow('m.geojson, ring 0, position 1: expected [x, y] numbers, got [1,"a"]');
    expect(() => polygonsOf({ type: 'Polygn' }, 'm.geojson')).toThrow('m.geojson: unknown GeoJSON type "Polygn"; expected Polygon, MultiPolygon, Feature or FeatureCollection');
  });
});
