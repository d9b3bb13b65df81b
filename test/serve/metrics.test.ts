/**
 * GET /healthz and GET /metrics: the health answer names the model, backend, queue and columns;
 * the metrics parse as Prometheus text exposition (checked by a small independent parser) and
 * count exactly the requests this test made, by route and status code, with a consistent
 * latency histogram and the number of points predicted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomContext, removeTempDirs } from '../cli-predict/fixtures.js';
import { type TestServer, makeModel, postJson, request, startTestServer } from './helpers.js';

let s: TestServer;

afterAll(async () => {
  await s?.close();
  s?.predictor.dispose();
  removeTempDirs();
});
beforeAll(async () => {
  const { model } = await makeModel('serve-metrics');
  s = await startTestServer(model);
});

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the text format: `# HELP`/`# TYPE` lines and `name{a="b",...} value` samples. */
function parseProm(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) { types.set(t[1]!, t[2]!); continue; }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: '${line}'`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').split(',').filter(Boolean)) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(l);
      if (!lm) throw new Error(`bad label '${l}' in '${line}'`);
      labels[lm[1]!] = lm[2]!;
    }
    const value = Number(m[3] === '+Inf' ? Infinity : m[3]);
    if (Number.isNaN(value)) throw new Error(`bad value in '${line}'`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

describe('healthz and metrics', () => {
  it('healthz names the model, backend, queue, columns and limits', async () => {
    const a = await request(`${s.url}/healthz`);
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toMatchObject({
      status: 'ok', model: 'test-model', backend: 'cpu (test)',
      queue: { in_flight: 0, waiting: 0, capacity: 16, pending: 0 },
      columns: { context: ['s0', 's1', 'f'], targets: ['s0', 's1'], outputs: ['f_mean', 'f_std', 'f_lo90', 'f_hi90'] },
      limits: { maxBody: 10 * 1024 * 1024, queue: 16 },
    });
  });

  it('metrics count the requests made, by route and code, and the points predicted', async () => {
    const ctx = randomContext(30, 2).map(([s0, s1, f]) => ({ s0, s1, f }));
    for (const n of [3, 7, 11]) {
      expect((await postJson(s.url, { context: ctx, targets: randomContext(n, n).map(([s0, s1]) => ({ s0, s1 })) })).status).toBe(200);
    }
    expect((await postJson(s.url, { context: ctx })).status).toBe(422);
    expect((await request(`${s.url}/nope`)).status).toBe(404);
    const a = await request(`${s.url}/metrics`);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const { samples, types } = parseProm(a.body);
    const one = (name: string, labels: Record<string, string> = {}) => {
      const found = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
      expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return found[0]!.value;
    };
    expect(types.get('bsa_tnp_http_requests_total')).toBe('counter');
    expect(types.get('bsa_tnp_predict_duration_seconds')).toBe('histogram');
    expect(types.get('bsa_tnp_queue_length')).toBe('gauge');
    expect(one('bsa_tnp_http_requests_total', { route: '/predict', code: '200' })).toBe(3);
    expect(one('bsa_tnp_http_requests_total', { route: '/predict', code: '422' })).toBe(1);
    expect(one('bsa_tnp_http_requests_total', { route: 'other', code: '404' })).toBe(1);
    // The healthz request of the previous test; this /metrics request is not finished yet.
    expect(one('bsa_tnp_http_requests_total', { route: '/healthz', code: '200' })).toBe(1);
    expect(one('bsa_tnp_predicted_points_total')).toBe(21);
    expect(one('bsa_tnp_context_points_total')).toBe(90);
    expect(one('bsa_tnp_queue_length')).toBe(0);
    expect(one('bsa_tnp_in_flight')).toBe(0);
    expect(one('bsa_tnp_predict_pending')).toBe(0);
    expect(one('bsa_tnp_predict_seconds_total')).toBeGreaterThan(0);
    // Histogram: cumulative buckets, +Inf = count = 4 /predict requests, sum within the largest latency bound.
    const buckets = samples.filter((x) => x.name === 'bsa_tnp_predict_duration_seconds_bucket');
    const les = buckets.map((b) => Number(b.labels.le === '+Inf' ? Infinity : b.labels.le));
    expect(les).toEqual([...les].sort((x, y) => x - y));
    buckets.forEach((b, i) => { if (i > 0) expect(b.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value); });
    expect(buckets.at(-1)!.value).toBe(4);
    expect(one('bsa_tnp_predict_duration_seconds_count')).toBe(4);
    expect(one('bsa_tnp_predict_duration_seconds_sum')).toBeGreaterThan(0);
  });
});
