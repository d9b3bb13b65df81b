/**
 * GeoTIFF maps of predictions, written with the `geotiff` package's writer (`writeArrayBuffer`)
 * and read back with its reader (`fromArrayBuffer`; `bsa-tnp merge` uses it for GeoTIFF shards).
 *
 * What we write: one strip, uncompressed, big-endian, Float32 samples, one band per output column
 * (f_mean, f_std, f_lo90, f_hi90 per value column, in the CSV's order; class probabilities for
 * categorical models), pixel-interleaved, north-up (first image row = largest y). Georeferencing:
 * ModelPixelScale (dx, dy) + ModelTiepoint (pixel corner (0,0) → west, north edge) with
 * GTRasterTypeGeoKey = PixelIsArea, so pixel centres are the CSV's grid points (raster.ts). CRS:
 * EPSG:4326 for models on lon/lat (great-circle distance), the user's --crs EPSG:code, or none.
 * NoData is NaN (GDAL_NODATA "nan") for masked cells. The band names and the grid go in
 * ImageDescription as JSON ({"bsaTnp":1,"bands":[...],"grid":{...},"rows":[r0,r1]}).
 *
 * The writer's limits, worked around here: it lays out tags in a fixed 1000-byte header (we keep
 * to far less: at most 64 bands), writes no compression, converts samples one at a time (too slow
 * for big grids: see encodeGeoTiff), and with no CRS keys given it would
 * default to EPSG:4326 over the whole globe (we always give the georeferencing and say "no CRS"
 * explicitly).
 */
import { fromArrayBuffer, writeArrayBuffer, type GeotiffWriterMetadata } from 'geotiff';
import { type GridSpec, rasterEdges, cellSize } from '../api/raster.js';
import { type Crs } from '../api/crs.js';
import { UserError } from '../api/errors.js';

export const MAX_GEOTIFF_BANDS = 64;

export interface GeoTiffInput {
  grid: GridSpec;
  /** Grid rows [r0, r1) held in `bands` (default: the whole grid). */
  r0?: number;
  r1?: number;
  names: readonly string[];
  /** One per name, (r1 − r0)·width long, grid.ts order (row 0 = the smallest y). NaN = NoData. */
  bands: readonly Float32Array[];
  crs: Crs | null;
}

/** Header JSON stored in ImageDescription. */
export interface GeoTiffDescription {
  bsaTnp: 1;
  bands: string[];
  grid: GridSpec;
  rows: [number, number];
}

