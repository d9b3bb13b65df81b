/**
 * A loaded model folder ready to predict in the data's own units (browser or Node; the Node
 * loader is load-node.ts): the model, its
 * weights on a backend, and the data schema of config.json (CSV column names, normalisation).
 *
 * Tables with the user's column names go through the data schema (data/schema: encode →
 * `setContextEncoded` / `predictEncoded` → decoded, back-transformed output columns; see
 * predict-table.ts). The numeric path below (`setContext` / `predictChunk` on columns in
 * `layout` order) is kept for the demo and other callers; for a schema without categories,
 * times or transforms the two give identical results.
 *
 * `predict` and `demo` both go through here, so the normalisation round trip is written once:
 * inputs z = (v − mean) / std per column before the model, outputs μ·std + mean and σ·std after
 * (columns without stored statistics pass through). The context is encoded once (`setContext`);
 * test points then go through `predictChunk` in chunks of any size with identical results,
 * because test points never interact (models/bsa-tnp.ts).
 */
import type { Backend } from '../engine/backend.js';
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import type { BsaTnpOptions, Coords } from '../models/bsa-tnp.js';
import { buildModel, type EncodedContext, type NeuralProcess } from '../models/registry.js';
import { GROUP_NAMES, type DataSchema, type GroupName, type ModelFolderConfig } from '../models/config.js';
import { toParams, type Params } from '../nn/params.js';
import { Rng } from '../engine/random.js';
import { UserError } from './errors.js';
import { contextRows, decodeCategorical, decodeGaussian, outputColumnNames, type EncodedTable } from '../data/schema/index.js';

/** z of the central 90% interval of a Gaussian: Φ⁻¹(0.95). */
export const Z90 = 1.6448536269514722;

/** The CSV layout of a model's points, from config.json's data schema. */
export interface PointLayout {
  /** Coordinate and covariate columns, in model order: x…, s…, t…. */
  coordinates: string[];
  /** Value columns (one integer class column for categorical models). */
  values: string[];
  /** Which group (and dimension within it) each coordinate column feeds. */
  groupOf: { group: GroupName; dim: number }[];
}

export function pointLayout(schema: DataSchema): PointLayout {
  const coordinates: string[] = [];
  const groupOf: { group: GroupName; dim: number }[] = [];
  for (const g of GROUP_NAMES) {
    schema.columns[g].forEach((name, dim) => {
      coordinates.push(name);
      groupOf.push({ group: g, dim });
    });
  }
  return { coordinates, values: [...schema.columns.f], groupOf };
}

const GROUP_WORDS: Record<GroupName | 'f', string> = {
  x: 'covariate', s: 'spatial coordinate', t: 'time coordinate', f: 'value',
};

/** "2 spatial coordinates (s0, s1) and 1 value (f)": what a model's CSV must hold, in words. */
export function describeColumns(schema: DataSchema, withValues: boolean): string {
  const parts: string[] = [];
  for (const g of [...GROUP_NAMES, 'f'] as const) {
    if (g === 'f' && !withValues) continue;
    const names = schema.columns[g];
    if (names.length === 0) continue;
    parts.push(`${names.length} ${GROUP_WORDS[g]}${names.length > 1 ? 's' : ''} (${names.join(', ')})`);
  }
  return parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/**
 * Checks a CSV header against the columns a model needs; throws a `UserError` that lists the
 * missing and unexpected columns, and says so when the number of coordinate columns differs from
 * the model's (a file for a model of another dimension).
 */
export function checkHeader(label: string, header: readonly string[], expected: readonly string[], schema: DataSchema,
  withValues: boolean, modelFolder: string): void {
  const missing = expected.filter((c) => !header.includes(c));
  const extra = header.filter((c) => !expected.includes(c));
  if (missing.length === 0 && extra.length === 0) return;
  const q = (xs: readonly string[]) => xs.map((c) => `'${c}'`).join(', ');
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`missing column${missing.length > 1 ? 's' : ''} ${q(missing)}`);
  if (extra.length > 0) problems.push(`unexpected column${extra.length > 1 ? 's' : ''} ${q(extra)}`);
  // A dimension mismatch: e.g. s0,s1,s2 for a 2-D model (default names are g0, g1, ...).
  const hints: string[] = [];
  for (const g of GROUP_NAMES) {
    const want = schema.columns[g].length;
    const pattern = new RegExp(`^${g}\\d+$`);
    const got = header.filter((c) => pattern.test(c)).length;
    if (got !== want && (got > 0 || want > 0) && schema.columns[g].every((c) => pattern.test(c))) {
      hints.push(`the model takes ${want} ${GROUP_WORDS[g]}${want === 1 ? '' : 's'}, the file has ${got}`);
    }
  }
  const dims = hints.length > 0 ? `; dimension mismatch: ${hints.join('; ')}` : '';
  throw new UserError(`${label}: ${problems.join(' and ')}${dims}. The model in '${modelFolder}' expects exactly ` +
    `${describeColumns(schema, withValues)}; header was: ${header.join(', ')}`);
}

