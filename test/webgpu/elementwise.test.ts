/** WebGPU fill, unary, broadcasting binary and where against float64 references. */
import { afterAll, describe, expect, it } from 'vitest';
import type { BinaryOp, UnaryOp } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { broadcastRef, expectClose, gpu, ints, rand, randomShapes } from './util.js';

const be = await gpu();
afterAll(() => be?.destroy());

const C = Math.sqrt(2 / Math.PI);
const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));
const geluGrad = (x: number): number => {
  const t = Math.tanh(C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x);
};

/** Reference and input domain of each unary op. */
const UNARY: Record<UnaryOp, [(x: number) => number, number, number]> = {
  neg: [(x) => -x, -5, 5],
  exp: [Math.exp, -8, 8],
  log: [Math.log, 1e-3, 50],
  sqrt: [Math.sqrt, 0, 100],
  rsqrt: [(x) => 1 / Math.sqrt(x), 1e-2, 100],
  tanh: [Math.tanh, -6, 6],
  softplus: [(x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), -20, 20],
  gelu: [gelu, -3, 3],
  relu: [(x) => Math.max(x, 0), -3, 3],
  sigmoid: [(x) => 1 / (1 + Math.exp(-x)), -12, 12],
  abs: [Math.abs, -3, 3],
  square: [(x) => x * x, -30, 30],
  recip: [(x) => 1 / x, 0.01, 10],
  sin: [Math.sin, -20, 20],
  cos: [Math.cos, -20, 20],
  isfinite: [(x) => (Number.isFinite(x) ? 1 : 0), -1e38, 1e38],
  sign: [Math.sign, -2, 2],
};