/** Encodes a GeoTIFF (see the file comment). */
export function encodeGeoTiff(input: GeoTiffInput): Uint8Array {
  const { grid, names, bands } = input;
  const r0 = input.r0 ?? 0;
  const r1 = input.r1 ?? grid.height;
  const W = grid.width;
  const H = r1 - r0;
  const B = bands.length;
  if (B !== names.length) throw new Error(`encodeGeoTiff: ${names.length} band names but ${B} bands`);
  if (B < 2 || B > MAX_GEOTIFF_BANDS) throw new UserError(`GeoTIFF: expected 2 to ${MAX_GEOTIFF_BANDS} output columns (bands), got ${B}; write CSV instead`);
  if (H < 1) throw new Error(`encodeGeoTiff: expected at least one row, got rows ${r0}..${r1}`);
  bands.forEach((b, i) => {
    if (b.length !== W * H) throw new Error(`encodeGeoTiff: band '${names[i]}' has ${b.length} values, expected ${W}x${H}`);
  });
  const { dx, dy } = cellSize(grid);
  const edges = rasterEdges(grid, r0, r1);
  const description: GeoTiffDescription = { bsaTnp: 1, bands: [...names], grid: { x0: grid.x0, x1: grid.x1, y0: grid.y0, y1: grid.y1, width: grid.width, height: grid.height }, rows: [r0, r1] };
  const meta: GeotiffWriterMetadata & Record<string, unknown> = {
    width: W,
    height: H,
    BitsPerSample: names.map(() => 32),
    SampleFormat: names.map(() => 3),
    SamplesPerPixel: B,
    PhotometricInterpretation: 1,
    PlanarConfiguration: 1,
    ExtraSamples: names.slice(1).map(() => 0),
    ModelPixelScale: [dx, dy, 0],
    ModelTiepoint: [0, 0, 0, edges.west, edges.north, 0],
    GTRasterTypeGeoKey: 1,
    GDAL_NODATA: 'nan',
    ImageDescription: JSON.stringify(description),
    StripByteCounts: [W * H * B * 4],
  };
  if (input.crs === null) {
    // Present but undefined: the writer then adds no CRS keys instead of its EPSG:4326 default.
    meta.GeographicTypeGeoKey = undefined;
  } else if (input.crs.geographic) {
    meta.GTModelTypeGeoKey = 2;
    meta.GeographicTypeGeoKey = input.crs.epsg;
  } else {
    meta.GTModelTypeGeoKey = 1;
    meta.ProjectedCSTypeGeoKey = input.crs.epsg;
  }
  // The writer stores samples one DataView at a time (17 s for 1024x1024x4 on our CI machine), so
  // it lays out the header and tags for a one-value stand-in (StripByteCounts is given above) and
  // we put the strip where that value went: the end of its output.
  const head = new Uint8Array(writeArrayBuffer(new Float32Array(1), meta));
  const dataAt = head.length - 4;
  const out = new Uint8Array(dataAt + W * H * B * 4);
  out.set(head.subarray(0, dataAt));
  const view = new DataView(out.buffer);
  // Pixel-interleaved, big-endian (the writer's byte order), first image row = north = last grid row.
  let p = dataAt;
  for (let ir = 0; ir < H; ir++) {
    const src = (H - 1 - ir) * W;
    for (let c = 0; c < W; c++) {
      for (let b = 0; b < B; b++, p += 4) view.setFloat32(p, bands[b]![src + c]!, false);
    }
  }
  return out;
}

export interface DecodedGeoTiff {
  width: number;
  height: number;
  /** Bands in grid.ts order (row 0 = the smallest y). */
  bands: Float32Array[];
  description: GeoTiffDescription | null;
  /** West and north outer edges, and pixel size. */
  origin: [number, number];
  resolution: [number, number];
  noData: number | null;
  geoKeys: Record<string, unknown>;
}

/** Reads a GeoTIFF with the `geotiff` reader; bands come back south-up, like grid.ts. */
export async function decodeGeoTiff(bytes: Uint8Array, label: string): Promise<DecodedGeoTiff> {
  let tiff;
  try {
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    tiff = await fromArrayBuffer(buf);
  } catch (e) {
    throw new UserError(`${label}: not a readable GeoTIFF (${(e as Error).message})`);
  }
  const image = await tiff.getImage();
  const width = image.getWidth();
  const height = image.getHeight();
  const rasters = await image.readRasters({ interleave: false }) as unknown as ArrayLike<number>[];
  const bands = Array.from(rasters, (r) => {
    const out = new Float32Array(width * height);
    for (let ir = 0; ir < height; ir++) {
      const dst = (height - 1 - ir) * width;
      for (let c = 0; c < width; c++) out[dst + c] = r[ir * width + c]!;
    }
    return out;
  });
  const text = (await image.fileDirectory.loadValue('ImageDescription')) as unknown;
  let description: GeoTiffDescription | null = null;
  if (typeof text === 'string') {
    try {
      const j = JSON.parse(text.replace(/\0+$/, '')) as GeoTiffDescription;
      if (j && j.bsaTnp === 1) description = j;
    } catch {
      description = null;
    }
  }
  const origin = image.getOrigin();
  const res = image.getResolution();
  return {
    width, height, bands, description,
    origin: [origin[0]!, origin[1]!],
    resolution: [res[0]!, Math.abs(res[1]!)],
    noData: image.getGDALNoData(),
    geoKeys: (image.getGeoKeys() ?? {}) as Record<string, unknown>,
  };
}
