/** WebGPU layer norm (forward, backward), softmax, log-softmax, random and AdamW vs references. */
import { afterAll, describe, expect, it } from 'vitest';
import { Rng, randomHost, threefry2x32 } from '../../src/engine/random.js';
import { expectClose, gpu, rand } from './util.js';

const be = await gpu();
afterAll(() => be?.destroy());

function layerNormRef(x: Float32Array, g: Float32Array, bt: Float32Array, rows: number, cols: number, eps: number) {
  const y = new Float64Array(rows * cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]!;
    const mu = s / cols;
    let q = 0;
    for (let c = 0; c < cols; c++) q += (x[r * cols + c]! - mu) ** 2;
    const rs = 1 / Math.sqrt(q / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c]! - mu) * rs * g[c]! + bt[c]!;
  }
  return { y, mean, rstd };
}

describe.skipIf(!be)('webgpu row kernels', () => {
  const b = be!;
  const shapes: [number, number][] = [[1, 1], [3, 7], [5, 64], [4, 300], [70, 33], [1100, 3]];

  it('layerNorm forward and backward (dgamma/dbeta over one and many chunks)', async () => {
    const rng = Rng.fromSeed(31);
    for (const [rows, cols] of shapes) {
      const x = rand(rng, rows * cols, -2, 3);
      const g = rand(rng, cols, 0.5, 1.5);
      const bt = rand(rng, cols);
      const eps = 1e-5;
      const out = b.layerNorm(b.upload(x), b.upload(g), b.upload(bt), rows, cols, eps);
      const ref = layerNormRef(x, g, bt, rows, cols, eps);
      const what = `layerNorm ${rows}x${cols}`;
      expectClose(await b.read(out.y), ref.y, 1e-5, 1e-5, what);
      expectClose(await b.read(out.mean), ref.mean, 1e-5, 1e-6, what);
      expectClose(await b.read(out.rstd), ref.rstd, 1e-5, 1e-6, what);

      const dy = rand(rng, rows * cols);
      const grads = b.layerNormBackward(b.upload(dy), b.upload(x), b.upload(g), out.mean, out.rstd, rows, cols);
      const dx = new Float64Array(rows * cols);
      const dg = new Float64Array(cols);
      const db = new Float64Array(cols);
      for (let r = 0; r < rows; r++) {
        let m1 = 0;
        let m2 = 0;
        for (let c = 0; c < cols; c++) {
          const xh = (x[r * cols + c]! - ref.mean[r]!) * ref.rstd[r]!;
          const gg = dy[r * cols + c]! * g[c]!;
          m1 += gg / cols;
          m2 += (gg * xh) / cols;
          dg[c] += dy[r * cols + c]! * xh;
          db[c] += dy[r * cols + c]!;
        }
        for (let c = 0; c < cols; c++) {
          const xh = (x[r * cols + c]! - ref.mean[r]!) * ref.rstd[r]!;
          dx[r * cols + c] = ref.rstd[r]! * (dy[r * cols + c]! * g[c]! - m1 - xh * m2);
        }
      }
      // dx subtracts means: absolute tolerance relative to the row's scale.
      expectClose(await b.read(grads.dx), dx, 1e-4, 2e-5, `${what} dx`);
      expectClose(await b.read(grads.dgamma), dg, 1e-4, 1e-4, `${what} dgamma`);
      expectClose(await b.read(grads.dbeta), db, 1e-4, 1e-4, `${what} dbeta`);
      // With a gradient x collected elsewhere, dx comes back with it added (autodiff's fold).
      const acc = rand(rng, rows * cols, -3, 3);
      const folded = b.layerNormBackward(b.upload(dy), b.upload(x), b.upload(g), out.mean, out.rstd, rows, cols, b.upload(acc));
      expectClose(await b.read(folded.dx), dx.map((v, i) => v + acc[i]!), 1e-4, 2e-5, `${what} dx + acc`);
    }
  });

  it('softmax and logSoftmax, including large offsets', async () => {
    const rng = Rng.fromSeed(32);
    for (const [rows, cols] of shapes) {
      const x = rand(rng, rows * cols, -5, 5);
      x[0] = 80;
      const sm = new Float64Array(rows * cols);
      const lsm = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        let mx = -Infinity;
        for (let c = 0; c < cols; c++) mx = Math.max(mx, x[r * cols + c]!);
        let s = 0;
        for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - mx);
        for (let c = 0; c < cols; c++) {
          sm[r * cols + c] = Math.exp(x[r * cols + c]! - mx) / s;
          lsm[r * cols + c] = x[r * cols + c]! - mx - Math.log(s);
        }
      }
      const xs = b.upload(x);
      expectClose(await b.read(b.softmax(xs, rows, cols)), sm, 1e-5, 1e-7, `softmax ${rows}x${cols}`);
      expectClose(await b.read(b.logSoftmax(xs, rows, cols)), lsm, 1e-5, 1e-5, `logSoftmax ${rows}x${cols}`);
    }
  });
});

