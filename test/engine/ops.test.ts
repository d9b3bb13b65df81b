/**
 * Every differentiable op, on every backend:
 * - its gradient against central finite differences of the same op, and
 * - on WebGPU, its outputs and gradients against the CPU backend (relative 1e-5).
 *
 * Finite-difference tolerance. The probe loss is L = Σ_i y_i·w_i accumulated in float64 on the
 * host from float32 outputs, so its round-off is about 6e-8·Σ|y_i w_i| (≲ 1e-6 here). With step
 * h = 5e-3 the central difference has round-off error ≲ 1e-6/(2h) = 1e-4 and truncation error
 * h²/6·|L'''| ≲ 1e-4 for these smooth, O(1) inputs; we allow 2e-3·(1 + |g|), an order of magnitude
 * above both, and still far below any real gradient bug (which is O(|g|)).
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import type { Backend } from '../../src/engine/backend.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';

interface Case {
  name: string;
  /** Input shapes (or literal data) of the differentiable inputs. */
  inputs: (number[] | { shape: number[]; data: number[] })[];
  /** Maps raw normal samples to the op's domain. */
  domain?: (x: number) => number;
  f: (xs: Tensor[]) => Tensor;
  /** Indices of inputs that get no gradient (e.g. labels). */
  noGrad?: number[];
}

const pos = (x: number) => 0.5 + Math.abs(x);
const away = (x: number) => (x >= 0 ? 0.2 + x : -0.2 + x); // away from kinks at 0

