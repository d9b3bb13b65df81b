/**
 * Counter-based random numbers: Threefry-2x32 with 20 rounds (Salmon et al. 2011, the generator
 * JAX uses). It needs only 32-bit add, xor and rotate, so the WGSL kernel and this reference give
 * bit-identical integers; uniform and normal floats then agree to float32 round-off.
 *
 * Element i of a draw with key (k0, k1) and offset o uses counter (o + i, 0):
 *   uniform: ((x0 >>> 8) + 0.5) · 2^-24                       in (0, 1)
 *   normal:  sqrt(−2 ln u1) · cos(2π u2), u1 from x0, u2 = (x1 >>> 8) · 2^-24   (Box–Muller)
 */

const ROT = [13, 15, 26, 6, 17, 29, 16, 24];

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** Threefry-2x32-20 block: returns [x0, x1] as unsigned 32-bit integers. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const k2 = (k0 ^ k1 ^ 0x1bd11bda) >>> 0;
  const ks = [k0 >>> 0, k1 >>> 0, k2];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, ROT[(block % 2) * 4 + r]!) ^ x0;
    }
    const s = block + 1;
    x0 = (x0 + ks[s % 3]!) >>> 0;
    x1 = (x1 + ks[(s + 1) % 3]! + s) >>> 0;
  }
  return [x0, x1];
}

export const TWO_POW_M24 = 1 / 16777216;

export function uniformFromBits(x: number): number {
  return ((x >>> 8) + 0.5) * TWO_POW_M24;
}

/** Reference generator on the host (float64 math, stored as float32). */
export function randomHost(dist: 'uniform' | 'normal', n: number, key: readonly [number, number],
  offset: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const [x0, x1] = threefry2x32(key[0], key[1], (offset + i) >>> 0, 0);
    const u1 = uniformFromBits(x0);
    if (dist === 'uniform') out[i] = u1;
    else out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * (x1 >>> 8) * TWO_POW_M24);
  }
  return out;
}

/**
 * A splittable key stream for host-side code (data simulators, initialisers): deterministic,
 * serialisable (`state`) so that training can resume exactly.
 */
export class Rng {
  constructor(public k0: number, public k1: number, public counter = 0) {}

  static fromSeed(seed: number): Rng {
    const [a, b] = threefry2x32(seed >>> 0, Math.floor(seed / 4294967296) >>> 0, 0x9e3779b9, 0);
    return new Rng(a, b, 0);
  }

  /** A new independent generator; advances this one. */
  split(): Rng {
    const [a, b] = threefry2x32(this.k0, this.k1, this.counter++, 0xffffffff);
    return new Rng(a, b, 0);
  }

  /** Next key and offset for a device draw of n numbers. */
  take(n: number): { key: [number, number]; offset: number } {
    const r = { key: [this.k0, this.k1] as [number, number], offset: this.counter };
    this.counter += n;
    return r;
  }

  private bits(): [number, number] {
    return threefry2x32(this.k0, this.k1, this.counter++, 0);
  }

  /** Uniform in (0, 1) with 53-bit resolution. */
  uniform(): number {
    const [x0, x1] = this.bits();
    return ((x0 >>> 5) * 67108864 + (x1 >>> 6) + 0.5) / 9007199254740992;
  }

  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Integer uniform in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo));
  }

  state(): [number, number, number] {
    return [this.k0, this.k1, this.counter];
  }

  static fromState(s: readonly [number, number, number]): Rng {
    return new Rng(s[0], s[1], s[2]);
  }
}
