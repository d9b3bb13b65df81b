/**
 * POST /predict round trips over real HTTP (127.0.0.1, ephemeral port): JSON records, CSV text
 * inside JSON, a text/csv body with a grid, and CSV answers. Every prediction is compared with the
 * real command line's `bsa-tnp predict` on the same points (an independent path: CSV files,
 * streaming, another process); extra target fields are carried through in target order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/io/csv.js';
import { randomContext, removeTempDirs, runCli, writeCsvText } from '../cli-predict/fixtures.js';
import { type TestServer, makeModel, postJson, request, startTestServer } from './helpers.js';

const OUT = ['f_mean', 'f_std', 'f_lo90', 'f_hi90'] as const;
const ctx = randomContext(120, 3);
const tgt = randomContext(45, 11).map((r) => [r[0]!, r[1]!] as const);
let dir: string;
let server: TestServer;
let cliPoints: Map<string, Float64Array>;
let cliGrid: Map<string, Float64Array>;

const ctxCsv = `s0,s1,f\n${ctx.map((r) => r.join(',')).join('\n')}\n`;

function close(got: number, want: number): boolean {
  return Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want));
}

/** Asserts predictions (records or CSV columns) equal the command line's, row by row. */
function expectSame(get: (name: string, i: number) => number, want: Map<string, Float64Array>, n: number): void {
  expect(want.get('f_mean')!.length).toBe(n);
  for (const name of OUT) {
    for (let i = 0; i < n; i++) {
      const g = get(name, i);
      if (!close(g, want.get(name)![i]!)) throw new Error(`${name}[${i}]: served ${g}, command line ${want.get(name)![i]}`);
    }
  }
}

afterAll(async () => {
  await server?.close();
  server?.predictor.dispose();
  removeTempDirs();
});

beforeAll(async () => {
  let model: string;
  ({ dir, model } = await makeModel('serve-predict'));
  writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], ctx);
  writeCsvText(path.join(dir, 'tgt.csv'), ['s0', 's1'], tgt);
  const [a, b] = await Promise.all([
    runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'), '--targets', path.join(dir, 'tgt.csv'), '--out', path.join(dir, 'points.csv')]),
    runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'), '--grid=-2,3,-1.5,0.5', '--size', '7x5', '--out', path.join(dir, 'grid.csv')]),
  ]);
  expect(a.code, a.stderr).toBe(0);
  expect(b.code, b.stderr).toBe(0);
  cliPoints = parseCsv(fs.readFileSync(path.join(dir, 'points.csv'), 'utf8'), { label: 'points' }).values;
  cliGrid = parseCsv(fs.readFileSync(path.join(dir, 'grid.csv'), 'utf8'), { label: 'grid' }).values;
  server = await startTestServer(model, {}, 16);
});