const CASES: Case[] = [
  { name: 'neg', inputs: [[2, 3]], f: ([x]) => E.neg(x!) },
  { name: 'exp', inputs: [[2, 3]], f: ([x]) => E.exp(x!) },
  { name: 'log', inputs: [[2, 3]], domain: pos, f: ([x]) => E.log(x!) },
  { name: 'sqrt', inputs: [[2, 3]], domain: pos, f: ([x]) => E.sqrt(x!) },
  { name: 'rsqrt', inputs: [[2, 3]], domain: pos, f: ([x]) => E.rsqrt(x!) },
  { name: 'tanh', inputs: [[2, 3]], f: ([x]) => E.tanh(x!) },
  { name: 'sigmoid', inputs: [[2, 3]], f: ([x]) => E.sigmoid(x!) },
  { name: 'softplus', inputs: [[2, 3]], f: ([x]) => E.softplus(E.mul(x!, 3)) },
  { name: 'gelu', inputs: [[3, 4]], f: ([x]) => E.gelu(E.mul(x!, 2)) },
  { name: 'relu', inputs: [[2, 3]], domain: away, f: ([x]) => E.relu(x!) },
  { name: 'abs', inputs: [[2, 3]], domain: away, f: ([x]) => E.abs(x!) },
  { name: 'square', inputs: [[2, 3]], f: ([x]) => E.square(x!) },
  { name: 'recip', inputs: [[2, 3]], domain: pos, f: ([x]) => E.recip(x!) },
  { name: 'sin', inputs: [[2, 3]], f: ([x]) => E.sin(x!) },
  { name: 'cos', inputs: [[2, 3]], f: ([x]) => E.cos(x!) },
  { name: 'add (broadcast)', inputs: [[2, 3, 4], [3, 1]], f: ([a, b]) => E.add(a!, b!) },
  { name: 'sub (broadcast)', inputs: [[4], [2, 3, 4]], f: ([a, b]) => E.sub(a!, b!) },
  { name: 'mul (broadcast)', inputs: [[2, 1, 4], [1, 3, 1]], f: ([a, b]) => E.mul(a!, b!) },
  { name: 'div', inputs: [[2, 3], [2, 3]], domain: pos, f: ([a, b]) => E.div(a!, b!) },
  { name: 'pow', inputs: [[2, 3], [2, 3]], domain: pos, f: ([a, b]) => E.pow(a!, b!) },
  { name: 'maximum', inputs: [[2, 3], [2, 3]], f: ([a, b]) => E.maximum(a!, b!) },
  { name: 'minimum', inputs: [[2, 3], [3]], f: ([a, b]) => E.minimum(a!, b!) },
  {
    name: 'where', inputs: [[2, 3], [2, 3], { shape: [2, 3], data: [1, 0, 1, 0, 0, 1] }], noGrad: [2],
    f: ([a, b, c]) => E.where(c!, a!, b!),
  },
  { name: 'sum (all)', inputs: [[2, 3, 4]], f: ([x]) => E.sum(x!) },
  { name: 'sum (axes 0, 2)', inputs: [[2, 3, 4]], f: ([x]) => E.sum(x!, [0, 2]) },
  { name: 'mean (axis 1, keepDims)', inputs: [[2, 3, 4]], f: ([x]) => E.mean(x!, 1, true) },
  { name: 'max (axis -1)', inputs: [[3, 5]], f: ([x]) => E.max(x!, -1) },
  { name: 'min (axis 0)', inputs: [[3, 5]], f: ([x]) => E.min(x!, 0) },
  { name: 'matmul', inputs: [[3, 4], [4, 5]], f: ([a, b]) => E.matmul(a!, b!) },
  { name: 'linear (fused bias)', inputs: [[3, 4], [4, 5], [5]], f: ([x, w, b]) => E.linear(x!, w!, b!) },
  { name: 'linear + residual', inputs: [[3, 4], [4, 5], [5], [3, 5]], f: ([x, w, b, r]) => E.linear(x!, w!, b!, { residual: r! }) },
  { name: 'linear + gelu', inputs: [[3, 4], [4, 5], [5]], f: ([x, w, b]) => E.linear(x!, w!, b!, { act: 'gelu' }) },
  // x used twice: the second backward (in tape order) folds the gradient x already has into its own
  // kernel (tensor.ts Folded): the layer norm's dx, then the product's dx epilogue; and x as both
  // the input and the residual of one linear (only the first position is offered the sum).
  {
    name: 'x into a linear, then a layer norm (the layer norm folds)', inputs: [[3, 4], [4, 4], [4], [4], [4]],
    f: ([x, w, b, g, bt]) => E.add(E.layerNorm(x!, g!, bt!), E.linear(x!, w!, b!)),
  },
  {
    name: 'x into a layer norm, then a linear (the product folds)', inputs: [[3, 4], [4, 4], [4], [4], [4]],
    f: ([x, w, b, g, bt]) => E.add(E.linear(x!, w!, b!), E.layerNorm(x!, g!, bt!)),
  },
  { name: 'linear over leading axes (x [2, 3, 4], residual [2, 3, 5])', inputs: [[2, 3, 4], [4, 5], [5], [2, 3, 5]],
    f: ([x, w, b, r]) => E.linear(x!, w!, b!, { residual: r! }) },
  { name: 'linear + gelu over leading axes, x also through a layer norm', inputs: [[2, 3, 4], [4, 5], [5], [4], [4]],
    f: ([x, w, b, g, bt]) => E.add(E.sum(E.layerNorm(x!, g!, bt!), -1, true), E.linear(x!, w!, b!, { act: 'gelu' })) },
  { name: 'linear with x as its own residual', inputs: [[3, 4], [4, 4], [4]], f: ([x, w, b]) => E.linear(E.mul(x!, 1.5), w!, b!, { residual: x! }) },
  {
    name: 'linear with x as input and residual, after x fed a layer norm', inputs: [[3, 4], [4, 4], [4], [4], [4]],
    f: ([x, w, b, g, bt]) => E.add(E.layerNorm(x!, g!, bt!), E.linear(x!, w!, b!, { residual: x! })),
  },
  { name: 'matmul transA', inputs: [[4, 3], [4, 5]], f: ([a, b]) => E.matmul(a!, b!, { transA: true }) },
  { name: 'matmul transB', inputs: [[3, 4], [5, 4]], f: ([a, b]) => E.matmul(a!, b!, { transB: true }) },
  { name: 'matmul transA transB', inputs: [[4, 3], [5, 4]], f: ([a, b]) => E.matmul(a!, b!, { transA: true, transB: true }) },
  { name: 'matmul batched, broadcast B', inputs: [[2, 3, 4], [4, 5]], f: ([a, b]) => E.matmul(a!, b!) },
  { name: 'matmul batch broadcast both', inputs: [[2, 1, 3, 4], [1, 2, 4, 2]], f: ([a, b]) => E.matmul(a!, b!) },
  { name: 'reshape', inputs: [[2, 6]], f: ([x]) => E.mul(E.reshape(x!, [3, -1]), E.tensor([1, 2, 3, 4], [1, 4], x!.backend)) },
  { name: 'transpose', inputs: [[2, 3, 4]], f: ([x]) => E.mul(E.transpose(x!, [2, 0, 1]), E.tensor([1, 2, 3, 4], [4, 1, 1], x!.backend)) },
  { name: 'slice', inputs: [[4, 5]], f: ([x]) => E.slice(x!, [1, 2], [2, -1]) },
  { name: 'concat', inputs: [[2, 3], [2, 2]], f: ([a, b]) => E.concat([a!, E.mul(b!, 2)], 1) },
  { name: 'stack', inputs: [[3], [3]], f: ([a, b]) => E.stack([a!, b!], 0) },
  { name: 'broadcastTo', inputs: [[3, 1]], f: ([x]) => E.mul(E.broadcastTo(x!, [2, 3, 4]), E.tensor([...Array(24).keys()], [2, 3, 4], x!.backend)) },
  {
    name: 'gather', inputs: [[2, 4], { shape: [5], data: [1, 0, 1, 1, 0] }], noGrad: [1],
    f: ([t, i]) => E.gather(t!, i!),
  },
  { name: 'layerNorm', inputs: [[3, 8], [8], [8]], f: ([x, g, b]) => E.layerNorm(x!, g!, b!) },
  { name: 'softmax', inputs: [[3, 5]], f: ([x]) => E.softmax(x!) },
  { name: 'logSoftmax', inputs: [[3, 5]], f: ([x]) => E.logSoftmax(x!) },
  {
    name: 'gaussianNll', inputs: [[4, 2], [4, 2], [4, 2]],
    f: ([f, mu, s]) => E.gaussianNll(f!, mu!, E.add(E.softplus(s!), 0.3)),
  },
  {
    name: 'gaussianNll (masked)', inputs: [[2, 3, 1], [2, 3, 1], [2, 3, 1], { shape: [2, 3], data: [1, 1, 0, 1, 0, 0] }], noGrad: [3],
    f: ([f, mu, s, m]) => E.gaussianNll(f!, mu!, E.add(E.softplus(s!), 0.3), m!),
  },
  {
    name: 'crossEntropy', inputs: [[4, 3], { shape: [4, 3], data: [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0] }], noGrad: [1],
    f: ([l, y]) => E.crossEntropy(l!, y!),
  },
];

