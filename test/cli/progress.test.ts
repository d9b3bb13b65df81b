import { describe, expect, it } from 'vitest';
import { Progress, formatDuration } from '../../src/api/progress.js';

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, write: (s: string) => out.push(s), isTTY, columns: 100 };
}

describe('progress', () => {
  it('writes JSON lines off a terminal, throttled, with rate and ETA', () => {
    let t = 0;
    const s = sink(false);
    const p = new Progress({ total: 100, sink: s, label: 'train', now: () => t });
    t = 2000;
    p.update(10, { loss: 1.5 });
    t = 2500;
    p.update(20); // within 1 s of the last line: skipped
    t = 4000;
    p.update(40);
    p.finish();
    const lines = s.out.map((l) => JSON.parse(l));
    expect(s.out.every((l) => l.endsWith('\n'))).toBe(true);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({ event: 'progress', label: 'train', done: 10, total: 100, rate: 5, eta_s: 18, elapsed_s: 2, loss: 1.5 });
    expect(lines[1]).toMatchObject({ done: 40, rate: 10, eta_s: 6 });
    expect(lines[2]).toMatchObject({ event: 'progress_done', done: 40 });
  });

  it('counts only new work after a resume; no ETA before any progress', () => {
    let t = 0;
    const s = sink(false);
    const p = new Progress({ total: 100, start: 50, sink: s, now: () => t });
    p.update(50);
    t = 1000;
    p.update(60);
    const lines = s.out.map((l) => JSON.parse(l));
    expect(lines[0].eta_s).toBeNull();
    expect(lines[1]).toMatchObject({ rate: 10, eta_s: 4 });
  });

  it('redraws one line in place on a terminal', () => {
    let t = 0;
    const s = sink(true);
    const p = new Progress({ total: 10, sink: s, label: 'eval', now: () => t });
    t = 1000;
    p.update(5, { nll: 0.123456 });
    p.finish();
    expect(s.out[0]).toMatch(/^\r\[#+\.+\]  50% eval 5\/10 5\.00 it\/s ETA 0:01 nll=0\.1235\x1b\[K$/);
    expect(s.out[1]).toMatch(/took 0:01\x1b\[K\n$/);
    expect(s.out.every((l) => !l.slice(1).includes('\n') || l.endsWith('\n'))).toBe(true);
  });

  it('formats durations', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Infinity)).toBe('?');
  });
});
