/**
 * Must-show 3: the real `bsa-tnp serve` process under 1,000 malformed or hostile requests, sent
 * 32 at a time over raw sockets: truncated JSON, wrong types, NaN, huge numbers, 100 MB bodies
 * (announced and streamed), unknown fields, clients that stall mid-body or mid-headers, broken
 * HTTP, and more. Each must be answered with the expected 4xx status and a JSON error; beside
 * them, 30 connections break mid-request (no answer possible). Afterwards the process is still up
 * and answers a valid request with the same bytes as before. The body and header timeouts are 2 s:
 * on a machine so loaded that the service gets no CPU for longer, a complete body can still be
 * refused as slow (its timer fires before the data is read), which this test would report.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { randomContext, removeTempDirs } from '../cli-predict/fixtures.js';
import { type Answer, type RawOptions, type ServeProcess, errorOf, makeModel, pool, postJson, rawRequest, request, spawnServe } from './helpers.js';

interface Case {
  kind: string;
  raw: RawOptions;
  /** Expected status; a list when either is right (named per case below). */
  status: number | number[];
  /** Text the JSON error must contain. */
  error?: string | RegExp;
}

const context = randomContext(40, 3).map(([s0, s1, f]) => ({ s0, s1, f }));
const targets = randomContext(5, 4).map(([s0, s1], i) => ({ id: i, s0, s1 }));
const valid = { context, targets };
const validText = JSON.stringify(valid);

function post(body: string | Buffer, opts: { type?: string; path?: string; extra?: string; length?: number } = {}): RawOptions {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return {
    head: `POST ${opts.path ?? '/predict'} HTTP/1.1\r\nHost: x\r\nContent-Type: ${opts.type ?? 'application/json'}\r\n` +
      `Content-Length: ${opts.length ?? bytes.length}\r\n${opts.extra ?? ''}\r\n`,
    body: bytes,
  };
}
const json = (v: unknown) => post(JSON.stringify(v));
const withContextValue = (text: string) => post(validText.replace(/"f":[^,}]+/, `"f":${text}`));

