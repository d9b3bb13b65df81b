/**
 * Prediction on in-memory tables, the form the HTTP service and the web page use: context and
 * target tables with the model's column names in, a table out that carries every target column
 * through (ids, labels) followed by the model's outputs (`f_mean, f_std, f_lo90, f_hi90`, or
 * `f_p0…` for a categorical model), in target order. No Node built-ins.
 */
import { type Column, type Table, TableError, makeTable, numericColumn } from '../data/table.js';
import { UserError } from './errors.js';
import { fillOutputRow, type Predictor } from './predictor.js';

export interface PredictTableOptions {
  /** Targets per model call (memory bound); results do not depend on it. Default 4096. */
  chunk?: number;
  /** Called after each chunk with the number of targets done (progress, time limits). */
  onChunk?: (done: number, total: number) => void | Promise<void>;
}

function columnsOf(predictor: Predictor, table: Table, names: readonly string[], label: string): Float64Array[] {
  try {
    return names.map((n) => {
      const col = numericColumn(table, n, label);
      for (let i = 0; i < col.length; i++) {
        if (!Number.isFinite(col[i]!)) {
          throw new TableError(`${label}: row ${i + 1}, column '${n}': expected a finite number, got ${Number.isNaN(col[i]!) ? 'a missing value' : col[i]}`);
        }
      }
      return col;
    });
  } catch (e) {
    if (e instanceof TableError) throw new UserError(`${predictor.command}: ${e.message}`);
    throw e;
  }
}

/** Encodes `context` (coordinates and values) as the predictor's context. */
export function setContextTable(predictor: Predictor, context: Table, label = 'context'): void {
  const { coordinates, values } = predictor.layout;
  if (context.rows === 0) throw new UserError(`${predictor.command}: the ${label} is empty: at least one observation is needed`);
  predictor.setContext(columnsOf(predictor, context, [...coordinates, ...values], label), context.rows);
}

/** Predicts every row of `targets` from the context already set; see the file comment. */
export async function predictTargets(predictor: Predictor, targets: Table, options: PredictTableOptions = {}, label = 'targets'): Promise<Table> {
  const chunk = options.chunk ?? 4096;
  const coords = columnsOf(predictor, targets, predictor.layout.coordinates, label);
  const outNames = predictor.outputColumns();
  for (const n of outNames) {
    if (targets.names.includes(n)) throw new UserError(`${predictor.command}: ${label} already has a column '${n}', which the prediction would overwrite; rename it`);
  }
  const out = outNames.map(() => new Float64Array(targets.rows));
  const row = new Float64Array(outNames.length);
  for (let start = 0; start < targets.rows; start += chunk) {
    const n = Math.min(chunk, targets.rows - start);
    const p = await predictor.predictChunk(coords.map((c) => c.subarray(start, start + n)), n);
    for (let i = 0; i < n; i++) {
      fillOutputRow(p, i, row, 0);
      for (let k = 0; k < outNames.length; k++) out[k]![start + i] = row[k]!;
    }
    await options.onChunk?.(start + n, targets.rows);
  }
  const columns: Column[] = [...targets.columns, ...out.map((values) => ({ kind: 'number' as const, values }))];
  return makeTable([...targets.names, ...outNames], columns, 'predictions');
}

/** `setContextTable` then `predictTargets`. */
export async function predictTable(predictor: Predictor, context: Table, targets: Table, options: PredictTableOptions = {}): Promise<Table> {
  setContextTable(predictor, context);
  return predictTargets(predictor, targets, options);
}

