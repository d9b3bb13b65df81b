/**
 * The page's one prediction: mean and std of the model's value at grid nodes (x, y in its two
 * spatial columns) from a context table, through the browser prediction API. main.ts runs it on
 * the main thread (WebGPU), cpu-worker.ts in the CPU worker.
 */
import { predictTargets, setContextTable } from '../api/predict-table.js';
import type { Predictor } from '../api/predictor.js';
import { makeTable, numericColumn, type Table } from '../data/table.js';

export async function predictGrid(p: Predictor, context: Table, label: string, grid: { x: Float64Array; y: Float64Array }): Promise<{ mean: Float64Array; std: Float64Array }> {
  const [sx, sy] = p.layout.coordinates;
  const f = p.layout.values[0]!;
  setContextTable(p, context, label);
  const out = await predictTargets(p, makeTable([sx!, sy!], [{ kind: 'number', values: grid.x }, { kind: 'number', values: grid.y }], 'grid'), {}, 'grid');
  return { mean: numericColumn(out, `${f}_mean`), std: numericColumn(out, `${f}_std`) };
}
