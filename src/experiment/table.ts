/**
 * Results of an experiment (runner-node.ts) → summary statistics over seeds and the Markdown
 * tables in the paper's layout (experiments.md §1, §10): rows = models, columns = evaluation
 * variants, cells = mean ± standard error of the mean over seeds; then per variant NLL, RMSE, MAE,
 * coverage (accuracy for categorical outputs) and runtime. Browser-safe.
 */

/** One evaluation variant of one trained cell. */
export interface VariantResult {
  status: 'ok' | 'oom' | 'error';
  /** The error message when status is not ok. */
  error?: string;
  nll: number | null;
  rmse: number | null;
  mae: number | null;
  coverage: number | null;
  accuracy: number | null;
  oracleNll: number | null;
  batches: number;
  /** Wall-clock seconds per evaluation batch (data generation included, warm-up excluded). */
  secondsPerBatch: number | null;
}

/** One model × seed cell. */
export interface CellResult {
  model: string;
  seed: number;
  status: 'ok' | 'error';
  error?: string;
  parameters: number | null;
  steps: number | null;
  /** Wall-clock seconds of training (over all resumed chunks). */
  trainSeconds: number | null;
  variants: Record<string, VariantResult>;
}

export interface Stat {
  mean: number;
  /** Standard error of the mean over seeds (sample std / √n; 0 for one seed). */
  se: number;
  n: number;
}

export const METRICS = ['nll', 'rmse', 'mae', 'coverage', 'accuracy', 'oracleNll', 'secondsPerBatch'] as const;
export type MetricName = (typeof METRICS)[number];

/** Mean ± SE over the finite values; null when there are none. */
export function stat(values: readonly (number | null | undefined)[]): Stat | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (xs.length === 0) return null;
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const v = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, se: Math.sqrt(v / n), n };
}

export type Summary = Record<string, Record<string, Partial<Record<MetricName | 'trainSeconds', Stat | null>> & { oom: number; errors: number }>>;

/** Per model and variant: each metric's mean ± SE over the seeds whose evaluation succeeded. */
export function summarise(cells: readonly CellResult[], models: readonly string[], variants: readonly string[]): Summary {
  const out: Summary = {};
  for (const m of models) {
    out[m] = {};
    const mine = cells.filter((c) => c.model === m);
    for (const v of variants) {
      const rs = mine.map((c) => c.variants[v]).filter((r): r is VariantResult => r !== undefined);
      const ok = rs.filter((r) => r.status === 'ok');
      const entry: Summary[string][string] = {
        oom: rs.filter((r) => r.status === 'oom').length,
        errors: rs.filter((r) => r.status === 'error').length + mine.filter((c) => c.status === 'error').length,
      };
      for (const k of METRICS) entry[k] = stat(ok.map((r) => r[k]));
      entry.trainSeconds = stat(mine.filter((c) => c.status === 'ok').map((c) => c.trainSeconds));
      out[m]![v] = entry;
    }
  }
  return out;
}

function fmt(s: Stat | null | undefined, digits: number): string {
  if (!s) return '–';
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.se.toFixed(digits)}` : s.mean.toFixed(digits);
}

function cell(e: Summary[string][string] | undefined, k: MetricName | 'trainSeconds', digits: number): string {
  if (!e) return '–';
  const s = e[k];
  if (s) return fmt(s, digits) + (e.oom > 0 ? ` (OOM ×${e.oom})` : '');
  if (e.oom > 0) return 'OOM';
  if (e.errors > 0) return 'error';
  return '–';
}

export interface TableInput {
  title: string;
  models: readonly string[];
  variants: readonly string[];
  seeds: readonly number[];
  summary: Summary;
  timing: boolean;
  categorical: boolean;
  notes?: readonly string[];
}

/** The Markdown report: the main table, then one detail table per variant. */
export function markdownTables(t: TableInput): string {
  const lines: string[] = [`# ${t.title}`, ''];
  const seeds = `mean ± standard error over ${t.seeds.length} seed${t.seeds.length === 1 ? '' : 's'} (${t.seeds.join(', ')})`;
  const main: MetricName = t.timing ? 'secondsPerBatch' : 'nll';
  lines.push(t.timing ? `Seconds per batch, ${seeds}; OOM = out of memory.` : `Test NLL, ${seeds}.`, '');
  lines.push(`| model | ${t.variants.join(' | ')} |`, `| --- |${t.variants.map(() => ' --- |').join('')}`);
  for (const m of t.models) lines.push(`| ${m} | ${t.variants.map((v) => cell(t.summary[m]?.[v], main, t.timing ? 3 : 3)).join(' | ')} |`);
  const anyOracle = t.models.some((m) => t.variants.some((v) => t.summary[m]?.[v]?.oracleNll));
  if (anyOracle && !t.timing) {
    lines.push(`| exact GP posterior (oracle) | ${t.variants.map((v) => {
      const o = t.models.map((m) => t.summary[m]?.[v]?.oracleNll).find((s) => s);
      return o ? o.mean.toFixed(3) : '–';
    }).join(' | ')} |`);
    // The paper's measure: NLL above the oracle's on the same batches. Every seed is scored on the
    // same test batches, so the oracle is one number per variant and the gap's SE is the NLL's.
    lines.push('', `Gap to the exact GP posterior (NLL − oracle NLL), ${seeds}.`, '');
    lines.push(`| model | ${t.variants.join(' | ')} |`, `| --- |${t.variants.map(() => ' --- |').join('')}`);
    for (const m of t.models) {
      lines.push(`| ${m} | ${t.variants.map((v) => {
        const e = t.summary[m]?.[v];
        // No NLL: the cell's status (OOM, error, –). An NLL without an oracle has no gap.
        if (!e?.nll) return cell(e, 'nll', 3);
        if (!e.oracleNll) return '–';
        return fmt({ ...e.nll, mean: e.nll.mean - e.oracleNll.mean }, 3) + (e.oom > 0 ? ` (OOM ×${e.oom})` : '');
      }).join(' | ')} |`);
    }
  }
  if (!t.timing) {
    for (const v of t.variants) {
      lines.push('', `## ${v}`, '');
      const cols = t.categorical
        ? [['NLL', 'nll', 3], ['accuracy', 'accuracy', 3]] as const
        : [['NLL', 'nll', 3], ['RMSE', 'rmse', 3], ['MAE', 'mae', 3], ['coverage', 'coverage', 3]] as const;
      const all = [...cols, ['s / test batch', 'secondsPerBatch', 3], ['runtime (train s)', 'trainSeconds', 1]] as const;
      lines.push(`| model | ${all.map((c) => c[0]).join(' | ')} |`, `| --- |${all.map(() => ' --- |').join('')}`);
      for (const m of t.models) lines.push(`| ${m} | ${all.map(([, k, d]) => cell(t.summary[m]?.[v], k, d)).join(' | ')} |`);
    }
  }
  if (t.notes && t.notes.length > 0) lines.push('', ...t.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