describe.skipIf(!be)('webgpu elementwise', () => {
  const b = be!;

  it('fill, including length 0 and NaN', async () => {
    expect(Array.from(await b.read(b.fill(1000, -2.5)))).toEqual(new Array(1000).fill(-2.5));
    expect((await b.read(b.fill(0, 1))).length).toBe(0);
    expect(Number.isNaN((await b.read(b.fill(3, NaN)))[2])).toBe(true);
  });

  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    it(`unary ${op}`, async () => {
      const [f, lo, hi] = UNARY[op];
      const rng = Rng.fromSeed(op.length * 7919 + op.charCodeAt(0));
      const x = rand(rng, 1537, lo, hi);
      if (op === 'tanh' || op === 'gelu' || op === 'sin') x.set([0, 1e-4, -3e-3, 0.2, -0.26]);
      const got = await b.read(b.unary(op, b.upload(x)));
      const ref = Array.from(x, (v) => f(v));
      // sin/cos: absolute error of the range reduction ~ |x|·2^-24.
      const atol = op === 'sin' || op === 'cos' ? 3e-6 : 1e-6;
      expectClose(got, ref, 1e-5, atol, op);
    });
  }

  it('unary special values: isfinite, log(0), sign(0), softplus/sigmoid/gelu tails', async () => {
    const x = new Float32Array([Infinity, -Infinity, NaN, 0, -3e38, 1]);
    expect(Array.from(await b.read(b.unary('isfinite', b.upload(x))))).toEqual([0, 0, 0, 1, 1, 1]);
    const lg = await b.read(b.unary('log', b.upload(new Float32Array([0, 1, 1 + 2 ** -20]))));
    expect(lg[0]).toBe(-Infinity);
    expect(lg[1]).toBe(0);
    expectClose([lg[2]!], [Math.log(1 + 2 ** -20)], 1e-6, 0);
    expect(Array.from(await b.read(b.unary('sign', b.upload(new Float32Array([0, -4, 4])))))).toEqual([0, -1, 1]);
    const big = new Float32Array([-80, 100, -60]);
    expectClose(await b.read(b.unary('softplus', b.upload(big))), [Math.exp(-80), 100, Math.exp(-60)], 1e-5, 0, 'softplus');
    expectClose(await b.read(b.unary('sigmoid', b.upload(big))), [1 / (1 + Math.exp(80)), 1, 1 / (1 + Math.exp(60))], 1e-5, 0, 'sigmoid');
    expectClose(await b.read(b.unary('gelu', b.upload(new Float32Array([-30, 30])))), [0, 30], 1e-6, 1e-30, 'gelu');
  });

  const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
    add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y,
    max: Math.max, min: Math.min, pow: (x, y) => x ** y,
    gt: (x, y) => +(x > y), ge: (x, y) => +(x >= y), lt: (x, y) => +(x < y), le: (x, y) => +(x <= y),
    eq: (x, y) => +(x === y), ne: (x, y) => +(x !== y), geluGrad: (x, dy) => dy * geluGrad(x),
  };

  for (const op of Object.keys(BINARY) as BinaryOp[]) {
    it(`binary ${op} with broadcasting, ranks 1..4`, async () => {
      const rng = Rng.fromSeed(1000 + op.length * 31 + op.charCodeAt(1));
      for (let trial = 0; trial < 6; trial++) {
        const rank = 1 + (trial % 4);
        const { out, bcast } = randomShapes(rng, rank);
        const aShape = trial === 0 ? out.slice() : bcast();
        const bShape = bcast();
        const na = aShape.reduce((p, q) => p * q, 1);
        const nb = bShape.reduce((p, q) => p * q, 1);
        const cmp = ['gt', 'ge', 'lt', 'le', 'eq', 'ne', 'max', 'min'].includes(op);
        const x = cmp ? ints(rng, na, -2, 3) : op === 'pow' ? rand(rng, na, 0.5, 2) : rand(rng, na, -2, 2);
        const y = cmp ? ints(rng, nb, -2, 3) : op === 'div' ? rand(rng, nb, 0.5, 2)
          : op === 'pow' ? rand(rng, nb, -2, 2) : rand(rng, nb, -2, 2);
        const got = await b.read(b.binary(op, b.upload(x), aShape, b.upload(y), bShape, out));
        const ref = broadcastRef([x, y], [aShape, bShape], out, BINARY[op]);
        expectClose(got, ref, 1e-5, 1e-6, `${op} ${JSON.stringify([aShape, bShape, out])}`);
      }
    });
  }

  it('pow with negative bases, integer exponents and zero', async () => {
    const x = new Float32Array([-2, -2, -3, 0, 0, 0, -1.5, 4]);
    const y = new Float32Array([2, 3, -1, 2, 0, -1, 0.5, 0.5]);
    const got = await b.read(b.binary('pow', b.upload(x), [8], b.upload(y), [8], [8]));
    expectClose(got, Array.from(x, (v, i) => v ** y[i]!), 1e-6, 0, 'pow');
  });

  it('a binary op on the same storage twice, and rank 0', async () => {
    const x = b.upload(new Float32Array([1, 2, 3]));
    expect(Array.from(await b.read(b.binary('mul', x, [3], x, [3], [3])))).toEqual([1, 4, 9]);
    const s = b.upload(new Float32Array([5]));
    expect(Array.from(await b.read(b.binary('sub', s, [], s, [], [])))).toEqual([0]);
  });

  it('where with three broadcast shapes', async () => {
    const rng = Rng.fromSeed(77);
    for (let trial = 0; trial < 5; trial++) {
      const { out, bcast } = randomShapes(rng, 1 + (trial % 4));
      const shapes = [bcast(), bcast(), bcast()];
      const n = shapes.map((s) => s.reduce((p, q) => p * q, 1));
      const c = ints(rng, n[0]!, 0, 2);
      const x = rand(rng, n[1]!);
      const y = rand(rng, n[2]!);
      const got = await b.read(b.where(b.upload(c), shapes[0]!, b.upload(x), shapes[1]!, b.upload(y), shapes[2]!, out));
      expectClose(got, broadcastRef([c, x, y], shapes, out, (cc, xx, yy) => (cc !== 0 ? xx : yy)), 0, 0, 'where');
    }
  });

  it('rejects shapes that do not broadcast', () => {
    const x = b.upload(new Float32Array(6));
    expect(() => b.binary('add', x, [2, 3], x, [3, 2], [2, 3])).toThrow(/add: input 1 shape \[3, 2\] does not broadcast to \[2, 3\]/);
  });
});
