/**
 * Parsers of the parts every model configuration shares (coordinate groups with their biases, the
 * output distribution), used by BSA-TNP's `parseConfig` (config.ts) and the baselines'
 * (baseline-config.ts). No Node built-ins here.
 */
import { ConfigError, boolean, numberIn, object, oneOf, or, positiveInt } from './config-checks.js';
import type { BiasConfig, GroupConfig, GroupName, OutputConfig } from './config.js';

const GROUP_FIELDS = ['dims', 'embed', 'bias'] as const;
const BIAS_FIELDS = ['family', 'numBasis', 'distance', 'untie'] as const;

function defaultBias(group: GroupName): BiasConfig {
  // model.md §5.2: s → RBF F=5, t → RBF F=3.
  return { family: 'rbf', numBasis: group === 't' ? 3 : 5, distance: 'euclidean' };
}

function parseBias(v: unknown, path: string, base: BiasConfig): BiasConfig {
  const o = object(v, path, BIAS_FIELDS);
  const family = oneOf(or(o.family, base.family), `${path}.family`, ['rbf', 'tisa', 'exponential', 'scalar'] as const);
  const numBasis = positiveInt(or(o.numBasis, base.numBasis), `${path}.numBasis`);
  const untieIn = o.untie === undefined && o.family === undefined && o.numBasis === undefined ? base.untie : o.untie;
  let untie: number[] | undefined;
  if (untieIn !== undefined) {
    if (family !== 'rbf') throw new ConfigError(`${path}.untie`, `only for the "rbf" family, got "${family}"`);
    if (!Array.isArray(untieIn) || untieIn.length !== numBasis - 1 || untieIn.some((l) => typeof l !== 'number' || !(l > 0) || !Number.isFinite(l))) {
      throw new ConfigError(`${path}.untie`, `expected ${numBasis - 1} positive lengthscales (numBasis − 1), got ${JSON.stringify(untieIn)}`);
    }
    untie = [...(untieIn as number[])];
  }
  return {
    family,
    numBasis,
    distance: oneOf(or(o.distance, base.distance), `${path}.distance`, ['euclidean', 'great-circle'] as const),
    ...(untie ? { untie } : {}),
  };
}

export function parseGroup(v: unknown, path: string, name: GroupName, base: GroupConfig | null): GroupConfig | null {
  if (v === null) return null;
  const o = object(v, path, GROUP_FIELDS);
  if (base === null && o.dims === undefined) throw new ConfigError(`${path}.dims`, 'required (a positive integer) for a group the defaults do not have');
  const dims = positiveInt(or(o.dims, base?.dims), `${path}.dims`);
  const embed = boolean(or(o.embed, base?.embed ?? true), `${path}.embed`);
  let bias: BiasConfig | null;
  if (o.bias === undefined) bias = base?.bias ?? null;
  else if (o.bias === null) bias = null;
  else bias = parseBias(o.bias, `${path}.bias`, base?.bias ?? defaultBias(name));
  if (bias?.distance === 'great-circle' && dims !== 2) {
    throw new ConfigError(`${path}.bias.distance`, `"great-circle" needs 2 dims (lon°, lat°), group has ${dims}`);
  }
  return { dims, embed, bias };
}

export function parseOutput(v: unknown, path: string, base: OutputConfig): OutputConfig {
  const probe = object(v, path, ['kind', 'dims', 'minStd', 'standardize', 'trend', 'classes']);
  const kind = oneOf(or(probe.kind, base.kind), `${path}.kind`, ['gaussian', 'categorical'] as const);
  if (kind === 'gaussian') {
    const b: { dims: number; minStd: number; standardize?: boolean; trend?: 'linear' | 'quadratic' } = base.kind === 'gaussian' ? base : { dims: 1, minStd: 0 };
    const o = object(v, path, ['kind', 'dims', 'minStd', 'standardize', 'trend']);
    const standardize = boolean(or(o.standardize, b.standardize ?? false), `${path}.standardize`);
    const t = or(o.trend, b.trend ?? null);
    const trend = t === null ? null : oneOf(t, `${path}.trend`, ['linear', 'quadratic'] as const);
    if (trend && !standardize) throw new ConfigError(`${path}.trend`, 'needs "standardize": true (the trend is taken off with the mean, and the residuals are scaled)');
    return {
      kind,
      dims: positiveInt(or(o.dims, b.dims), `${path}.dims`),
      minStd: numberIn(or(o.minStd, b.minStd), `${path}.minStd`, 0, 1, { hi: true }),
      ...(standardize ? { standardize } : {}),
      ...(trend ? { trend } : {}),
    };
  }
  const o = object(v, path, ['kind', 'classes']);
  if (base.kind !== 'categorical' && o.classes === undefined) throw new ConfigError(`${path}.classes`, 'required (an integer >= 2) for a categorical output');
  const classes = positiveInt(or(o.classes, base.kind === 'categorical' ? base.classes : undefined), `${path}.classes`);
  if (classes < 2) throw new ConfigError(`${path}.classes`, `expected an integer >= 2, got ${classes}`);
  return { kind, classes };
}