describe('POST /predict', () => {
  it('JSON records: equal the command line, in target order, extra fields carried through', async () => {
    const a = await postJson(server.url, {
      context: ctx.map(([s0, s1, f]) => ({ s0, s1, f })),
      // Another key order than the model's, and an id: the answer orders columns as `predict` does
      // (carried fields, the model's inputs, the outputs).
      targets: tgt.map(([s0, s1], i) => ({ station: `st-${i}`, s1, s0 })),
    });
    expect(a.status, a.body).toBe(200);
    expect(a.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(a.headers['server-timing']).toMatch(/^queue;dur=[\d.]+, predict;dur=[\d.]+$/);
    const { predictions } = JSON.parse(a.body) as { predictions: Record<string, number | string>[] };
    expect(predictions).toHaveLength(tgt.length);
    expect(Object.keys(predictions[0]!)).toEqual(['station', 's0', 's1', ...OUT]);
    predictions.forEach((p, i) => {
      expect(p.station).toBe(`st-${i}`);
      expect(p.s0).toBe(tgt[i]![0]);
    });
    expectSame((n, i) => predictions[i]![n] as number, cliPoints, tgt.length);
    // The interval is mean ∓ 1.6449·std (float32).
    for (const p of predictions) expect(p.f_hi90 as number).toBeCloseTo((p.f_mean as number) + 1.6448536269514722 * (p.f_std as number), 4);
  });

  it('a context record with a null output is a missing observation: not context, the answer is unchanged', async () => {
    // The command line's answer is for `ctx` alone; here extra records with no value sit among them.
    const extra = randomContext(10, 5).map(([s0, s1]) => ({ s0, s1, f: null }));
    const records = ctx.map(([s0, s1, f]) => ({ s0, s1, f }) as { s0: number; s1: number; f: number | null });
    records.splice(7, 0, ...extra.slice(0, 5));
    records.push(...extra.slice(5));
    const a = await postJson(server.url, { context: records, targets: tgt.map(([s0, s1]) => ({ s0, s1 })) });
    expect(a.status, a.body).toBe(200);
    const { predictions } = JSON.parse(a.body) as { predictions: Record<string, number>[] };
    expect(predictions).toHaveLength(tgt.length);
    expectSame((n, i) => predictions[i]![n]!, cliPoints, tgt.length);
  });

  it('context columns the model does not use (ids, other measurements) are ignored, and the answer says so', async () => {
    const records = ctx.map(([s0, s1, f], i) => ({ station: `st-${i}`, pm25: i * 0.5, s0, s1, f }));
    const targets = tgt.map(([s0, s1]) => ({ s0, s1 }));
    const a = await postJson(server.url, { context: records, targets });
    expect(a.status, a.body).toBe(200);
    const body = JSON.parse(a.body) as { predictions: Record<string, number>[]; warnings: string[] };
    expectSame((n, i) => body.predictions[i]![n]!, cliPoints, tgt.length);
    expect(body.warnings).toEqual(["context columns 'station', 'pm25' not used by the model (it uses s0, s1, f); ignored"]);
    // As CSV (the answer's warning in a header).
    const csv = `site,s0,s1,f\n${ctx.map((r, i) => `x${i},${r.join(',')}`).join('\n')}\n`;
    const b = await postJson(server.url, { context: csv, targets }, { Accept: 'text/csv' });
    expect(b.status, b.body).toBe(200);
    expect(b.headers['bsa-tnp-warning']).toBe("context column 'site' not used by the model (it uses s0, s1, f); ignored");
    const got = parseCsv(b.body, { label: 'answer' }).values;
    expectSame((n, i) => got.get(n)![i]!, cliPoints, tgt.length);
  });

  it('CSV text inside JSON, answered as CSV with Accept: text/csv', async () => {
    const targets = `id,s0,s1\n${tgt.map((r, i) => `${100 + i},${r[0]},${r[1]}`).join('\n')}\n`;
    const a = await postJson(server.url, { context: ctxCsv, targets }, { Accept: 'text/csv' });
    expect(a.status, a.body).toBe(200);
    expect(a.headers['content-type']).toBe('text/csv; charset=utf-8');
    const got = parseCsv(a.body, { label: 'answer' });
    expect(got.header).toEqual(['id', 's0', 's1', ...OUT]);
    expect(Array.from(got.values.get('id')!)).toEqual(tgt.map((_, i) => 100 + i));
    expectSame((n, i) => got.values.get(n)![i]!, cliPoints, tgt.length);
    // The JSON answer to the same request prints the same shortest float32 digits as the CSV.
    const j = await postJson(server.url, { context: ctxCsv, targets });
    const records = (JSON.parse(j.body) as { predictions: Record<string, number>[] }).predictions;
    for (const n of OUT) records.forEach((r, i) => expect(r[n]).toBe(got.values.get(n)![i]));
    expect(j.body).toMatch(/"f_mean":-?\d+(\.\d{1,9})?(e-?\d+)?,/);
  });

  it('a JSON grid target equals predict --grid (row-major, y ascending)', async () => {
    const a = await postJson(server.url, { context: ctx.map(([s0, s1, f]) => ({ s0, s1, f })), targets: { grid: { bounds: [-2, 3, -1.5, 0.5], size: [7, 5] } } });
    expect(a.status, a.body).toBe(200);
    const body = JSON.parse(a.body) as { predictions: Record<string, number>[]; grid: { bounds: number[]; size: number[] } };
    expect(body.grid).toMatchObject({ bounds: [-2, 3, -1.5, 0.5], size: [7, 5] });
    expect(body.predictions).toHaveLength(35);
    expect(body).not.toHaveProperty('warnings');
    body.predictions.forEach((p, i) => {
      expect(close(p.s0!, cliGrid.get('s0')![i]!) && close(p.s1!, cliGrid.get('s1')![i]!)).toBe(true);
    });
    expectSame((n, i) => body.predictions[i]![n]!, cliGrid, 35);
  });

  it('a text/csv body (the context) with the grid in the query, answered as CSV', async () => {
    const a = await request(`${server.url}/predict?grid=-2,3,-1.5,0.5&size=7x5`, {
      method: 'POST', headers: { 'Content-Type': 'text/csv', Accept: 'text/csv, application/json;q=0.5' }, body: ctxCsv,
    });
    expect(a.status, a.body).toBe(200);
    const got = parseCsv(a.body, { label: 'answer' });
    expect(got.header).toEqual(['s0', 's1', ...OUT]);
    expectSame((n, i) => got.values.get(n)![i]!, cliGrid, 35);
    expect(a.headers).not.toHaveProperty('bsa-tnp-warning');
  });

  it('a grid that lies away from the context is answered with a warning (JSON field, CSV header), as predict --grid warns', async () => {
    // The context spans x −3…5, y −1.5…0.5; this grid is all beyond half that extent.
    const j = await postJson(server.url, { context: ctxCsv, targets: { grid: { bounds: [20, 30, 10, 12], size: [3, 2] } } });
    expect(j.status, j.body).toBe(200);
    const body = JSON.parse(j.body) as { predictions: unknown[]; warnings?: string[] };
    expect(body.predictions).toHaveLength(6);
    expect(body.warnings).toHaveLength(1);
    expect(body.warnings![0]).toMatch(/^grid 20,30,10,12: 100 % of the grid lies away from the context points \(x -?2\.9\d* to 4\.9\d*, y .*x0,x1,y0,y1/);
    const c = await request(`${server.url}/predict?grid=20,30,10,12&size=3x2`, { method: 'POST', headers: { 'Content-Type': 'text/csv', Accept: 'text/csv' }, body: ctxCsv });
    expect(c.status, c.body).toBe(200);
    expect(c.headers['bsa-tnp-warning']).toBe(body.warnings![0]);
  });

  it('the same request twice gives the same bytes (the context is re-encoded per request)', async () => {
    const req = { context: ctxCsv, targets: tgt.slice(0, 5).map(([s0, s1]) => ({ s0, s1 })) };
    const other = { context: ctx.slice(0, 10).map(([s0, s1, f]) => ({ s0, s1, f: f + 5 })), targets: req.targets };
    const a = await postJson(server.url, req);
    const b = await postJson(server.url, other);
    const c = await postJson(server.url, req);
    expect(a.status).toBe(200);
    expect(b.body).not.toBe(a.body);
    expect(c.body).toBe(a.body);
  });
});
