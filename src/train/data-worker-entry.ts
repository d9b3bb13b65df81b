/**
 * What a data worker thread imports (prefetch-node.ts): the task registry and the random streams.
 * A module of its own so that a bundle can ship it as a small file beside the CLI.
 */
export { resolveTask } from './tasks.js';
export { Rng } from '../engine/random.js';
export { gpOracle } from '../data/tasks.js';
