/**
 * The table-level prediction API (api/predict-table.ts) and JSON records (data/table.ts): results
 * equal the real command line's `predict` on the same points (an independent path: CSV files,
 * streaming), do not depend on the chunk size, carry extra target columns through, and bad
 * records get errors that name the record and key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPredictor } from '../../src/api/load-node.js';
import { predictTable } from '../../src/api/predict-table.js';
import { UserError } from '../../src/api/errors.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import { TableError, getColumn, tableFromRecords, tableToRecords } from '../../src/data/table.js';
import { parseCsv } from '../../src/io/csv.js';
import { randomContext, removeTempDirs, runCli, tempDir, writeCsvText, writeRandomModel } from '../cli-predict/fixtures.js';

let dir: string;
let model: string;
const ctx = randomContext(80, 5);
const tgt = randomContext(30, 6).map((r) => [r[0]!, r[1]!]);

afterAll(removeTempDirs);
beforeAll(async () => {
  dir = tempDir('predict-table');
  model = path.join(dir, 'model');
  await writeRandomModel(model, 1);
});

describe('predictTable', () => {
  it('equals the command line predict, for any chunk, and carries extra columns', async () => {
    writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], ctx);
    writeCsvText(path.join(dir, 'tgt.csv'), ['s0', 's1'], tgt);
    const r = await runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'), '--targets', path.join(dir, 'tgt.csv'), '--out', path.join(dir, 'out.csv')]);
    expect(r.code, r.stderr).toBe(0);
    const cli = parseCsv(fs.readFileSync(path.join(dir, 'out.csv'), 'utf8'), { label: 'out' }).values;

    const predictor = loadPredictor(model, new CpuBackend(), 'test');
    const context = tableFromRecords(ctx.map(([s0, s1, f]) => ({ s0, s1, f })));
    const targets = tableFromRecords(tgt.map(([s0, s1], i) => ({ station: `st${i}`, s0, s1 })));
    for (const chunk of [7, 4096]) {
      const out = await predictTable(predictor, context, targets, { chunk });
      expect(out.names).toEqual(['station', 's0', 's1', 'f_mean', 'f_std', 'f_lo90', 'f_hi90']);
      expect(getColumn(out, 'station').values[3]).toBe('st3');
      for (const name of ['f_mean', 'f_std', 'f_lo90', 'f_hi90']) {
        const got = getColumn(out, name).values as Float64Array;
        const want = cli.get(name)!;
        for (let i = 0; i < tgt.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]!)));
      }
    }
    predictor.dispose();
  });

  it('names a missing column (with a did-you-mean for longer names) and a missing value', async () => {
    const predictor = loadPredictor(model, new CpuBackend(), 'serve');
    const context = tableFromRecords([{ s0: 0, s1: 0, f: 1 }]);
    await expect(predictTable(predictor, context, tableFromRecords([{ s0: 0, s2: 1 }]))).rejects.toThrow(/serve: targets: missing column 's1'\. The model in '.*' expects 2 spatial coordinates \(s0, s1\); the table has: s0, s2/);
    await expect(predictTable(predictor, context, tableFromRecords([{ s0: 0 }]))).rejects.toThrow(/serve: targets: missing column 's1'; dimension mismatch: the model takes 2 spatial coordinates, the table has 1\./);
    expect(() => getColumn(tableFromRecords([{ station: 1 }]), 'staton', 'obs.csv')).toThrow(/obs.csv: no column 'staton'; did you mean 'station'\?/);
    await expect(predictTable(predictor, context, tableFromRecords([{ s0: 0, s1: 1 }, { s0: 0 }]), { strict: true })).rejects.toThrow(/targets: row 2, column 's1': the value is missing/);
    const warnings: string[] = [];
    const kept = await predictTable(predictor, context, tableFromRecords([{ s0: 0, s1: 1 }, { s0: 0 }]), { onWarning: (m) => warnings.push(m) });
    expect(kept.rows).toBe(1);
    expect(warnings).toEqual(["serve: targets: 1 row dropped for a missing coordinate, time or covariate (first: row 2, column 's1'); use --strict to make this an error"]);
    await expect(predictTable(predictor, tableFromRecords([{ s0: 0, s1: 'abc', f: 1 }]), context)).rejects.toThrow(UserError);
    predictor.dispose();
  });
});

describe('tableFromRecords', () => {
  it('unions keys, keeps text, maps null and absent keys to missing, round-trips', () => {
    const t = tableFromRecords([{ a: 1, b: 'x' }, { a: null, c: 2.5 }]);
    expect(t.names).toEqual(['a', 'b', 'c']);
    expect(Array.from(getColumn(t, 'a').values as Float64Array)).toEqual([1, NaN]);
    expect(getColumn(t, 'b').values).toEqual(['x', null]);
    expect(tableToRecords(t)).toEqual([{ a: 1, b: 'x', c: null }, { a: null, b: null, c: 2.5 }]);
  });
  it('rejects non-objects and nested values by record and key', () => {
    expect(() => tableFromRecords([1])).toThrow(/records\[0\]: expected an object of column values, got number/);
    expect(() => tableFromRecords([{ a: 1 }, { a: [1] }])).toThrow(/records\[1\]\.a: expected a number, a string or null, got an array/);
    expect(() => tableFromRecords([{ a: true }])).toThrow(TableError);
  });
});
