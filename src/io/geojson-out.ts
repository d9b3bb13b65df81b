/**
 * GeoJSON output for `predict --out pred.geojson` (Node only): a FeatureCollection of Point
 * features, one per target, written row by row through a temporary file and renamed into place
 * on close (an error leaves no partial file), like the CSV writer.
 *
 * Geometry: the two point columns (`xy`, e.g. [lon, lat]; RFC 7946 assumes WGS 84). For other
 * models the coordinates are written as given (not WGS 84; GIS tools will need to be told the
 * CRS). Properties: every other column in order (carried target columns such as station ids, other
 * inputs such as time, then the outputs f_mean, f_std, f_lo90, f_hi90, ...): numbers in the CSV's
 * shortest form, text as JSON strings, missing values as null.
 */
import { AtomicTextFile } from './atomic-text.js';
import { formatNumber } from './csv.js';

export class GeoJsonWriter {
  private first = true;

  private constructor(private readonly out: AtomicTextFile, readonly header: readonly string[],
    private readonly xy: readonly [number, number]) {}

  get file(): string {
    return this.out.file;
  }

  /** `header`: all columns; `xy`: the indices of the point's x and y in it. */
  static open(file: string, header: readonly string[], xy: readonly [number, number]): GeoJsonWriter {
    const w = new GeoJsonWriter(AtomicTextFile.open(file), header, xy);
    w.push('{"type":"FeatureCollection","features":[\n');
    return w;
  }

  private push(s: string): void {
    this.out.push(s);
  }

  writeCells(row: readonly (number | string | null)[]): void {
    const h = this.header;
    const [xi, yi] = this.xy;
    const cell = (v: number | string | null | undefined) => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' && Number.isFinite(v) ? formatNumber(v) : 'null');
    let props = '';
    for (let i = 0; i < h.length; i++) {
      if (i === xi || i === yi) continue;
      props += `${props === '' ? '' : ','}${JSON.stringify(h[i])}:${cell(row[i])}`;
    }
    this.push(`${this.first ? '' : ',\n'}{"type":"Feature","geometry":{"type":"Point","coordinates":[${cell(row[xi])},${cell(row[yi])}]},"properties":{${props}}}`);
    this.first = false;
  }

  close(): void {
    if (this.out.closed) return;
    this.push('\n]}\n');
    this.out.close();
  }

  abort(): void {
    this.out.abort();
  }
}
