/**
 * The service's small parts on their own: byte sizes for --max-body, content negotiation
 * (Content-Type → parser, Accept → answer format), CSV text ↔ table, and the bounded serial queue
 * (one at a time, first in first out, refusal when full, aborted waiters leave, drain).
 */
import { describe, expect, it } from 'vitest';
import { getColumn } from '../../src/data/table.js';
import { tableFromCsvText, tableToCsv } from '../../src/serve/csv-table.js';
import { HttpError } from '../../src/serve/http-error.js';
import { parseByteSize } from '../../src/serve/limits.js';
import { answerFormat, bodyKind } from '../../src/serve/negotiate.js';
import { QueueFullError, SerialQueue } from '../../src/serve/queue.js';

describe('parseByteSize', () => {
  it('reads bytes and binary units, rejects the rest', () => {
    expect(parseByteSize('10mb')).toBe(10 * 1024 * 1024);
    expect(parseByteSize('512KB')).toBe(512 * 1024);
    expect(parseByteSize('1.5m')).toBe(1.5 * 1024 * 1024);
    expect(parseByteSize('100000')).toBe(100000);
    for (const bad of ['', 'ten', '10 parsecs', '-5', '0', '1e3']) expect(parseByteSize(bad)).toBeNull();
  });
});

describe('negotiation', () => {
  it('Content-Type selects the parser', () => {
    expect(bodyKind('text/csv; charset=utf-8')).toBe('csv');
    for (const t of [undefined, 'application/json', 'application/vnd.api+json', 'application/x-www-form-urlencoded', 'text/plain']) expect(bodyKind(t)).toBe('json');
    expect(() => bodyKind('multipart/form-data; boundary=x')).toThrow(HttpError);
  });

  it('Accept selects the answer format with q-values; JSON on ties', () => {
    expect(answerFormat(undefined)).toBe('json');
    expect(answerFormat('*/*')).toBe('json');
    expect(answerFormat('text/csv')).toBe('csv');
    expect(answerFormat('text/*')).toBe('csv');
    expect(answerFormat('text/csv;q=0.5, application/json')).toBe('json');
    expect(answerFormat('application/json;q=0.2, text/csv;q=0.9')).toBe('csv');
    expect(answerFormat('text/html,application/xhtml+xml,*/*;q=0.8')).toBe('json');
    expect(() => answerFormat('text/html')).toThrow(/allows neither application\/json nor text\/csv/);
  });
});

describe('CSV text ↔ table', () => {
  it('number and text columns, missing values, quotes, round trip', () => {
    const t = tableFromCsvText('id,s0,note\n"a,1",1.5,\nb,NA,"say ""hi"""\n\n', 'targets');
    expect(t.names).toEqual(['id', 's0', 'note']);
    expect(getColumn(t, 'id')).toEqual({ kind: 'text', values: ['a,1', 'b'] });
    const s0 = getColumn(t, 's0');
    expect(s0.kind).toBe('number');
    expect(Array.from(s0.values as Float64Array)).toEqual([1.5, NaN]);
    expect(getColumn(t, 'note').values).toEqual([null, 'say "hi"']);
    expect(tableToCsv(t)).toBe('id,s0,note\n"a,1",1.5,\nb,,"say ""hi"""\n');
  });

  it('errors name the row', () => {
    expect(() => tableFromCsvText('s0,s1\n1,2\n3\n', 'context')).toThrow('context CSV: row 2 has 1 field, the header has 2 (s0, s1)');
    expect(() => tableFromCsvText('s0,s1\n1,1e39\n', 'context')).toThrow("context CSV: row 1, column 's1': expected a finite number within float32 range (|x| ≤ 3.4e38), got '1e39'");
    expect(() => tableFromCsvText('s0,s0\n1,2\n', 'context')).toThrow("context CSV: column 's0' appears twice");
    expect(() => tableFromCsvText('', 'context')).toThrow('context CSV is empty');
  });
});

describe('SerialQueue', () => {
  const tick = () => new Promise((r) => setTimeout(r, 1));

  it('runs one task at a time, first in first out, refuses beyond capacity', async () => {
    const q = new SerialQueue(2);
    const log: string[] = [];
    let release!: () => void;
    const first = q.run(async () => { log.push('a start'); await new Promise<void>((r) => { release = r; }); log.push('a end'); });
    const b = q.run(async () => { log.push('b'); });
    const c = q.run(async () => { log.push('c'); });
    await tick();
    expect(q.running).toBe(true);
    expect(q.length).toBe(2);
    await expect(q.run(async () => {})).rejects.toThrow(QueueFullError);
    release();
    await Promise.all([first, b, c]);
    expect(log).toEqual(['a start', 'a end', 'b', 'c']);
    expect(q.running).toBe(false);
  });

  it('an aborted waiter leaves without running; drain waits for the rest', async () => {
    const q = new SerialQueue(4);
    let release!: () => void;
    const ran: string[] = [];
    const first = q.run(() => new Promise<void>((r) => { release = r; }));
    const ac = new AbortController();
    const gone = q.run(async () => { ran.push('gone'); }, ac.signal);
    const kept = q.run(async () => { ran.push('kept'); });
    await tick();
    ac.abort(new Error('client left'));
    await expect(gone).rejects.toThrow('client left');
    expect(q.length).toBe(1);
    let drained = false;
    const d = q.drain().then(() => { drained = true; });
    await tick();
    expect(drained).toBe(false);
    release();
    await Promise.all([first, kept, d]);
    expect(ran).toEqual(['kept']);
    expect(drained).toBe(true);
  });
});
