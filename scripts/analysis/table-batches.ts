/**
 * Replays the training batches of a `train --data` run without training, and checks each one for
 * degenerate content (the Colorado run's loss became NaN near step 5,220; models/real/colorado-tmax).
 *
 * The rows, split, schema and generators are built exactly as `train --data` builds them
 * (tableSchema + tableGenerators), and the batch stream is the trainer's: root = Rng.fromSeed(seed),
 * split init, data, valid (Trainer.create), a BatchStream over the training generator. Validation
 * batches (the same `validBatches` tasks at every validation) are checked too.
 *
 * Per batch: non-finite inputs; elements with no context or no targets; all-identical locations;
 * extreme normalised values. Once, over every pair of distinct locations (a batch's pairs are among
 * them): the smallest and largest great-circle distance (δ² is what exp(−b·δ²) of the RBF bias
 * sees, b unconstrained) and the WebGPU kernel's float32 formula against float64 (NaN, error).
 *
 * Usage (the Colorado run):
 *   npx tsx scripts/analysis/table-batches.ts --data data/colorado-monthly/colorado-monthly.csv \
 *     --s lon,lat --t date --x elev --f tmax --window 2 --split space:0.7,0.15 --seed 46 --batch 16 \
 *     --steps 5300 [--valid 32] [--from 1]
 * Prints one JSON line per flagged batch and a summary line (stdout).
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { tableSchema, schemaFlags } from '../../src/cli/commands/train-table.js';
import { readDataTable } from '../../src/cli/commands/table-input.js';
import type { Batch } from '../../src/data/batch.js';
import { BatchStream } from '../../src/data/stream.js';
import { Rng } from '../../src/engine/random.js';
import { tableGenerators, type TableSettings } from '../../src/train/table-run.js';
import type { ParsedArgs } from '../../src/cli/args.js';

const { values: v } = parseArgs({
  options: {
    data: { type: 'string' }, s: { type: 'string' }, t: { type: 'string' }, x: { type: 'string' }, f: { type: 'string' },
    task: { type: 'string', default: 'interpolate' }, window: { type: 'string', default: '2' },
    split: { type: 'string', default: 'space:0.7,0.15' }, seed: { type: 'string', default: '46' },
    batch: { type: 'string', default: '16' }, steps: { type: 'string', default: '5300' }, from: { type: 'string', default: '1' },
    valid: { type: 'string', default: '32' }, 'max-context': { type: 'string', default: '512' },
    'max-targets': { type: 'string', default: '512' },
  },
});

const DEG = Math.PI / 180;
const f32 = Math.fround;

/** Great-circle distance in degrees, float64 (haversine: accurate for close points). */
function gc64(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const p1 = lat1 * DEG, p2 = lat2 * DEG, dl = (lon2 - lon1) * DEG;
  const h = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(h)))) / DEG;
}

/** The WebGPU kernel's gcDist (codegen.ts), every operation rounded to float32 (atan2 in float64). */
function gcKernel32(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const a = [f32(Math.sin(f32(lon1 * DEG))), f32(Math.cos(f32(lon1 * DEG))), f32(Math.sin(f32(lat1 * DEG))), f32(Math.cos(f32(lat1 * DEG)))];
  const b = [f32(Math.sin(f32(lon2 * DEG))), f32(Math.cos(f32(lon2 * DEG))), f32(Math.sin(f32(lat2 * DEG))), f32(Math.cos(f32(lat2 * DEG)))];
  const cdl = f32(f32(a[1]! * b[1]!) + f32(a[0]! * b[0]!));
  const sdl = f32(f32(a[0]! * b[1]!) - f32(a[1]! * b[0]!));
  const x = f32(b[3]! * sdl);
  const y = f32(f32(a[3]! * b[2]!) - f32(f32(a[2]! * b[3]!) * cdl));
  const z = f32(f32(a[2]! * b[2]!) + f32(f32(a[3]! * b[3]!) * cdl));
  return f32(Math.atan2(f32(Math.sqrt(f32(f32(x * x) + f32(y * y)))), z) / DEG);
}

interface Flags { [k: string]: number | string }

function checkBatch(b: Batch): { flags: Flags; maxAbs: Record<string, number> } {
  const flags: Flags = {};
  const { B, Nc, Nt } = b;
  const { Ds, Dt, Dx, Df } = b.dims;
  const maxAbs: Record<string, number> = {};
  const arrays: [string, Float32Array | undefined][] = [
    ['s_ctx', b.s_ctx], ['s_test', b.s_test], ['t_ctx', b.t_ctx], ['t_test', b.t_test], ['x_ctx', b.x_ctx], ['x_test', b.x_test],
    ['f_ctx', b.f_ctx], ['f_test', b.f_test], ['mask_ctx', b.mask_ctx], ['mask_test', b.mask_test],
  ];
  for (const [name, a] of arrays) {
    if (!a) continue;
    let bad = 0, m = 0;
    for (const x of a) { if (!Number.isFinite(x)) bad++; else m = Math.max(m, Math.abs(x)); }
    if (bad) flags[`nonfinite_${name}`] = bad;
    maxAbs[name] = m;
  }
  for (let e = 0; e < B; e++) {
    let nc = 0, nt = 0;
    for (let k = 0; k < Nc; k++) nc += b.mask_ctx[e * Nc + k]!;
    for (let k = 0; k < Nt; k++) nt += b.mask_test ? b.mask_test[e * Nt + k]! : 1;
    if (nc === 0) flags[`no_context_e${e}`] = 1;
    if (nt === 0) flags[`no_targets_e${e}`] = 1;
    if (nc !== b.n_ctx[e]) flags[`n_ctx_mismatch_e${e}`] = `${nc} vs ${b.n_ctx[e]}`;
    // Distinct locations among the real rows.
    const locs = new Set<string>();
    for (let k = 0; k < Nc; k++) if (b.mask_ctx[e * Nc + k]) locs.add(`${b.s_ctx[(e * Nc + k) * Ds]},${b.s_ctx[(e * Nc + k) * Ds + 1]}`);
    for (let k = 0; k < Nt; k++) if (!b.mask_test || b.mask_test[e * Nt + k]) locs.add(`${b.s_test[(e * Nt + k) * Ds]},${b.s_test[(e * Nt + k) * Ds + 1]}`);
    if (locs.size <= 1) flags[`one_location_e${e}`] = locs.size;
    void Dt; void Dx; void Df;
  }
  return { flags, maxAbs };
}

