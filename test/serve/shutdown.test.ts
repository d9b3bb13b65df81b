/**
 * Graceful shutdown of the real `bsa-tnp serve` process: on SIGTERM with one request being
 * predicted and another waiting in the queue, it stops accepting connections at once, answers
 * both in full (200), and exits 0.
 */
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { randomContext, removeTempDirs } from '../cli-predict/fixtures.js';
import { type ServeProcess, makeModel, postJson, request, spawnServe } from './helpers.js';

let proc: ServeProcess | undefined;
afterAll(() => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  removeTempDirs();
});

describe('SIGTERM', () => {
  it('finishes the request in flight and the one queued, refuses new connections, exits 0', async () => {
    const { model } = await makeModel('serve-shutdown');
    proc = await spawnServe(['--model', model, '--chunk', '32']);
    const p = proc;
    const context = randomContext(60, 3).map(([s0, s1, f]) => ({ s0, s1, f }));
    const smallReq = { context, targets: [{ id: 'x', s0: 0.1, s1: 0.2 }] };
    const reference = await postJson(p.url, smallReq);
    expect(reference.status).toBe(200);

    const big = randomContext(30_000, 8).map(([s0, s1]) => ({ s0, s1 }));
    let bigDone = false;
    const inFlight = postJson(p.url, { context, targets: big }).finally(() => { bigDone = true; });
    const health = async () => JSON.parse((await request(`${p.url}/healthz`)).body) as { queue: { in_flight: number; waiting: number } };
    while ((await health()).queue.in_flight !== 1) await new Promise((r) => setTimeout(r, 20));
    const queued = postJson(p.url, smallReq);
    while ((await health()).queue.waiting !== 1) await new Promise((r) => setTimeout(r, 20));

    p.child.kill('SIGTERM');
    while (!p.stderr().includes('"event":"shutdown_start"')) await new Promise((r) => setTimeout(r, 10));
    // The listening socket is closed: a new connection is refused while the big request still runs.
    // A raw TCP connect, not fetch: fetch may reuse a pooled keep-alive socket of the polling above,
    // which the server closes (UND_ERR_SOCKET) without saying anything about new connections.
    const refused = await new Promise<string>((resolve) => {
      const u = new URL(p.url);
      const s = net.connect(Number(u.port), u.hostname);
      s.on('connect', () => { s.destroy(); resolve('connected'); });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(bigDone).toBe(false);

    const [a, b] = await Promise.all([inFlight, queued]);
    expect(a.status, a.body).toBe(200);
    const preds = (JSON.parse(a.body) as { predictions: { s0: number; f_mean: number }[] }).predictions;
    expect(preds).toHaveLength(30_000);
    expect(preds[29_999]!.s0).toBe(big[29_999]!.s0);
    expect(preds.every((x) => Number.isFinite(x.f_mean))).toBe(true);
    expect(b.status).toBe(200);
    expect(b.body).toBe(reference.body);
    expect(await p.exited).toBe(0);
    expect(p.stdout().trim().split('\n').at(-1)).toBe('{"event":"stopped"}');
    expect(p.stderr()).toContain('"event":"shutdown_done"');
  });
});
