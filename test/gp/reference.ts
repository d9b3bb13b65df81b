/**
 * Independent float64 references for the GP baseline tests: kernels written out directly from
 * their textbook formulas, Gaussian elimination with partial pivoting (solve and log|det|), and a
 * seeded normal sampler. Deliberately shares no code with src/data/gp-fit.
 */

export function haversineKm(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const r = Math.PI / 180;
  const a = Math.sin((lat2 - lat1) * r / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin((lon2 - lon1) * r / 2) ** 2;
  return 2 * 6371.0088 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
}

export function maternDirect(kind: string, d: number, l: number): number {
  const r = d / l;
  if (kind === 'rbf') return Math.exp(-(d * d) / (2 * l * l));
  if (kind === 'matern12') return Math.exp(-r);
  if (kind === 'matern32') return (1 + Math.sqrt(3) * r) * Math.exp(-Math.sqrt(3) * r);
  return (1 + Math.sqrt(5) * r + 5 * r * r / 3) * Math.exp(-Math.sqrt(5) * r);
}

/** LU with partial pivoting: solves A X = B (B [n, m]) and returns log|det A|. A and B are copied. */
export function luSolve(A: ArrayLike<number>, n: number, B: ArrayLike<number>, m: number): { x: Float64Array; logAbsDet: number } {
  const a = Float64Array.from(A);
  const b = Float64Array.from(B);
  let logDet = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
    if (p !== c) {
      for (let k = 0; k < n; k++) [a[c * n + k], a[p * n + k]] = [a[p * n + k]!, a[c * n + k]!];
      for (let k = 0; k < m; k++) [b[c * m + k], b[p * m + k]] = [b[p * m + k]!, b[c * m + k]!];
    }
    const piv = a[c * n + c]!;
    logDet += Math.log(Math.abs(piv));
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c]! / piv;
      if (f === 0) continue;
      for (let k = c; k < n; k++) a[r * n + k]! -= f * a[c * n + k]!;
      for (let k = 0; k < m; k++) b[r * m + k]! -= f * b[c * m + k]!;
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    for (let k = 0; k < m; k++) {
      let s = b[r * m + k]!;
      for (let c = r + 1; c < n; c++) s -= a[r * n + c]! * b[c * m + k]!;
      b[r * m + k] = s / a[r * n + r]!;
    }
  }
  return { x: b, logAbsDet: logDet };
}

export function normals(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}
