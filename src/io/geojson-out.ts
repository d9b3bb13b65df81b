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
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatNumber } from './csv.js';
import { fsyncDir } from '../train/atomic.js';

let counter = 0;

export class GeoJsonWriter {
  private parts: string[] = [];
  private size = 0;
  private first = true;
  private closed = false;

  private constructor(readonly file: string, private readonly tmp: string, private readonly fd: number, readonly header: readonly string[],
    private readonly xy: readonly [number, number]) {}

  /** `header`: all columns; `xy`: the indices of the point's x and y in it. */
  static open(file: string, header: readonly string[], xy: readonly [number, number]): GeoJsonWriter {
    const abs = path.resolve(file);
    const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.tmp-${process.pid}-${counter++}`);
    const fd = fs.openSync(tmp, 'w');
    const w = new GeoJsonWriter(abs, tmp, fd, header, xy);
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
