/**
 * The data schema of a model fitted from a prior (`fit`): the user's column names, with a
 * normalisation that brings their coordinates into the prior's domain (prior-domain.ts), so the
 * fitted model folder predicts from the user's own units with the ordinary `predict`.
 *
 *  - A prior trained on a synthetic task (its domain known): s and t map affinely into the domain
 *    (one scale for the spatial axes; lon/lat through a local km plane when the prior measures
 *    Euclidean distance); x and f are z-scored from the observations (f after its transform).
 *  - A prior trained on a table: its own schema (normalisation, categories, transforms) is kept,
 *    and the observations must have the same columns.
 * The groups the observations give must be those of the prior (same s, t and x dimensions and
 * outputs); a mismatch is an error naming it. No Node built-ins.
 */
import { fitSchema, numbersOf, schemaShape, type SchemaFlags } from '../data/schema/index.js';
import { TableError, type Table } from '../data/table.js';
import type { DataSchema, ModelFolderConfig } from '../models/config.js';
import { priorDomain, spatialMap, timeMap } from './prior-domain.js';
import { rawTimes } from './table-rows.js';

export function fitSchemaForPrior(table: Table, flags: SchemaFlags, prior: ModelFolderConfig, priorName: string, label: string): { schema: DataSchema; note: string } {
  const own = fitSchema(table, flags, label);
  const shape = schemaShape(own);
  const m = prior.model;
  const want = { s: m.groups.s?.dims ?? 0, t: m.groups.t?.dims ?? 0, x: m.groups.x?.dims ?? 0 };
  const words = { s: 'location (--s)', t: 'time (--t)', x: 'covariate (--x)' } as const;
  for (const g of ['s', 't', 'x'] as const) {
    if (shape[g] !== want[g]) {
      throw new TableError(`${label}: the prior '${priorName}' takes ${want[g]} ${words[g]} column(s), the flags give ${shape[g]}` +
        (g === 't' && want.t > 0 && shape.t === 0 ? '; name a time column with --t (data from one time: a column holding one date)' : ''));
    }
  }
  const out = m.output;
  if (shape.output.kind !== out.kind || (out.kind === 'gaussian' && shape.output.kind === 'gaussian' && shape.output.dims !== out.dims)) {
    throw new TableError(`${label}: the prior '${priorName}' predicts ${out.kind === 'gaussian' ? `${out.dims} numeric value column(s)` : `a categorical output`}, the flags give ${JSON.stringify(own.columns.f)}`);
  }
  const domain = priorDomain(prior);
  if (domain === null) {
    // A table-trained prior: its schema, the same columns.
    const p = prior.data;
    for (const g of ['s', 't', 'x', 'f'] as const) {
      if (JSON.stringify(p.columns[g]) !== JSON.stringify(own.columns[g])) {
        throw new TableError(`${label}: the prior '${priorName}' was trained on a table with ${g} columns ${JSON.stringify(p.columns[g])}; ` +
          `the observations give ${JSON.stringify(own.columns[g])} (name the same columns, or rename them in the file)`);
      }
    }
    return { schema: p, note: `the prior's own schema (trained on a table)` };
  }
  const priorDistance = m.groups.s?.bias?.distance ?? own.distance;
  if (priorDistance === 'great-circle' && own.distance !== 'great-circle') {
    throw new TableError(`${label}: the prior '${priorName}' measures great-circle distance on lon/lat; give lon/lat columns with --s (and --distance great-circle)`);
  }
  const normalization = { ...own.normalization };
  const notes: string[] = [];
  if (domain.s && own.columns.s.length > 0 && priorDistance === 'euclidean') {
    const project = own.distance === 'great-circle';
    const { stats, scale } = spatialMap(own.columns.s, own.columns.s.map((c) => numbersOf(table, c, label)), domain.s, project);
    Object.assign(normalization, stats);
    notes.push(project
      ? `lon/lat projected onto a local plane in km and scaled by ${scale.toPrecision(4)} per km into [${domain.s.lo.join(', ')}]–[${domain.s.hi.join(', ')}]`
      : `s scaled by ${scale.toPrecision(4)} into [${domain.s.lo.join(', ')}]–[${domain.s.hi.join(', ')}]`);
  }
  if (domain.t && own.columns.t.length === 1) {
    normalization[own.columns.t[0]!] = timeMap(rawTimes(table, own, label)!, domain.t);
    notes.push(`time span mapped onto [${domain.t.lo}, ${domain.t.hi}]`);
  }
  return { schema: { ...own, distance: priorDistance, normalization }, note: `${notes.join('; ')} (${domain.source})` };
}