async function main(): Promise<void> {
  const file = path.resolve(v.data!);
  const table = await readDataTable(file, 'table-batches', '--data');
  const args = { values: { s: v.s, t: v.t, x: v.x, f: v.f } } as unknown as ParsedArgs;
  const flags = schemaFlags(args);
  const settings: TableSettings = {
    kind: v.task as 'interpolate', window: Number(v.window), horizon: 0, split: v.split!,
    maxContext: Number(v['max-context']), maxTargets: Number(v['max-targets']), contextFraction: [0.1, 0.9], rows: table.rows, file,
  };
  const seed = Number(v.seed), batch = Number(v.batch);
  const { schema, rows } = tableSchema(table, flags, settings, seed, file);
  console.log(JSON.stringify({ event: 'schema', normalization: schema.normalization, rows: rows.n }));
  const gens = tableGenerators(rows, settings, seed, batch);
  console.log(JSON.stringify({ event: 'generators', train: { Nc: gens.train.Nc, Nt: gens.train.Nt, windows: gens.train.windowCount },
    valid: { Nc: gens.valid.Nc, Nt: gens.valid.Nt, windows: gens.valid.windowCount } }));
  const root = Rng.fromSeed(seed);
  root.split(); // init
  const dataRng = root.split(), validRng = root.split();
  const stream = new BatchStream(gens.train.generator(), dataRng);
  const steps = Number(v.steps), from = Number(v.from);
  // Great-circle distances of every pair of distinct locations (a batch's pairs are among them).
  const loc = new Map<number, [number, number]>();
  for (let i = 0; i < rows.n; i++) if (!loc.has(rows.location[i]!)) loc.set(rows.location[i]!, [rows.s[2 * i]!, rows.s[2 * i + 1]!]);
  const pts = [...loc.values()];
  let minD = Infinity, maxD = 0, kernelBad = 0, maxRelErr = 0, selfMax = 0;
  for (let i = 0; i < pts.length; i++) {
    const [lo1, la1] = pts[i]!;
    selfMax = Math.max(selfMax, Math.abs(gcKernel32(lo1, la1, lo1, la1)));
    for (let j = 0; j < pts.length; j++) {
      if (i === j) continue;
      const [lo2, la2] = pts[j]!;
      const d = gc64(lo1, la1, lo2, la2), dk = gcKernel32(lo1, la1, lo2, la2);
      if (!Number.isFinite(dk)) kernelBad++;
      minD = Math.min(minD, d); maxD = Math.max(maxD, d);
      maxRelErr = Math.max(maxRelErr, Math.abs(dk - d) / d);
    }
  }
  console.log(JSON.stringify({ event: 'locations', n: pts.length, minDistanceDeg: minD, maxDistanceDeg: maxD, maxDelta2: maxD * maxD,
    kernelNonFinite: kernelBad, kernelMaxRelErr: maxRelErr, kernelSelfDistanceMax: selfMax }));
  const summary = { flagged: 0, maxAbs: {} as Record<string, number>, minNctx: Infinity, minNt: Infinity };
  const t0 = Date.now();
  const scan = (label: string, k: number, b: Batch) => {
    const r = checkBatch(b);
    for (const [n, m] of Object.entries(r.maxAbs)) summary.maxAbs[n] = Math.max(summary.maxAbs[n] ?? 0, m);
    for (let e = 0; e < b.B; e++) {
      summary.minNctx = Math.min(summary.minNctx, b.n_ctx[e]!);
      let nt = 0;
      for (let q = 0; q < b.Nt; q++) nt += b.mask_test ? b.mask_test[e * b.Nt + q]! : 1;
      summary.minNt = Math.min(summary.minNt, nt);
    }
    if (Object.keys(r.flags).length > 0) {
      summary.flagged++;
      console.log(JSON.stringify({ event: 'flagged', part: label, step: k, flags: r.flags }));
    }
    return r;
  };
  const nValid = Number(v.valid);
  if (nValid > 0) {
    const vs = new BatchStream(gens.valid.generator(), Rng.fromState(validRng.state()));
    for (let i = 0; i < nValid; i++) scan('valid', i, vs.next());
  }
  for (let k = 1; k <= steps; k++) {
    const b = stream.next();
    if (k < from) continue;
    const r = scan('train', k, b);
    if (k > 5210 && k <= 5220) console.log(JSON.stringify({ event: 'near-nan', step: k, maxAbs: r.maxAbs, nctx: Array.from(b.n_ctx) }));
    if (k % 500 === 0) console.error(`step ${k} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  console.log(JSON.stringify({ event: 'summary', steps, ...summary }));
}

await main();
