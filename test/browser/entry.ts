// Everything that must run in a browser tab: engine (with both backends' browser-safe parts),
// kernels, layers, models. Bundled by browser-bundle.test.ts with platform=browser.
export * as engine from '../../src/engine/index.js';
export * as bsa from '../../src/kernels/bsa/op.js';
export * as attention from '../../src/nn/attention.js';
export * as krblock from '../../src/nn/krblock.js';
export * as model from '../../src/models/bsa-tnp.js';
export * as config from '../../src/models/config.js';
export * as webgpu from '../../src/engine/webgpu/backend.js';
export * as webgpuBrowser from '../../src/engine/webgpu/browser.js';