function makeInputs(c: Case, rng: Rng): { shape: number[]; data: Float32Array }[] {
  return c.inputs.map((spec) => {
    if (!Array.isArray(spec)) return { shape: spec.shape, data: Float32Array.from(spec.data) };
    const n = spec.reduce((p, d) => p * d, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (c.domain ?? ((x) => x))(rng.normal());
    return { shape: spec, data };
  });
}

/** L = Σ y·w in float64 on the host. */
async function probe(b: Backend, c: Case, raw: { shape: number[]; data: Float32Array }[], w: Float32Array | null): Promise<{ y: Float32Array; L: number }> {
  const out = E.tidy(() => c.f(raw.map((r) => E.tensor(r.data, r.shape, b))));
  const y = await out.data();
  out.dispose();
  let L = 0;
  if (w) for (let i = 0; i < y.length; i++) L += y[i]! * w[i]!;
  return { y, L };
}

async function analytic(b: Backend, c: Case, raw: { shape: number[]; data: Float32Array }[], w: Float32Array) {
  const xs = raw.map((r) => E.tensor(r.data, r.shape, b));
  const { value, grads } = E.valueAndGrad((ps) => {
    const y = c.f(ps);
    return E.sum(E.mul(y, E.tensor(w, y.shape, b)));
  })(xs);
  const out = { value: await value.data(), grads: await Promise.all(grads.map((g) => g.data())) };
  value.dispose();
  grads.forEach((g) => g.dispose());
  xs.forEach((x) => x.dispose());
  return out;
}

const backends: { name: string; get: () => Promise<Backend | null> }[] = [
  { name: 'cpu', get: async () => cpuBackend() },
  { name: 'webgpu', get: () => webgpuBackend() },
];

const cpuRef = cpuBackend();

describe.each(backends)('gradients on $name', ({ name, get }) => {
  let backend: Backend | null = null;
  afterAll(() => { if (name === 'cpu') backend?.destroy(); });

  it.each(CASES)('$name: gradient matches finite differences', async (c) => {
    backend ??= await get();
    if (!backend) return;
    const b = backend;
    const rng = Rng.fromSeed(CASES.indexOf(c) + 1);
    const raw = makeInputs(c, rng);
    const outSize = (await probe(b, c, raw, null)).y.length;
    const w = new Float32Array(outSize).map(() => rng.normal());
    const { grads } = await analytic(b, c, raw, w);
    const h = 5e-3;
    for (let k = 0; k < raw.length; k++) {
      if (c.noGrad?.includes(k)) continue;
      expect(grads[k]!.length).toBe(raw[k]!.data.length);
      for (let i = 0; i < raw[k]!.data.length; i++) {
        const x0 = raw[k]!.data[i]!;
        raw[k]!.data[i] = x0 + h;
        const lp = (await probe(b, c, raw, w)).L;
        raw[k]!.data[i] = x0 - h;
        const lm = (await probe(b, c, raw, w)).L;
        raw[k]!.data[i] = x0;
        const fd = (lp - lm) / (2 * h);
        const g = grads[k]![i]!;
        if (!(Math.abs(fd - g) <= 2e-3 * (1 + Math.abs(g)))) {
          throw new Error(`${c.name}: d/dx${k}[${i}] analytic ${g} vs finite difference ${fd}`);
        }
      }
    }
  });
});

describe('webgpu matches cpu', () => {
  let backend: Backend | null = null;

  it('linear over 1024 rows: weight and bias gradients from one split product (matmulColSums)', async () => {
    backend ??= await webgpuBackend();
    if (!backend) return;
    const c: Case = { name: 'linear 1024 rows', inputs: [[1024, 64], [64, 64], [64]], f: ([x, w, b]) => E.linear(x!, w!, b!) };
    const rng = Rng.fromSeed(999);
    const raw = makeInputs(c, rng);
    const w = new Float32Array(1024 * 64).map(() => rng.normal());
    const ref = await analytic(cpuRef, c, raw, w);
    const got = await analytic(backend, c, raw, w);
    // Sums over 1024 rows in different orders on the two backends: a few ulps of √1024 absolute.
    got.grads.forEach((g, k) => expect(allclose(g, ref.grads[k]!, 1e-5, 2e-5 * Math.sqrt(1024)), `gradient ${k}`).toBeNull());
  });

  it.each(CASES)('$name: outputs and gradients within rel 1e-5', async (c) => {
    backend ??= await webgpuBackend();
    if (!backend) return;
    const rng = Rng.fromSeed(1000 + CASES.indexOf(c));
    const raw = makeInputs(c, rng);
    const yRef = (await probe(cpuRef, c, raw, null)).y;
    const y = (await probe(backend, c, raw, null)).y;
    expect(allclose(y, yRef, 1e-5, 1e-6)).toBeNull();
    const w = new Float32Array(yRef.length).map(() => rng.normal());
    const ref = await analytic(cpuRef, c, raw, w);
    const got = await analytic(backend, c, raw, w);
    got.grads.forEach((g, k) => expect(allclose(g, ref.grads[k]!, 1e-5, 1e-6), `gradient ${k}`).toBeNull());
  });
});