/** Model outputs for a chunk of points, in data units; `[value column][point]`. */
export type Prediction =
  | { kind: 'gaussian'; mean: Float64Array[]; std: Float64Array[] }
  | { kind: 'categorical'; probs: Float64Array[] };

/** A model folder loaded onto a backend. */
export class Predictor {
  readonly model: NeuralProcess;
  readonly layout: PointLayout;
  private cache: EncodedContext | null = null;
  private contextSize = 0;

  private constructor(
    readonly folder: string,
    readonly config: ModelFolderConfig,
    private readonly params: Params,
    private readonly tensors: Tensor[],
    readonly backend: Backend,
    readonly command: string,
    options: BsaTnpOptions,
  ) {
    this.model = buildModel(config.model, options);
    this.layout = pointLayout(config.data);
  }

  /**
   * A predictor from a parsed model folder config and its weights (name → float32 data), checked
   * tensor by tensor against the model's parameter list; `folder` names the source in messages.
   * Works anywhere (browser or Node): the Node loader is `loadPredictor` in load-node.ts.
   */
  static fromWeights(folder: string, config: ModelFolderConfig, weights: ReadonlyMap<string, { data: Float32Array }>,
    backend: Backend, command: string, options: BsaTnpOptions = {}): Predictor {
    const model = buildModel(config.model);
    const specs = model.specs(Rng.fromSeed(0));
    const tensors = specs.map((s) => {
      const w = weights.get(s.name);
      if (!w) throw new UserError(`${command}: cannot load the model: '${folder}' has no tensor '${s.name}'`);
      for (let i = 0; i < w.data.length; i++) {
        if (!Number.isFinite(w.data[i]!)) {
          throw new UserError(`${command}: cannot load the model: ${folder}/model.safetensors: tensor '${s.name}' holds a non-finite value at index ${i}; the file is corrupt`);
        }
      }
      return E.tensor(w.data, s.shape, backend);
    });
    return new Predictor(folder, config, toParams(specs, tensors), tensors, backend, command, options);
  }

  get valueKind(): 'gaussian' | 'categorical' {
    return this.config.model.output.kind;
  }

  /** Number of classes (categorical) or value columns (Gaussian). */
  get outputWidth(): number {
    const o = this.config.model.output;
    return o.kind === 'gaussian' ? o.dims : o.classes;
  }

  private stats(column: string): { mean: number; std: number } {
    return this.config.data.normalization[column] ?? { mean: 0, std: 1 };
  }

  /** Normalised coordinates [1, n, dims] per group from columns in `layout.coordinates` order. */
  private coords(columns: readonly ArrayLike<number>[], n: number): Coords {
    const out: Coords = {};
    for (const g of GROUP_NAMES) {
      const gc = this.config.model.groups[g];
      if (!gc) continue;
      const data = new Float32Array(n * gc.dims);
      this.layout.groupOf.forEach(({ group, dim }, k) => {
        if (group !== g) return;
        const { mean, std } = this.stats(this.layout.coordinates[k]!);
        const col = columns[k]!;
        for (let i = 0; i < n; i++) data[i * gc.dims + dim] = (col[i]! - mean) / std;
      });
      out[g] = E.tensor(data, [1, n, gc.dims], this.backend);
    }
    return out;
  }

