/**
 * GeoJSON output for `predict --out pred.geojson` (Node only): a FeatureCollection of Point
 * features, one per target, written row by row through a temporary file and renamed into place
 * on close (an error leaves no partial file), like the CSV writer.
 *
 * Geometry: [first coordinate column, second] = [lon, lat] for lon/lat models (RFC 7946 assumes
 * WGS 84). For other models the coordinates are written as given (not WGS 84; GIS tools will need
 * to be told the CRS). Properties: any further coordinate columns (e.g. time) and every output
 * column (f_mean, f_std, f_lo90, f_hi90, ...), as numbers in the CSV's shortest form.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatNumber } from './csv.js';
import { fsyncDir } from '../train/atomic.js';
import { UserError } from '../api/errors.js';

let counter = 0;

export class GeoJsonWriter {
  private parts: string[] = [];
  private size = 0;
  private first = true;
  private closed = false;

  private constructor(readonly file: string, private readonly tmp: string, private readonly fd: number, readonly header: readonly string[]) {}

  /** `header`: coordinate columns then output columns; the first two are the point's x and y. */
  static open(file: string, header: readonly string[], coordinates: number): GeoJsonWriter {
    if (coordinates < 2) throw new UserError(`GeoJSON output '${file}': needs at least 2 coordinate columns for Point geometry, the model has ${coordinates}; write CSV instead`);
    const abs = path.resolve(file);
    const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.tmp-${process.pid}-${counter++}`);
    const fd = fs.openSync(tmp, 'w');
    const w = new GeoJsonWriter(abs, tmp, fd, header);
    w.push('{"type":"FeatureCollection","features":[\n');
    return w;
  }

  private push(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.parts.length === 0) return;
    fs.writeSync(this.fd, this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }

  writeRow(row: ArrayLike<number>): void {
    const h = this.header;
    let props = '';
    for (let i = 2; i < h.length; i++) props += `${i > 2 ? ',' : ''}${JSON.stringify(h[i])}:${formatNumber(row[i]!)}`;
    this.push(`${this.first ? '' : ',\n'}{"type":"Feature","geometry":{"type":"Point","coordinates":[${formatNumber(row[0]!)},${formatNumber(row[1]!)}]},"properties":{${props}}}`);
    this.first = false;
  }

  close(): void {
    if (this.closed) return;
    this.push('\n]}\n');
    try {
      this.flush();
      fs.fsyncSync(this.fd);
    } catch (e) {
      this.abort();
      throw e;
    }
    fs.closeSync(this.fd);
    this.closed = true;
    fs.renameSync(this.tmp, this.file);
    fsyncDir(path.dirname(this.file));
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } finally {
      fs.rmSync(this.tmp, { force: true });
    }
  }
}
