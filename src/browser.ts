/**
 * `bsa-tnp/browser`: the prediction API for web pages (ESM, no Node built-ins). Load a model folder
 * from a URL or picked files onto WebGPU (or the WebAssembly CPU backend when the browser has no
 * WebGPU), build tables from JSON records, CSV or Parquet, and predict:
 *
 *   const model = await loadModel('/models/demo-gp2d/');
 *   const out = await predictTable(model, tableFromRecords(obs), tableFromRecords(points));
 *   tableToRecords(out); // [{ s0, s1, f_mean, f_std, f_lo90, f_hi90 }, ...]
 *
 * Built by scripts/build-web.ts into dist/browser/ (bundle plus type declarations).
 */
export {
  type BrowserBackend, type BrowserBackendChoice, createBrowserBackend, fetchModelFolder, loadModel, type LoadModelOptions,
  type ModelFolderFiles, type ModelSource, type NamedBlob, predictorFromFiles, readModelFiles,
} from './api/load-browser.js';
export { predictTable, predictTargets, type PredictTableOptions, setContextTable } from './api/predict-table.js';
export { describeColumns, type Prediction, Predictor, Z90 } from './api/predictor.js';
export { UserError } from './api/errors.js';
export { type GridBounds, type GridSize, makeGrid } from './api/grid.js';
export { type Column, makeTable, numericColumn, type Table, TableError, tableFromRecords, tableToRecords } from './data/table.js';
export { readTableFile, tableFromCsvText, tableFromParquetBytes, type TableFile } from './io/browser-table.js';
export { colorAt, type ColorMapName } from './io/colormap.js';
export type { Backend } from './engine/backend.js';
export { CpuBackend } from './engine/cpu/backend.js';
export { createBrowserWebGPUBackend } from './engine/webgpu/browser.js';
