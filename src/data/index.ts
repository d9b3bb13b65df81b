/** The data layer: GP/SIR/Gneiting task generators, the GP oracle, metrics and normalisation. */
export * from './batch.js';
export * from './cholesky.js';
export * from './distributions.js';
export * from './gneiting.js';
export * from './gp.js';
export * from './gp-posterior.js';
export * from './kernels.js';
export * from './metrics.js';
export * from './multiscale.js';
export * from './normalise.js';
export * from './sir.js';
export * from './sphere.js';
export * from './stream.js';
export { GP_1D, GP_2D, GP_2D_SCALED, GP_2D_SHIFTED, type GpOracleResult, type GpTaskConfig, gpOracle, gpTask,
  type Region, sampleRegions } from './tasks.js';
