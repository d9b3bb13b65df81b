/**
 * `predictTable` (the API the HTTP service and web page call) with schema-built models: a text
 * categorical output (class labels as column names, probabilities equal to a direct forward's
 * softmax on hand-encoded inputs) and two Gaussian outputs where one is missing in some context
 * rows (those rows are not context: equal to predicting from the complete rows only).
 */
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPredictor } from '../../src/api/load-node.js';
import { predictTable } from '../../src/api/predict-table.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import { materialise, toParams } from '../../src/nn/params.js';
import { fitSchema } from '../../src/data/schema/index.js';
import { getColumn, tableFromRecords } from '../../src/data/table.js';
import { removeTempDirs, tempDir } from '../cli-predict/fixtures.js';
import { writeSchemaModel } from './fixtures.js';

afterAll(removeTempDirs);

const rng = Rng.fromSeed(11);
const COVERS = ['water', 'forest', 'urban'];

describe('predictTable with schema-built models', () => {
  it('text categorical output: cover_p_<label> columns equal a direct softmax on hand-encoded inputs', async () => {
    const ctx = Array.from({ length: 30 }, (_, i) => ({ x: rng.uniform() * 100, y: rng.uniform() * 50, cover: i === 4 ? 'NA' : COVERS[i % 3]! }));
    const tgt = Array.from({ length: 7 }, (_, i) => ({ id: `p${i}`, x: rng.uniform() * 100, y: rng.uniform() * 50 }));
    const schema = fitSchema(tableFromRecords(ctx), { s: ['x', 'y'], f: ['cover'] });
    const folder = path.join(tempDir('tables-cat'), 'model');
    const config = await writeSchemaModel(folder, schema, 5);
    expect(config.model.output).toEqual({ kind: 'categorical', classes: 3 });
    const predictor = loadPredictor(folder, new CpuBackend(), 'test');
    const out = await predictTable(predictor, tableFromRecords(ctx), tableFromRecords(tgt));
    predictor.dispose();
    expect(out.names).toEqual(['id', 'x', 'y', 'cover_p_forest', 'cover_p_urban', 'cover_p_water']);

    const n = schema.normalization;
    const z = (v: number, c: string) => (v - n[c]!.mean) / n[c]!.std;
    const labels = ['forest', 'urban', 'water'];
    const used = ctx.filter((r) => r.cover !== 'NA');
    const be = new CpuBackend();
    const m = new BsaTnp(config.model);
    const specs = m.specs(Rng.fromSeed(5));
    const p = toParams(specs, materialise(specs, be));
    const res = m.forward(p, {
      ctx: {
        f: E.tensor(used.flatMap((r) => labels.map((l) => (l === r.cover ? 1 : 0))), [1, used.length, 3], be),
        coords: { s: E.tensor(used.flatMap((r) => [z(r.x, 'x'), z(r.y, 'y')]), [1, used.length, 2], be) },
      },
      test: { s: E.tensor(tgt.flatMap((r) => [z(r.x, 'x'), z(r.y, 'y')]), [1, tgt.length, 2], be) },
    });
    if (res.kind !== 'categorical') throw new Error('expected categorical');
    const logits = await res.logits.data();
    for (let i = 0; i < tgt.length; i++) {
      const row = [0, 1, 2].map((c) => logits[i * 3 + c]!);
      const mx = Math.max(...row);
      const sum = row.reduce((a, v) => a + Math.exp(v - mx), 0);
      labels.forEach((l, c) => {
        expect(Math.abs((getColumn(out, `cover_p_${l}`).values as Float64Array)[i]! - Math.exp(row[c]! - mx) / sum)).toBeLessThan(1e-5);
      });
    }
  });

  it('two outputs, one missing in some context rows: those rows are not context', async () => {
    const ctx = Array.from({ length: 24 }, (_, i) => ({ e: rng.uniform() * 10, n: rng.uniform() * 10, no2: 20 + rng.normal(), o3: i % 5 === 0 ? null : 40 + rng.normal() }));
    const tgt = Array.from({ length: 5 }, () => ({ e: rng.uniform() * 10, n: rng.uniform() * 10 }));
    const schema = fitSchema(tableFromRecords(ctx), { s: ['e', 'n'], f: ['no2', 'o3'] });
    const folder = path.join(tempDir('tables-two'), 'model');
    await writeSchemaModel(folder, schema, 6);
    const predictor = loadPredictor(folder, new CpuBackend(), 'test');
    const a = await predictTable(predictor, tableFromRecords(ctx), tableFromRecords(tgt));
    const b = await predictTable(predictor, tableFromRecords(ctx.filter((r) => r.o3 !== null)), tableFromRecords(tgt));
    predictor.dispose();
    expect(a.names).toEqual(['e', 'n', 'no2_mean', 'no2_std', 'no2_lo90', 'no2_hi90', 'o3_mean', 'o3_std', 'o3_lo90', 'o3_hi90']);
    for (const c of a.names) expect(Array.from(getColumn(a, c).values as Float64Array)).toEqual(Array.from(getColumn(b, c).values as Float64Array));
  });
});
