/**
 * The data schema API: from a user's table and flags to the model's inputs and back.
 * `fitSchema(table, flags)` learns a schema (training); `encode(table, schema)` gives the model's
 * numeric inputs; `decodeGaussian` / `decodeCategorical` turn outputs into user-named columns.
 * The schema itself (types, config.json parsing) is models/data-schema.ts. No Node built-ins.
 */
export { type SchemaFlags, type SchemaShape, type TransformName, fitSchema, looksLonLat, parseSchemaFlags, schemaShape } from './fit.js';
export { type EncodeOptions, type EncodedTable, categoricalClasses, contextRows, encode, schemaColumns, selectRows } from './encode.js';
export { modelForSchema } from './model.js';
export { decodeCategorical, decodeGaussian, outputColumnNames } from './decode.js';
export { type BackTransformed, Z90, backTransform, fitBoxCoxLambda, forward, inverse } from './transforms.js';
export { UNIT_MS, formatIso, parseIsoMs } from './time.js';
export { MISSING_MARKERS, isMissingText, numbersOf, timesOf, labelsOf } from './columns.js';