/** The 1,000 hostile requests, deterministic. */
function cases(): Case[] {
  const rng = Rng.fromSeed(7);
  const out: Case[] = [];
  const add = (n: number, make: (i: number) => Case) => { for (let i = 0; i < n; i++) out.push(make(i)); };
  // Truncated JSON: the valid request cut anywhere, announced at its cut length.
  add(200, () => ({ kind: 'truncated', raw: post(validText.slice(0, 1 + Math.floor(rng.uniform() * (validText.length - 1)))), status: 400, error: /^request body is not valid JSON/ }));
  const wrongTypes: [unknown, RegExp][] = [
    [{ context: 5, targets }, /^context: expected an array of records/],
    [{ context: true, targets }, /^context: expected an array of records/],
    [{ context: null, targets }, /^context: expected an array of records/],
    [{ context: { s0: 1 }, targets }, /^context: expected an array of records/],
    [{ context, targets: 7 }, /^targets: expected an array of records/],
    [{ context: [[1, 2, 3]], targets }, /^context\[0\]: expected a record/],
    [{ context: [{ s0: [1], s1: 0, f: 1 }], targets }, /^context\[0\]\.s0: expected a number, a string or null, got an array/],
    [{ context: [{ s0: { v: 1 }, s1: 0, f: 1 }], targets }, /^context\[0\]\.s0: expected a number, a string or null, got an object/],
    [{ context, targets: [{ s0: false, s1: 0 }] }, /^targets\[0\]\.s0: expected a number, a string or null, got a boolean/],
    [{ context, targets: [{ s0: 'east', s1: 0 }] }, /^targets: row 1, column 's0': expected a number, got 'east'/],
    [{ context, targets: { grid: { bounds: ['0', 1, 0, 1], size: 3 } } }, /^targets.grid.bounds: expected four numbers/],
    [{ context, targets: { grid: { bounds: [0, 1, 0, 1], size: -3 } } }, /^targets.grid.size: expected \[width, height\]/],
    [{ context, targets: { grid: { bounds: [0, 1, 0, 1], size: [2.5, 2] } } }, /^targets.grid.size: expected \[width, height\]/],
    [{ context, targets: { grid: 'big' } }, /^targets.grid: expected \{"bounds"/],
    [[context, targets], /^request body: expected a JSON object/],
    ['context', /^request body: expected a JSON object/],
    [42, /^request body: expected a JSON object/],
    [null, /^request body: expected a JSON object/],
  ];
  add(150, (i) => ({ kind: 'wrong type', raw: json(wrongTypes[i % wrongTypes.length]![0]), status: 422, error: wrongTypes[i % wrongTypes.length]![1] }));
  const nans: [RawOptions, number, RegExp][] = [
    [withContextValue('NaN'), 400, /not valid JSON.*NaN and Infinity are not JSON/],
    [withContextValue('Infinity'), 400, /not valid JSON/],
    [withContextValue('-Infinity'), 400, /not valid JSON/],
    // A missing output is a missing observation (the row is not context); a missing coordinate is refused.
    [post(validText.replace(/"s0":[^,}]+/, '"s0":"NaN"')), 422, /^context: row 1, column 's0': the value is missing; the service needs every coordinate/],
    [json({ context: `s0,s1,f\n0,0,nan\n`, targets }), 422, /^the context has no usable observation: every one of its 1 rows with coordinates lacks a value of f/],
  ];
  add(100, (i) => ({ kind: 'NaN', raw: nans[i % nans.length]![0], status: nans[i % nans.length]![1], error: nans[i % nans.length]![2] }));
  const huge: [RawOptions, RegExp][] = [
    [withContextValue('1e400'), /^context\[0\]\.f: expected a finite number within float32 range .* got Infinity/],
    [withContextValue('-1e999'), /^context\[0\]\.f: expected a finite number within float32 range/],
    [withContextValue('1e39'), /^context\[0\]\.f: expected a finite number within float32 range .* got 1e\+39/],
    [withContextValue(`1${'0'.repeat(400)}`), /^context\[0\]\.f: expected a finite number within float32 range/],
    [json({ context, targets: [{ s0: -3.5e38, s1: 0 }] }), /^targets\[0\]\.s0: expected a finite number within float32 range/],
    [json({ context, targets: { grid: { bounds: [0, 1e300, 0, 1], size: 2 } } }), /^targets.grid.bounds\[1\]: expected a finite number within float32 range/],
    [json({ context: 's0,s1,f\n0,0,1e40\n', targets }), /^context CSV: row 1, column 'f': expected a finite number within float32 range/],
    [json({ context, targets: { grid: { bounds: [0, 1, 0, 1], size: [100000, 100000] } } }), /^targets.grid: 10000000000 points is more than the limit of 2000/],
  ];
  add(100, (i) => ({ kind: 'huge number', raw: huge[i % huge.length]![0], status: 422, error: huge[i % huge.length]![1] }));
  // 100 MB bodies: announced (refused from the header) and streamed without a length (cut at 10 MiB).
  const MB100 = 100 * 1024 * 1024;
  add(2, () => ({ kind: '100 MB announced', raw: { ...post('{"context": [', { length: MB100 }), stream: MB100 }, status: 413, error: /^request body of 104857600 bytes is larger than the limit of 10 MiB/ }));
  add(2, () => ({ kind: '100 MB streamed', raw: { head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', stream: MB100, chunked: true }, status: 413, error: /^request body is larger than the limit of 10 MiB/ }));
  const unknown: [RawOptions, RegExp][] = [
    [json({ contxt: context, targets }), /^request body: unknown field 'contxt'; did you mean 'context'\?/],
    [json({ context, target: targets }), /^request body: unknown field 'target'; did you mean 'targets'\?/],
    [json({ context, targets, chunk: 10 }), /^request body: unknown field 'chunk' \(fields: context, targets\)/],
    [json({ Context: context, targets }), /^request body: unknown field 'Context'; did you mean 'context'\?/],
    [json({ context, targets: { grd: {} } }), /^targets: unknown field 'grd'; did you mean 'grid'\?/],
    [json({ context, targets: { grid: { bounds: [0, 1, 0, 1], size: 2, step: 1 } } }), /^targets.grid: unknown field 'step'/],
    [post(validText, { path: '/predict?format=csv' }), /^unknown query parameter 'format'/],
  ];
  add(150, (i) => ({ kind: 'unknown field', raw: unknown[i % unknown.length]![0], status: 422, error: unknown[i % unknown.length]![1] }));
  // Slow clients: stall mid-body, or mid-headers.
  add(40, () => ({ kind: 'stall mid-body', raw: { ...post(validText.slice(0, 500), { length: validText.length }), stall: true }, status: 408, error: /^the request body did not arrive within 2000 ms/ }));
  add(10, () => ({ kind: 'stall mid-headers', raw: { head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le', stall: true }, status: 408, error: /^the request headers did not arrive within 2000 ms/ }));
  const misc: [RawOptions, number, RegExp][] = [
    [post(validText, { type: 'application/xml' }), 415, /^Content-Type 'application\/xml' is not supported/],
    [post(validText, { type: 'multipart/form-data; boundary=zz' }), 415, /^Content-Type 'multipart\/form-data' is not supported/],
    [post(validText, { extra: 'Accept: image/png\r\n' }), 406, /^Accept 'image\/png' allows neither/],
    [post(validText, { path: '/predictions' }), 404, /^no endpoint '\/predictions'/],
    [post(validText, { path: '/../../etc/passwd' }), 404, /^no endpoint/],
    [{ head: 'PUT /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' }, 405, /^\/predict takes POST, got PUT/],
    [post(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])), 400, /^request body is not valid UTF-8/],
    [post(''), 400, /^request body is not valid JSON .*the body is empty/],
    [{ head: 'BREW /pot HTCPCP/1.0\r\n\r\n' }, 400, /^malformed HTTP request/],
    [{ head: `GET / HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(20_000)}\r\n\r\n` }, 431, /^request headers are too large/],
    [{ head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n' }, 400, /^malformed HTTP request/],
    [json({ context, targets: Array.from({ length: 2001 }, () => ({ s0: 0, s1: 0 })) }), 422, /^targets: 2001 points is more than the limit of 2000 per request \(server flag --max-targets\)/],
    [json({ context: `${'['.repeat(50_000)}`, targets }), 422, /^context: the CSV has a header but no rows/],
    [post(`{"context": ${'['.repeat(20_000)}${']'.repeat(20_000)}, "targets": []}`), 422, /^context\[0\]: expected a record \(an object of column values\), got an array/],
    [post('s0,s1,f\n0,0,1\n', { type: 'text/csv' }), 422, /^a text\/csv body is the context; give the targets as a grid/],
    [post('s0,s1,f\n0,0,"1\n', { type: 'text/csv', path: '/predict?grid=0,1,0,1&size=2' }), 400, /^context CSV: /],
    [post('s0,s0,f\n0,0,1\n', { type: 'text/csv', path: '/predict?grid=0,1,0,1&size=2' }), 422, /^context CSV: column 's0' appears twice/],
    [post('s0,s1,f\n0,0,1\n', { type: 'text/csv', path: '/predict?grid=0,1,0&size=2' }), 422, /^grid: expected four numbers/],
    [json({ context, targets: [{ s0: 0, s1: 0, f_std: 1 }] }), 422, /^the targets already have a column 'f_std'/],
    [json({ context: [], targets }), 422, /^context: the array is empty/],
  ];
  add(1000 - out.length, (i) => ({ kind: 'misc', raw: misc[i % misc.length]![0], status: misc[i % misc.length]![1], error: misc[i % misc.length]![2] }));
  return out;
}

/** Connections that break mid-request: no answer can be given, the process must not mind. */
function broken(): RawOptions[] {
  return Array.from({ length: 30 }, (_, i) => [
    { head: 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty', destroy: true },
    { ...post(validText.slice(0, 300), { length: validText.length }), destroy: true },
    { ...post(validText), destroy: true },
  ][i % 3]!);
}

let proc: ServeProcess | undefined;
afterAll(() => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  removeTempDirs();
});

describe('must-show 3: 1,000 malformed and hostile requests', () => {
  it('each gets its 4xx and a JSON error; the process stays up and then serves unchanged results', async () => {
    const { model } = await makeModel('serve-hostile');
    proc = await spawnServe(['--model', model, '--body-timeout-ms', '2000', '--header-timeout-ms', '2000', '--queue', '64',
      '--max-context', '2000', '--max-targets', '2000', '--quiet']);
    const p = proc;
    const before = await postJson(p.url, valid);
    expect(before.status, before.body).toBe(200);

    const all = cases();
    expect(all).toHaveLength(1000);
    const tasks: (() => Promise<Answer | null>)[] = all.map((c) => () => rawRequest(p.port, { timeoutMs: 60_000, ...c.raw }));
    for (const b of broken()) tasks.splice(Math.floor(tasks.length / 2), 0, async () => { await rawRequest(p.port, b); return null; });
    const answers = (await pool(tasks, 32)).filter((a): a is Answer => a !== null);
    expect(answers).toHaveLength(1000);

    const wrong: string[] = [];
    answers.forEach((a, i) => {
      const c = all[i]!;
      const statuses = Array.isArray(c.status) ? c.status : [c.status];
      try {
        const e = errorOf(a);
        if (!statuses.includes(a.status) || a.status < 400 || a.status > 499) throw new Error(`status ${a.status}`);
        if (c.error !== undefined && !(typeof c.error === 'string' ? e.error.includes(c.error) : c.error.test(e.error))) throw new Error(`error text '${e.error}'`);
      } catch (err) {
        wrong.push(`#${i} ${c.kind}: expected ${statuses.join('/')}, ${(err as Error).message}: ${a.status} ${a.body.slice(0, 300)}`);
      }
    });
    expect(wrong.length, wrong.slice(0, 10).join('\n')).toBe(0);

    expect(p.child.exitCode).toBeNull();
    expect((await request(`${p.url}/healthz`)).status).toBe(200);
    const after = await postJson(p.url, valid);
    expect(after.status).toBe(200);
    expect(after.body).toBe(before.body);
    // Nothing but refusals before a request existed was logged (--quiet): no internal error, no stack trace.
    const events = p.stderr().trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
    expect(new Set(events)).toEqual(new Set(['client_error']));
  });
});
