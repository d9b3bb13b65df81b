/**
 * Every limit of the HTTP service answers its status code with a JSON error naming the limit
 * (`limit`, `max`): body size 413 (announced and streamed), points 422, queue 503 with
 * Retry-After, time 504 (waiting in the queue, and aborting a running prediction between chunks),
 * slow bodies and headers 408; and the other refusals (404, 405, 406, 415, 400, 422, 431) name
 * the problem. After each, the service still answers a valid request with unchanged results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomContext, removeTempDirs } from '../cli-predict/fixtures.js';
import type { ServeLimits } from '../../src/serve/limits.js';
import { type TestServer, errorOf, makeModel, postJson, rawRequest, request, startTestServer } from './helpers.js';

let model: string;
const servers: TestServer[] = [];
const ctx = randomContext(60, 3).map(([s0, s1, f]) => ({ s0, s1, f }));
const small = { context: ctx, targets: [{ s0: 0.5, s1: -0.2 }, { s0: 1, s1: 0 }] };
let reference: string;

async function serverWith(limits: Partial<ServeLimits>, chunk = 1024): Promise<TestServer> {
  const s = await startTestServer(model, limits, chunk);
  servers.push(s);
  return s;
}

/** Resolves when `cond()` holds (polling), or fails after `ms`. */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Holds the model (the queue's running slot) until the returned function is called. */
function holdQueue(s: TestServer): () => void {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  void s.queue.run(() => gate);
  return release;
}

async function expectStillServes(s: TestServer): Promise<void> {
  const a = await postJson(s.url, small);
  expect(a.status, a.body).toBe(200);
  expect(a.body).toBe(reference);
}

afterAll(async () => {
  for (const s of servers) {
    await s.close();
    s.predictor.dispose();
  }
  removeTempDirs();
});

beforeAll(async () => {
  ({ model } = await makeModel('serve-limits'));
  const s = await serverWith({});
  const a = await postJson(s.url, small);
  expect(a.status, a.body).toBe(200);
  reference = a.body;
});

describe('limits', () => {
  it('max-body: an announced or a streamed body over the limit is 413', async () => {
    const s = await serverWith({ maxBody: 5000 });
    const announced = await rawRequest(s.port, { head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000\r\n\r\n' });
    expect(announced.status).toBe(413);
    expect(errorOf(announced)).toMatchObject({ limit: 'max-body', max: 5000 });
    expect(errorOf(announced).error).toBe('request body of 50000 bytes is larger than the limit of 5000 bytes (server flag --max-body); send fewer points per request');
    const chunk = `3e8\r\n${' '.repeat(1000)}\r\n`;
    const streamed = await rawRequest(s.port, { head: 'POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', body: chunk.repeat(50) });
    expect(streamed.status).toBe(413);
    expect(errorOf(streamed)).toMatchObject({ limit: 'max-body', max: 5000 });
    expect(errorOf(streamed).error).toMatch(/^request body is larger than the limit of 5000 bytes/);
    await expectStillServes(s);
  });

  it('max-context and max-targets: records, CSV and grids over the limit are 422', async () => {
    const s = await serverWith({ maxContext: 10, maxTargets: 20 });
    const c = await postJson(s.url, { context: ctx.slice(0, 11), targets: small.targets });
    expect(c.status).toBe(422);
    expect(errorOf(c)).toEqual({ status: 422, limit: 'max-context', max: 10,
      error: 'context: 11 points is more than the limit of 10 per request (server flag --max-context); split the request' });
    const csv = `s0,s1,f\n${ctx.slice(0, 12).map((r) => `${r.s0},${r.s1},${r.f}`).join('\n')}`;
    expect(errorOf(await postJson(s.url, { context: csv, targets: small.targets }))).toMatchObject({ limit: 'max-context', max: 10 });
    const t = await postJson(s.url, { context: ctx.slice(0, 5), targets: Array.from({ length: 21 }, () => ({ s0: 0, s1: 0 })) });
    expect(errorOf(t)).toMatchObject({ status: 422, limit: 'max-targets', max: 20 });
    const g = await postJson(s.url, { context: ctx.slice(0, 5), targets: { grid: { bounds: [0, 1, 0, 1], size: [5, 5] } } });
    expect(errorOf(g)).toMatchObject({ status: 422, limit: 'max-targets', max: 20, error: expect.stringMatching(/^targets.grid: 25 points is more than the limit of 20/) });
    const q = await request(`${s.url}/predict?grid=0,1,0,1&size=100x100`, { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: 's0,s1,f\n0,0,1\n' });
    expect(errorOf(q)).toMatchObject({ status: 422, limit: 'max-targets', max: 20 });
    const ok = await postJson(s.url, { context: ctx.slice(0, 10), targets: { grid: { bounds: [0, 1, 0, 1], size: [4, 5] } } });
    expect(ok.status, ok.body).toBe(200);
  });

  it('queue: full → 503 with Retry-After; the waiting requests are answered once the model frees', async () => {
    const s = await serverWith({ queue: 2 });
    const release = holdQueue(s);
    const waiting = [postJson(s.url, small), postJson(s.url, small)];
    await until(() => s.queue.length === 2);
    const full = await postJson(s.url, small);
    expect(full.status).toBe(503);
    expect(Number(full.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(errorOf(full)).toMatchObject({ limit: 'queue', max: 2 });
    expect(errorOf(full).error).toMatch(/^the service is busy: 2 requests are already waiting for the model \(server flag --queue\); retry in about \d+ s$/);
    const health = JSON.parse((await request(`${s.url}/healthz`)).body) as { queue: unknown };
    expect(health.queue).toEqual({ in_flight: 1, waiting: 2, capacity: 2, pending: 2 });
    release();
    for (const a of await Promise.all(waiting)) expect(a.body).toBe(reference);
  });

  it('queue: beyond 2 × (queue + 1) requests being read or held, the next is 503 before its body is read', async () => {
    const s = await serverWith({ queue: 1, bodyTimeoutMs: 1500 });
    const release = holdQueue(s);
    const head = 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    // Four uploads that stall: pending = 4 = 2 × (1 + 1), while the queue itself is empty.
    const stalled = Array.from({ length: 4 }, () => rawRequest(s.port, { head, body: '{', stall: true }));
    await until(() => s.pending() === 4);
    expect(s.queue.length).toBe(0);
    const refused = await rawRequest(s.port, { head, body: '{' });
    expect(refused.status).toBe(503);
    expect(errorOf(refused)).toMatchObject({ limit: 'queue', max: 1 });
    for (const a of await Promise.all(stalled)) expect(a.status).toBe(408);
    release();
    await expectStillServes(s);
  });

  it('timeout-ms: a request still waiting in the queue at its deadline is 504 and leaves the queue', async () => {
    const s = await serverWith({ timeoutMs: 300 });
    const release = holdQueue(s);
    const a = await postJson(s.url, small);
    expect(a.status).toBe(504);
    expect(errorOf(a)).toMatchObject({ limit: 'timeout-ms', max: 300 });
    expect(errorOf(a).error).toMatch(/^the prediction did not finish within 300 ms \(server flag --timeout-ms; still waiting in the queue\)/);
    expect(s.queue.length).toBe(0);
    release();
    await expectStillServes(s);
  });

  it('timeout-ms: a running prediction is aborted between chunks, long before it would finish', async () => {
    const s = await serverWith({ timeoutMs: 400 }, 16);
    let chunks = 0;
    const predictEncoded = s.predictor.predictEncoded.bind(s.predictor);
    s.predictor.predictEncoded = (coords, n) => { chunks++; return predictEncoded(coords, n); };
    const many = { context: ctx, targets: randomContext(40_000, 9).map(([s0, s1]) => ({ s0, s1 })) };
    const a = await postJson(s.url, many);
    expect(a.status, a.body).toBe(504);
    expect(errorOf(a).error).toMatch(/^the prediction did not finish within 400 ms \(server flag --timeout-ms; waited \d+ ms in the queue\)/);
    expect(s.metrics.targetPoints).toBe(0);
    // It stopped early (2,500 chunks of 16 would take many seconds) and for good: no chunk runs after the answer.
    expect(chunks).toBeGreaterThan(0);
    expect(chunks).toBeLessThan(2500);
    const after = chunks;
    await new Promise((r) => setTimeout(r, 100));
    expect(chunks).toBe(after);
    await expectStillServes(s);
    expect(chunks).toBe(after + 1);
  });

  it('body-timeout-ms: a client that stalls mid-body gets 408', async () => {
    const s = await serverWith({ bodyTimeoutMs: 300 });
    const t0 = performance.now();
    const a = await rawRequest(s.port, { head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n', body: '{"context": [', stall: true });
    expect(a.status).toBe(408);
    expect(errorOf(a)).toEqual({ status: 408, limit: 'body-timeout-ms', max: 300,
      error: 'the request body did not arrive within 300 ms (server flag --body-timeout-ms; got 13 bytes so far)' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    await expectStillServes(s);
  });

  it('header-timeout-ms: a client that stalls mid-headers gets 408', async () => {
    const s = await serverWith({ headerTimeoutMs: 300 });
    const a = await rawRequest(s.port, { head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty', stall: true });
    expect(a.status).toBe(408);
    expect(errorOf(a)).toEqual({ status: 408, limit: 'header-timeout-ms', max: 300,
      error: 'the request headers did not arrive within 300 ms (server flag --header-timeout-ms)' });
    await expectStillServes(s);
  });
});

describe('refusals name the problem', () => {
  let s: TestServer;
  beforeAll(async () => { s = await serverWith({}); });

  it('routes, methods and content types', async () => {
    const a = await request(`${s.url}/predit`, { method: 'POST' });
    expect(errorOf(a)).toEqual({ status: 404, error: "no endpoint '/predit'; did you mean '/predict'? (endpoints: POST /predict, GET /healthz, GET /metrics, GET /)" });
    const b = await request(`${s.url}/predict`);
    expect(b.status).toBe(405);
    expect(b.headers.allow).toBe('POST');
    expect(errorOf(b).error).toBe('/predict takes POST, got GET');
    const c = await request(`${s.url}/predict`, { method: 'POST', headers: { 'Content-Type': 'application/xml' }, body: '<a/>' });
    expect(errorOf(c)).toMatchObject({ status: 415, error: expect.stringMatching(/^Content-Type 'application\/xml' is not supported/) });
    const d = await postJson(s.url, small, { Accept: 'text/html' });
    expect(errorOf(d)).toMatchObject({ status: 406, error: "Accept 'text/html' allows neither application/json nor text/csv, the two formats /predict answers in" });
  });

  it('bad JSON, bad text, bad HTTP', async () => {
    const a = await request(`${s.url}/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"context": [{"s0": NaN}' });
    expect(errorOf(a)).toMatchObject({ status: 400, error: expect.stringMatching(/^request body is not valid JSON \(.*\); expected \{"context": \[\.\.\.\], "targets": \[\.\.\.\]\} \(NaN and Infinity are not JSON/) });
    const b = await request(`${s.url}/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) });
    expect(errorOf(b)).toEqual({ status: 400, error: 'request body is not valid UTF-8 text; send JSON or CSV encoded as UTF-8' });
    const c = await rawRequest(s.port, { head: 'HELLO THERE\r\n\r\n' });
    expect(errorOf(c)).toMatchObject({ status: 400, error: expect.stringMatching(/^malformed HTTP request \(HPE_/) });
    const d = await rawRequest(s.port, { head: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n` });
    expect(errorOf(d)).toEqual({ status: 431, error: 'request headers are too large (over 16 KiB)' });
  });

  it('shape, types, numbers, fields and columns', async () => {
    const cases: [unknown, number, string | RegExp, Record<string, unknown>?][] = [
      [[1, 2], 422, 'request body: expected a JSON object {"context": ..., "targets": ...}, got an array'],
      [{ context: ctx, targets: small.targets, target: 1 }, 422, "request body: unknown field 'target'; did you mean 'targets'? (fields: context, targets)", { field: 'target' }],
      [{ context: ctx }, 422, 'request body: missing field \'targets\' (expected {"context": [...], "targets": [...]})'],
      [{ context: 5, targets: [] }, 422, 'context: expected an array of records like {"s0": 0.1, "s1": -0.3, ...} or CSV text, got the number 5'],
      [{ context: ctx, targets: [] }, 422, 'targets: the array is empty; at least one point is needed'],
      [{ context: [[0, 0, 1]], targets: small.targets }, 422, 'context[0]: expected a record (an object of column values), got an array'],
      [{ context: [{ s0: true, s1: 0, f: 1 }], targets: small.targets }, 422, 'context[0].s0: expected a number, a string or null, got a boolean true'],
      [{ context: [{ s0: 1e39, s1: 0, f: 1 }], targets: small.targets }, 422, 'context[0].s0: expected a finite number within float32 range (|x| ≤ 3.4e38), got 1e+39'],
      [{ context: ctx, targets: [{ s0: 'abc', s1: 0 }] }, 422, "targets: row 1, column 's0': expected a number, got 'abc'"],
      [{ context: [{ s0: 'NaN', s1: 0, f: 1 }], targets: small.targets }, 422, "context: row 1, column 's0': the value is missing; the service needs every coordinate, time and covariate (only an output value may be null)"],
      [{ context: [...ctx, { s0: 0, s1: null, f: 1 }], targets: small.targets }, 422, `context: row ${ctx.length + 1}, column 's1': the value is missing; the service needs every coordinate, time and covariate (only an output value may be null)`],
      [{ context: ctx, targets: [...small.targets, { s0: null, s1: 0 }] }, 422, `targets: row ${small.targets.length + 1}, column 's0': the value is missing; the service needs every coordinate, time and covariate (only an output value may be null)`],
      [{ context: [{ s0: 0, s1: 0, f: null }], targets: small.targets }, 422, 'the context has no usable observation: every one of its 1 rows with coordinates lacks a value of f; at least one is needed'],
      [{ context: [{ s0: 0, s1: 0, value: 1 }], targets: small.targets }, 422, /^context: no column 'f'; the model needs s0, s1, f; got s0, s1, value$/],
      [{ context: ctx, targets: [{ s0: 0, S1: 0 }] }, 422, "targets: no column 's1' (is 'S1' meant to be 's1'?); the model needs s0, s1; got s0, S1"],
      [{ context: ctx, targets: { grid: { bounds: [0, 1, 0, 1], sise: 3 } } }, 422, "targets.grid: unknown field 'sise'; did you mean 'size'? (fields: bounds, size)", { field: 'sise' }],
      [{ context: ctx, targets: { grid: { bounds: [1, 0, 0, 1], size: 3 } } }, 422, 'targets.grid.bounds: expected x0 < x1, got x0=1, x1=0'],
      [{ context: ctx, targets: { grid: { bounds: [0, 1, 0, 1], size: [0, 3] } } }, 422, 'targets.grid.size: expected [width, height] (whole numbers ≥ 1) or one number n for n×n, got [0,3]'],
      [{ context: 's0,s1,f\n1,2', targets: small.targets }, 422, 'context CSV: row 1 has 2 fields, the header has 3 (s0, s1, f)'],
      [{ context: ctx, targets: [{ s0: 0, s1: 0, f_mean: 1 }] }, 422, "the targets already have a column 'f_mean', which the prediction would overwrite; rename it"],
    ];
    for (const [body, status, message, extra] of cases) {
      const a = await postJson(s.url, body);
      const e = errorOf(a);
      expect(a.status, a.body).toBe(status);
      if (typeof message === 'string') expect(e.error).toBe(message);
      else expect(e.error).toMatch(message);
      if (extra) expect(e).toMatchObject(extra);
    }
    const q = await request(`${s.url}/predict?gird=0,1,0,1`, { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: 's0,s1,f\n0,0,1\n' });
    expect(errorOf(q)).toMatchObject({ status: 422, error: "unknown query parameter 'gird'; did you mean 'grid'? (a text/csv body takes ?grid=x0,x1,y0,y1&size=WxH)" });
    await expectStillServes(s);
  });
});