describe.skipIf(!be)('webgpu random and adamw', () => {
  const b = be!;

  it('uniform is bit-identical to randomHost; threefry integers match', async () => {
    for (const [n, key, offset] of [[1000, [1, 2], 0], [4097, [0xdeadbeef, 0x12345678], 4294967000], [0, [3, 4], 5]] as const) {
      const got = await b.read(b.random('uniform', n, key, offset));
      const ref = randomHost('uniform', n, key, offset);
      expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
    }
    // The integers themselves, through the uniform mapping.
    const u = await b.read(b.random('uniform', 64, [7, 9], 100));
    for (let i = 0; i < 64; i++) {
      const [x0] = threefry2x32(7, 9, 100 + i, 0);
      expect(u[i]).toBe(Math.fround(((x0 >>> 8) + 0.5) / 16777216));
    }
  });

  it('normal agrees with randomHost to float32 round-off, with a plausible mean and variance', async () => {
    const n = 20000;
    const got = await b.read(b.random('normal', n, [42, 43], 17));
    const ref = randomHost('normal', n, [42, 43], 17);
    expectClose(got, ref, 2e-5, 2e-5, 'normal');
    let s = 0;
    let q = 0;
    for (const v of got) {
      s += v;
      q += v * v;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.05);
    expect(Math.abs(q / n - 1)).toBeLessThan(0.05);
  });

  it('adamw in place matches the JS formula, with and without gScale, over steps', async () => {
    const rng = Rng.fromSeed(33);
    const n = 777;
    const p0 = rand(rng, n);
    const args = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 };
    for (const scale of [null, 0.5]) {
      const p = Float64Array.from(p0);
      const m = new Float64Array(n);
      const v = new Float64Array(n);
      const P = b.upload(p0);
      const M = b.fill(n, 0);
      const V = b.fill(n, 0);
      const S = scale === null ? null : b.upload(new Float32Array([scale]));
      for (let step = 1; step <= 3; step++) {
        const g = rand(rng, n);
        b.adamw(P, b.upload(g), M, V, S, { ...args, step });
        for (let i = 0; i < n; i++) {
          const gi = g[i]! * (scale ?? 1);
          m[i] = args.beta1 * m[i]! + (1 - args.beta1) * gi;
          v[i] = args.beta2 * v[i]! + (1 - args.beta2) * gi * gi;
          const mh = m[i]! / (1 - args.beta1 ** step);
          const vh = v[i]! / (1 - args.beta2 ** step);
          p[i] = p[i]! - args.lr * (mh / (Math.sqrt(vh) + args.eps) + args.weightDecay * p[i]!);
        }
      }
      expectClose(await b.read(P), p, 1e-5, 1e-6, `adamw p (gScale ${scale})`);
      expectClose(await b.read(M), m, 1e-5, 1e-7, `adamw m (gScale ${scale})`);
      expectClose(await b.read(V), v, 1e-5, 1e-9, `adamw v (gScale ${scale})`);
    }
  });

  it('adamwMany = adamw on each tensor (several grouped dispatches, sizes 1 to 70,000), with and without gScale', async () => {
    const rng = Rng.fromSeed(34);
    const lens = [1, 777, 70_000, 256, 3, 1025, 40];
    const args = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 2 };
    for (const scale of [null, 0.5]) {
      const p0 = lens.map((n) => rand(rng, n));
      const g = lens.map((n) => rand(rng, n));
      const m0 = lens.map((n) => rand(rng, n, -0.1, 0.1));
      const v0 = lens.map((n) => rand(rng, n, 0, 0.1));
      const up = (xs: Float32Array[]) => xs.map((x) => b.upload(x));
      const [P, G, M, V] = [up(p0), up(g), up(m0), up(v0)];
      const S = scale === null ? null : b.upload(new Float32Array([scale]));
      b.adamwMany(P, G, M, V, S, args);
      for (let t = 0; t < lens.length; t++) {
        const p = Float64Array.from(p0[t]!), m = Float64Array.from(m0[t]!), v = Float64Array.from(v0[t]!);
        for (let i = 0; i < lens[t]!; i++) {
          const gi = g[t]![i]! * (scale ?? 1);
          m[i] = args.beta1 * m[i]! + (1 - args.beta1) * gi;
          v[i] = args.beta2 * v[i]! + (1 - args.beta2) * gi * gi;
          const mh = m[i]! / (1 - args.beta1 ** args.step);
          const vh = v[i]! / (1 - args.beta2 ** args.step);
          p[i] = p[i]! - args.lr * (mh / (Math.sqrt(vh) + args.eps) + args.weightDecay * p[i]!);
        }
        expectClose(await b.read(P[t]!), p, 1e-5, 1e-6, `adamwMany p[${t}] (gScale ${scale})`);
        expectClose(await b.read(M[t]!), m, 1e-5, 1e-7, `adamwMany m[${t}] (gScale ${scale})`);
        expectClose(await b.read(V[t]!), v, 1e-5, 1e-9, `adamwMany v[${t}] (gScale ${scale})`);
      }
    }
    expect(() => b.adamwMany([b.fill(2, 0)], [], [], [], null, args)).toThrow(/adamwMany: expected 1 gradients and moments, got 0/);
  });

  it('sumSquares: one slot per tensor (two grouped dispatches), float64 reference; lengths 0 to 70,000; a prefix of a longer buffer', async () => {
    const rng = Rng.fromSeed(35);
    // 11 tensors: two dispatches of up to 8 bindings each.
    const lens = [0, 1, 255, 257, 70_000, 300, 3, 1000, 256, 5, 4099];
    const xs = lens.map((n) => rand(rng, n, -3, 3));
    const ns = lens.map((n, t) => (t === 5 ? 120 : n)); // tensor 5 uses only the first 120 of 300 elements
    const stores = xs.map((x) => b.upload(x));
    const got = await b.read(b.sumSquares(stores, ns));
    const ref = xs.map((x, t) => x.slice(0, ns[t]).reduce((a, v) => a + v * v, 0));
    expectClose(got, ref, 1e-5, 1e-6, 'sumSquares');
    expect(() => b.sumSquares(stores, [1])).toThrow(/sumSquares: expected 11 lengths, got 1/);
  });
});
