/**
 * The four stationary kernel families with unit variance, written out from their formulas and
 * independently of src/data/kernels.ts and the WebAssembly builder, as the tests' reference.
 */
export function familyReference(kind: string, d: number, l: number): number {
  const r = d / l;
  switch (kind) {
    case 'rbf': return Math.exp(-0.5 * r * r);
    case 'exponential': return Math.exp(-r);
    case 'matern32': return (1 + Math.sqrt(3) * r) * Math.exp(-Math.sqrt(3) * r);
    case 'matern52': return (1 + Math.sqrt(5) * r + (5 / 3) * r * r) * Math.exp(-Math.sqrt(5) * r);
    default: throw new Error(`familyReference: expected rbf, exponential, matern32 or matern52, got '${kind}'`);
  }
}