  /**
   * Encodes the context once. `columns`: coordinate columns then value columns
   * (`[...layout.coordinates, ...layout.values]` order), each `n` long, in data units.
   */
  setContext(columns: readonly ArrayLike<number>[], n: number): void {
    if (n === 0) throw new UserError(`${this.command}: the context is empty: at least one observation is needed`);
    this.clearContext();
    const nc = this.layout.coordinates.length;
    const o = this.config.model.output;
    const width = o.kind === 'gaussian' ? o.dims : o.classes;
    const f = new Float32Array(n * width);
    if (o.kind === 'gaussian') {
      this.layout.values.forEach((name, d) => {
        const { mean, std } = this.stats(name);
        const col = columns[nc + d]!;
        for (let i = 0; i < n; i++) f[i * width + d] = (col[i]! - mean) / std;
      });
    } else {
      const name = this.layout.values[0]!;
      const col = columns[nc]!;
      for (let i = 0; i < n; i++) {
        const c = col[i]!;
        if (!Number.isInteger(c) || c < 0 || c >= o.classes) {
          throw new UserError(`${this.command}: context row ${i + 1}, column '${name}': expected a class 0..${o.classes - 1}, got ${c}`);
        }
        f[i * width + c] = 1;
      }
    }
    const fT = E.tensor(f, [1, n, width], this.backend);
    const coords = this.coords(columns, n);
    try {
      this.cache = this.model.encode(this.params, { f: fT, coords });
      this.contextSize = n;
    } finally {
      fT.dispose();
    }
  }

  get context(): number {
    return this.contextSize;
  }

  /** Predicts `n` points; `columns` in `layout.coordinates` order, data units. */
  async predictChunk(columns: readonly ArrayLike<number>[], n: number): Promise<Prediction> {
    if (!this.cache) throw new Error(`${this.command}: predictChunk before setContext`);
    const coords = this.coords(columns, n);
    try {
      const out = this.model.decode(this.params, this.cache, coords);
      if (out.kind === 'gaussian') {
        const [mu, sigma] = await Promise.all([out.mean.data(), out.std.data()]);
        out.mean.dispose();
        out.std.dispose();
        const D = this.layout.values.length;
        const mean = this.layout.values.map(() => new Float64Array(n));
        const std = this.layout.values.map(() => new Float64Array(n));
        this.layout.values.forEach((name, d) => {
          const s = this.stats(name);
          for (let i = 0; i < n; i++) {
            // Rounded to float32: the model's precision, and short CSV text.
            mean[d]![i] = Math.fround(mu[i * D + d]! * s.std + s.mean);
            std[d]![i] = Math.fround(sigma[i * D + d]! * s.std);
          }
        });
        return { kind: 'gaussian', mean, std };
      }
      const logits = await out.logits.data();
      out.logits.dispose();
      const C = this.outputWidth;
      const probs = Array.from({ length: C }, () => new Float64Array(n));
      for (let i = 0; i < n; i++) {
        let mx = -Infinity;
        for (let c = 0; c < C; c++) mx = Math.max(mx, logits[i * C + c]!);
        let z = 0;
        for (let c = 0; c < C; c++) z += Math.exp(logits[i * C + c]! - mx);
        for (let c = 0; c < C; c++) probs[c]![i] = Math.fround(Math.exp(logits[i * C + c]! - mx) / z);
      }
      return { kind: 'categorical', probs };
    } finally {
      for (const g of GROUP_NAMES) coords[g]?.dispose();
    }
  }

  /**
   * Output column names: `pm10_mean, pm10_std, pm10_lo90, pm10_hi90` per Gaussian output, or one
   * probability column per class (`cover_p_<label>` when the schema has labels, else `cover_p0…`).
   */
  outputColumns(): string[] {
    return outputColumnNames(this.config.data, this.valueKind, this.outputWidth);
  }

