/**
 * SO(3) GP task on the sphere (experiments.md §5): (lon, lat) uniform in [−10°, 10°]², kernel
 * exp(−d_gc/ℓ) with great-circle distance in degrees, σ² = 1, ℓ = 1/G, G ~ Gamma(3, rate 30),
 * Nc ∈ [128, 512), Nt = 1024, batch 8, noise 0.1 — optionally evaluated on rotated copies.
 *
 * Rotation: points go to the unit sphere (x = cos φ cos λ, y = cos φ sin λ, z = sin φ), are rotated
 * by extrinsic rotations about the fixed y, z, x axes (SciPy "yzx") by (−north, east, tilt) degrees,
 * i.e. v' = Rx(tilt) · Rz(east) · Ry(−north) · v, and mapped back to (lon, lat) in degrees.
 * The kernel depends only on geodesic distance, so the function values are drawn first and the
 * locations rotated afterwards (same distribution; the oracle stays exact).
 */
import type { TaskGenerator } from './batch.js';
import { GP_JITTER, GREAT_CIRCLE_PRIOR } from './gp.js';
import { type GpTaskConfig, gpTask } from './tasks.js';

const DEG = Math.PI / 180;

/** Rotation angles in degrees: (north, east, tilt); e.g. (60, 30, 0) and (60, 30, 20) in the paper. */
export interface SphereRotation {
  north: number;
  east: number;
  tilt: number;
}

/** Row-major 3×3 matrix of the extrinsic "yzx" rotation by (−north, east, tilt) degrees. */
export function rotationMatrix(rot: SphereRotation): Float64Array {
  const a = -rot.north * DEG, b = rot.east * DEG, c = rot.tilt * DEG;
  const ry = [Math.cos(a), 0, Math.sin(a), 0, 1, 0, -Math.sin(a), 0, Math.cos(a)];
  const rz = [Math.cos(b), -Math.sin(b), 0, Math.sin(b), Math.cos(b), 0, 0, 0, 1];
  const rx = [1, 0, 0, 0, Math.cos(c), -Math.sin(c), 0, Math.sin(c), Math.cos(c)];
  const mul = (p: number[], q: number[]): number[] => {
    const out = new Array<number>(9).fill(0);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) out[i * 3 + j]! += p[i * 3 + k]! * q[k * 3 + j]!;
    return out;
  };
  return Float64Array.from(mul(rx, mul(rz, ry)));
}

/** Rotates n (lon°, lat°) points in place (flat [n, 2]). */
export function rotateLonLat(lonlat: Float64Array | Float32Array, n: number, rot: SphereRotation): void {
  const r = rotationMatrix(rot);
  for (let i = 0; i < n; i++) {
    const lam = lonlat[2 * i]! * DEG, phi = lonlat[2 * i + 1]! * DEG;
    const x = Math.cos(phi) * Math.cos(lam), y = Math.cos(phi) * Math.sin(lam), z = Math.sin(phi);
    const x2 = r[0]! * x + r[1]! * y + r[2]! * z;
    const y2 = r[3]! * x + r[4]! * y + r[5]! * z;
    const z2 = r[6]! * x + r[7]! * y + r[8]! * z;
    lonlat[2 * i] = Math.atan2(y2, x2) / DEG;
    lonlat[2 * i + 1] = Math.asin(Math.max(-1, Math.min(1, z2))) / DEG;
  }
}

export const SO3_GP = {
  regions: [{ lo: [-10, -10], hi: [10, 10], count: 1536 }],
  ncMin: 128, ncMax: 512, nt: 1024, batch: 8, noiseStd: 0.1,
  prior: GREAT_CIRCLE_PRIOR, jitter: GP_JITTER, testIncludesContext: false,
} as const satisfies GpTaskConfig;

/** Seeded SO(3) GP batches, optionally with all locations rotated by `rotation`. */
export function so3Task(rotation?: SphereRotation, overrides: Partial<GpTaskConfig> = {}): TaskGenerator {
  const cfg: GpTaskConfig = { ...SO3_GP, ...overrides };
  if (rotation) cfg.mapLocations = (locs, n) => rotateLonLat(locs, n, rotation);
  return gpTask(cfg);
}
