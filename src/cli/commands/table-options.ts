/**
 * Command-line options for tables, shared by `train --data`, `eval --data` and `fit` (kept apart
 * from the commands so that every command file can import them without an import cycle).
 */
import type { OptionSpec } from '../args.js';

/** Schema flags shared by `train --data`, `eval --data` and `fit` (parsed by data/schema). */
export const SCHEMA_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  s: { type: 'string', value: 'COLS', description: 'location columns, e.g. lon,lat (lon/lat names: great-circle distance)' },
  t: { type: 'string', value: 'COL', description: 'time column (numbers, or ISO 8601 dates/times)' },
  x: { type: 'string', value: 'COLS', description: 'covariate columns (text columns become categories)' },
  f: { type: 'string', value: 'COLS', description: 'value column(s) to model' },
  distance: { type: 'string', value: 'great-circle|euclidean', description: 'distance on --s (default: great-circle for lon/lat names)' },
  'time-unit': { type: 'string', value: 'UNIT', description: 'unit of ISO times: day, hour, minute, second, year', default: 'day' },
  transform: { type: 'string', value: 'COL=log|log1p|boxcox', description: 'transform of a value column before modelling' },
};

/** Options of `train` that only `--data` uses. */
export const TABLE_TRAIN_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  data: { type: 'string', value: 'FILE', description: 'train on this table (CSV or Parquet) instead of a synthetic task; name the columns with --s/--t/--x/--f' },
  ...SCHEMA_OPTIONS,
  horizon: { type: 'string', value: 'H', description: '--task forecast: time steps to forecast at the end of each window', default: '1' },
  window: { type: 'string', value: 'W', description: 'time steps per task (interpolate: default 1 with --t, all without; forecast: default 5)' },
  split: { type: 'string', value: 'time:A,B|space:A,B', description: 'train/validation fractions by time or by station (test = the rest)', default: 'time:0.8,0.1 with --t, else space:0.8,0.1' },
  size: { type: 'string', value: 'paper|small', description: 'model size for --data: the paper\'s (475K parameters) or small (CPU)', default: 'paper' },
  init: { type: 'string', value: 'MODEL', description: 'start from this model\'s weights (new covariate columns start at zero weight); without --data: continue a model folder on a synthetic task under a new schedule' },
  'max-context': { type: 'string', value: 'N', description: 'at most N context rows per task', default: '512' },
  'max-targets': { type: 'string', value: 'N', description: 'at most N target rows per task', default: '512' },
};

