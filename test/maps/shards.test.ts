/**
 * Sharded prediction (must-show 5): N = 3 `predict --shard I/3` runs as separate processes through
 * the real command line, joined by `bsa-tnp merge`, give exactly what one run gives: the same CSV
 * bytes, the same GeoTIFF bytes (from CSV or GeoTIFF shards), the same GeoJSON bytes, for grids
 * (with and without a mask) and for targets files. merge refuses incomplete or mixed shard sets.
 * The first block (CSV shards of a grid → CSV and GeoTIFF) always runs; the rest spawns ~20
 * processes and is a slow test (BSA_TNP_SLOW=1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseShard, shardRange } from '../../src/api/shard.js';
import { randomContext, removeTempDirs, runCli, tempDir, writeCsvText, writeRandomModel } from '../cli-predict/fixtures.js';

afterAll(removeTempDirs);

describe('shard ranges', () => {
  it('tile 0..T into N contiguous parts, even when N exceeds T', () => {
    for (const [T, N] of [[10, 3], [5, 3], [2, 3], [0, 2], [7, 7]] as const) {
      const parts = Array.from({ length: N }, (_, i) => shardRange(T, { index: i, count: N }));
      expect(parts[0]![0]).toBe(0);
      expect(parts.at(-1)![1]).toBe(T);
      for (let i = 1; i < N; i++) expect(parts[i]![0]).toBe(parts[i - 1]![1]);
    }
    expect(shardRange(10, { index: 1, count: 3 })).toEqual([3, 6]);
  });

  it('parses I/N counting from 0', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(() => parseShard('3/3')).toThrow('--shard: I counts from 0 and must be below N=3, got 3 (parts are 0/3 … 2/3)');
    expect(() => parseShard('1-3')).toThrow("--shard: expected I/N (part I of N, counting from 0, e.g. 0/3), got '1-3'");
  });
});

function setup(prefix: string) {
  const st = { dir: '' };
  const grid = ['--grid=-1,3,-1.5,0.5', '--size', '11x7', '--chunk', '16'];
  const base = ['predict', 'model', '--context', 'ctx.csv'];
  const ok = async (args: string[]) => {
    const r = await runCli(args, st.dir);
    expect(r.stderr.split('\n').filter((l) => /error/i.test(l))).toEqual([]);
    expect(r.code).toBe(0);
    return r;
  };
  const bytes = (f: string) => fs.readFileSync(path.join(st.dir, f));
  const init = async (runs: string[][], parallel: number) => {
    st.dir = tempDir(prefix);
    await writeRandomModel(path.join(st.dir, 'model'), 4);
    writeCsvText(path.join(st.dir, 'ctx.csv'), ['s0', 's1', 'f'], randomContext(25, 5));
    writeCsvText(path.join(st.dir, 'targets.csv'), ['s0', 's1'], Array.from({ length: 10 }, (_, i) => [i * 0.3 - 1, 0.5 - i * 0.2]));
    fs.writeFileSync(path.join(st.dir, 'mask.geojson'), JSON.stringify({ type: 'MultiPolygon', coordinates: [[[[-1, -1.5], [3, -1.5], [-1, 0.5], [-1, -1.5]]], [[[2, 0], [3, 0], [3, 0.5], [2, 0.5], [2, 0]]]] }));
    for (let i = 0; i < runs.length; i += parallel) await Promise.all(runs.slice(i, i + parallel).map(ok));
  };
  return { st, grid, base, ok, bytes, init };
}

describe('predict --shard I/3 in three processes, then merge (CSV grid shards)', () => {
  const { st, grid, base, ok, bytes, init } = setup('shards');

  beforeAll(async () => {
    // The three shards and the unsharded runs, all separate processes.
    await init([
      ...[0, 1, 2].map((i) => [...base, ...grid, '--out', `part-${i}.csv`, '--shard', `${i}/3`]),
      [...base, ...grid, '--out', 'one.csv'],
      [...base, ...grid, '--out', 'one.tif'],
    ], 5);
  }, 300_000);

  it('merge into CSV gives the one-run CSV byte for byte, and into GeoTIFF the one-run GeoTIFF', async () => {
    const parts = [0, 1, 2].map((i) => bytes(`part-${i}.csv`).toString().trim().split('\n').length - 1);
    expect(parts).toEqual([2 * 11, 2 * 11, 3 * 11]); // grid rows 0-1, 2-3, 4-6 of 7
    await Promise.all([
      ok(['merge', '--out', 'merged.csv', 'part-2.csv', 'part-0.csv', 'part-1.csv']),
      ok(['merge', '--out', 'from-csv.tif', 'part-0.csv', 'part-1.csv', 'part-2.csv']),
    ]);
    expect(bytes('merged.csv').equals(bytes('one.csv'))).toBe(true);
    expect(bytes('from-csv.tif').equals(bytes('one.tif'))).toBe(true);
  }, 60_000);

  it('refuses an incomplete set and writes nothing', async () => {
    const r = await runCli(['merge', '--out', 'bad.csv', 'part-0.csv', 'part-2.csv'], st.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('merge: missing shard 1/3 (got 0/3, 2/3); all 3 parts are needed');
    expect(fs.readdirSync(st.dir).filter((f) => f.includes('bad.csv'))).toEqual([]);
  }, 60_000);
});

describe.skipIf(!process.env.BSA_TNP_SLOW)('shards of every kind (slow: ~20 processes)', () => {
  const { st, grid, base, ok, bytes, init } = setup('shards-slow');

  beforeAll(async () => {
    const runs: string[][] = [
      [...base, ...grid, '--out', 'one.tif'],
      [...base, ...grid, '--out', 'one.geojson'],
      [...base, ...grid, '--out', 'one-masked.csv', '--mask', 'mask.geojson'],
      [...base, '--targets', 'targets.csv', '--out', 'one-targets.csv', '--chunk', '3'],
    ];
    for (let i = 0; i < 3; i++) {
      runs.push([...base, ...grid, '--out', `part-${i}.csv`, '--shard', `${i}/3`]);
      runs.push([...base, ...grid, '--out', `part-${i}.tif`, '--shard', `${i}/3`]);
      runs.push([...base, ...grid, '--out', `part-${i}.geojson`, '--shard', `${i}/3`]);
      runs.push([...base, ...grid, '--out', `masked-${i}.csv`, '--shard', `${i}/3`, '--mask', 'mask.geojson']);
      runs.push([...base, '--targets', 'targets.csv', '--out', `targets-${i}.csv`, '--shard', `${i}/3`, '--chunk', '2']);
    }
    await init(runs, 2);
  }, 600_000);

  it('GeoTIFF shards merge into the one-run GeoTIFF, byte for byte', async () => {
    await ok(['merge', '--out', 'from-tif.tif', 'part-0.tif', 'part-1.tif', 'part-2.tif']);
    expect(bytes('from-tif.tif').equals(bytes('one.tif'))).toBe(true);
  }, 60_000);

  it('GeoJSON shards merge into the one-run GeoJSON, byte for byte', async () => {
    await ok(['merge', '--out', 'merged.geojson', 'part-0.geojson', 'part-1.geojson', 'part-2.geojson']);
    expect(bytes('merged.geojson').equals(bytes('one.geojson'))).toBe(true);
    expect(JSON.parse(bytes('merged.geojson').toString()).features.length).toBe(77);
  }, 60_000);

  it('masked shards and targets-file shards merge into their one-run files', async () => {
    await ok(['merge', '--out', 'merged-masked.csv', 'masked-0.csv', 'masked-1.csv', 'masked-2.csv']);
    expect(bytes('merged-masked.csv').equals(bytes('one-masked.csv'))).toBe(true);
    await ok(['merge', '--out', 'merged-targets.csv', 'targets-0.csv', 'targets-1.csv', 'targets-2.csv']);
    expect(bytes('merged-targets.csv').equals(bytes('one-targets.csv'))).toBe(true);
    expect(bytes('targets-1.csv').toString().trim().split('\n').length - 1).toBe(3); // rows 3..5 of 10
  }, 60_000);

  it('refuses a repeated or foreign shard and writes nothing', async () => {
    const bad = async (files: string[], message: string) => {
      const r = await runCli(['merge', '--out', 'bad.csv', ...files], st.dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
      expect(fs.readdirSync(st.dir).filter((f) => f.includes('bad.csv'))).toEqual([]);
    };
    const p1 = path.join(st.dir, 'part-1.csv');
    await bad(['part-0.csv', 'part-1.csv', 'part-1.csv', 'part-2.csv'], `merge: '${p1}' and '${p1}' are both shard 1/3; give each part once`);
    await bad(['part-0.csv', 'masked-1.csv', 'part-2.csv'], 'come from different runs: their masks (with/without --mask) differ');
    await bad(['one.tif'], `merge: '${path.join(st.dir, 'one.tif')}' has no sidecar 'one.tif.shard.json'`);
  }, 60_000);
});