  /** The class count of a categorical model (for `encode`), undefined for Gaussian models. */
  get modelClasses(): number | undefined {
    const o = this.config.model.output;
    return o.kind === 'categorical' ? o.classes : undefined;
  }

  /**
   * Encodes a context already in model space (`encode(table, schema)` from data/schema): only the
   * rows with every output observed are used (the model's context mask is per row). Returns the
   * number of context points used; none is a `UserError`.
   */
  setContextEncoded(enc: EncodedTable, label = 'context'): number {
    if (!enc.f) throw new Error(`${this.command}: setContextEncoded: the ${label} was encoded without values`);
    const rows = contextRows(enc);
    const n = rows.length;
    if (n === 0) {
      throw new UserError(`${this.command}: the ${label} has no usable observation: ${enc.n === 0 ? 'no rows' : `every one of its ${enc.n} rows with coordinates lacks a value of ${this.layout.values.join(', ')}`}; at least one is needed`);
    }
    this.clearContext();
    const take = (a: Float32Array, w: number) => {
      if (n === enc.n) return a;
      const out = new Float32Array(n * w);
      for (let r = 0; r < n; r++) out.set(a.subarray(rows[r]! * w, rows[r]! * w + w), r * w);
      return out;
    };
    const fT = E.tensor(take(enc.f, enc.fWidth), [1, n, enc.fWidth], this.backend);
    const coords = this.modelCoords(enc.coords, n, take);
    try {
      this.cache = this.model.encode(this.params, { f: fT, coords });
      this.contextSize = n;
    } finally {
      fT.dispose();
    }
    return n;
  }

  private modelCoords(c: EncodedTable['coords'], n: number, take: (a: Float32Array, w: number) => Float32Array = (a) => a): Coords {
    const out: Coords = {};
    for (const g of GROUP_NAMES) {
      const gc = this.config.model.groups[g];
      if (!gc) continue;
      const data = c[g];
      if (!data) throw new Error(`${this.command}: encoded inputs lack group '${g}'`);
      out[g] = E.tensor(take(data, gc.dims), [1, n, gc.dims], this.backend);
    }
    return out;
  }

  /**
   * Predicts `n` encoded points (`coords` as `EncodedTable.coords`, model space) and returns the
   * output columns of `outputColumns()` in the data's units (data/schema decode: normalisation and
   * transforms undone).
   */
  async predictEncoded(coords: EncodedTable['coords'], n: number): Promise<Float64Array[]> {
    if (!this.cache) throw new Error(`${this.command}: predictEncoded before setContextEncoded`);
    if (n === 0) return this.outputColumns().map(() => new Float64Array(0));
    const c = this.modelCoords(coords, n);
    try {
      const out = this.model.decode(this.params, this.cache, c);
      if (out.kind === 'gaussian') {
        const [mu, sigma] = await Promise.all([out.mean.data(), out.std.data()]);
        out.mean.dispose();
        out.std.dispose();
        return decodeGaussian(this.config.data, mu, sigma, n);
      }
      const logits = await out.logits.data();
      out.logits.dispose();
      return decodeCategorical(logits, n, this.outputWidth);
    } finally {
      for (const g of GROUP_NAMES) c[g]?.dispose();
    }
  }

  private clearContext(): void {
    this.cache?.dispose();
    this.cache = null;
    this.contextSize = 0;
  }

  dispose(): void {
    this.clearContext();
    for (const t of this.tensors) t.dispose();
  }
}

/** Fills one output row (after the coordinates) for point `i` of a prediction. */
export function fillOutputRow(p: Prediction, i: number, row: Float64Array, offset: number): void {
  let k = offset;
  if (p.kind === 'gaussian') {
    for (let d = 0; d < p.mean.length; d++) {
      const m = p.mean[d]![i]!;
      const s = p.std[d]![i]!;
      row[k++] = m;
      row[k++] = s;
      row[k++] = Math.fround(m - Z90 * s);
      row[k++] = Math.fround(m + Z90 * s);
    }
  } else {
    for (const col of p.probs) row[k++] = col[i]!;
  }
}
