/**
 * The data schema API: from a user's table and flags to the model's inputs and back. Stable:
 * extend, don't break (the training commands build on it).
 *
 * Training:  `parseSchemaFlags(cliValues)` → `fitSchema(table, flags)` → a `DataSchema` for
 *            config.json's `data`; `modelForSchema(schema, base)` → the `ModelConfig` it needs
 *            (`schemaShape` gives just the dims); `encode(table, schema)` → model-space arrays
 *            (encode.ts describes the form), with `observed` as the per-output target mask and
 *            `contextRows` for the rows usable as context.
 * Prediction: `encode` the context and targets, run the model, then `decodeGaussian` /
 *            `decodeCategorical` give columns named by `outputColumnNames` in data units
 *            (api/predict-table.ts does all this for a `Predictor`).
 * Problems are `TableError`s with ready-to-show messages (file, row, column, value); front ends
 * turn them into `UserError`s. The schema itself (types, config.json parsing, backward
 * compatibility) is models/data-schema.ts. No Node built-ins.
 */
export { type SchemaFlags, type SchemaShape, type TransformName, fitSchema, looksLonLat, parseSchemaFlags, schemaShape } from './fit.js';
export { type EncodeOptions, type EncodedTable, categoricalClasses, contextRows, encode, schemaColumns, selectRows } from './encode.js';
export { modelForSchema } from './model.js';
export { decodeCategorical, decodeGaussian, outputColumnNames } from './decode.js';
export { type BackTransformed, Z90, backTransform, fitBoxCoxLambda, forward, inverse } from './transforms.js';
export { UNIT_MS, formatIso, parseIsoMs } from './time.js';
export { MISSING_MARKERS, isMissingText, numbersOf, timesOf, labelsOf } from './columns.js';
