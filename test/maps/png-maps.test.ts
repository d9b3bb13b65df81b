/**
 * PNG maps: tick choice and labels, cell colours at the right places (grid row 0 at the bottom),
 * NaN cells grey, the colour bar running from the colour map's low end to its high end, points
 * and labels drawn; files decoded with pngjs's reader; `predict --png` writes both maps.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTick, niceTicks, renderMap, writeCanvasPng } from '../../src/io/png-maps.js';
import { colorAt } from '../../src/io/png.js';
import { drawText, textWidth } from '../../src/io/font.js';
import { randomContext, removeTempDirs, runCli, tempDir, writeCsvText, writeRandomModel } from '../cli-predict/fixtures.js';

afterAll(removeTempDirs);

describe('ticks', () => {
  it('chooses round steps near the requested count and covers the range', () => {
    expect(niceTicks(-2.05, 2.05, 4)).toEqual([-2, -1, 0, 1, 2]);
    expect(niceTicks(0, 1, 5).map((v) => formatTick(v, 0.2))).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect(niceTicks(3, 3)).toEqual([3]);
  });

  it('formats labels compactly', () => {
    expect(formatTick(0.25, 0.25)).toBe('0.25');
    expect(formatTick(-3, 1)).toBe('-3');
    expect(formatTick(-1e-17, 0.1)).toBe('0.0');
    expect(formatTick(0, 1e-4)).toBe('0');
    expect(formatTick(1.5e-4, 5e-5)).toBe('1.5e-4');
    expect(formatTick(250000, 50000)).toBe('2.5e+5');
    expect(formatTick(12000, 2000)).toBe('12000');
  });
});

describe('renderMap', () => {
  const px = (c: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(c.data.subarray((y * c.width + x) * 4, (y * c.width + x) * 4 + 3));

  it('puts each cell at its place, y up, NaN grey, colour bar low to high, points white', () => {
    // 4 x 2 grid over [0, 3] x [0, 1]: values = index; cell (3, 1) is NaN.
    const grid = { x0: 0, x1: 3, y0: 0, y1: 1, width: 4, height: 2 };
    const field = Float32Array.from({ length: 8 }, (_, i) => i);
    field[7] = NaN;
    const m = renderMap(field, grid, { title: 'f: mean', cmap: 'viridis', points: { x: [1], y: [0] }, size: 200 });
    expect(m.range).toEqual([0, 6]);
    // The raster spans x -0.5 .. 3.5 and y -0.5 .. 1.5 (cells 1 x 1): aspect 2, so 200 x 100.
    expect([m.plot.width, m.plot.height]).toEqual([200, 100]);
    const at = (x: number, y: number) => px(m, Math.floor(m.plot.x + ((x + 0.5) / 4) * 200), Math.floor(m.plot.y + ((1.5 - y) / 2) * 100));
    expect(at(0.2, 0.2)).toEqual(colorAt('viridis', 0)); // cell (0, 0): value 0, bottom left
    expect(at(2, 0.8)).toEqual(colorAt('viridis', 6 / 6)); // cell (2, 1): value 6, top row
    expect(at(3, 0)).toEqual(colorAt('viridis', 3 / 6)); // cell (3, 0): value 3
    expect(at(3, 1)).toEqual([217, 217, 217]); // NaN
    expect(at(1, 0)).toEqual([255, 255, 255]); // the point at (1, 0)
    expect(px(m, m.bar.x + 9, m.bar.y + 1)).toEqual(colorAt('viridis', 1 - 1.5 / 100));
    expect(px(m, m.bar.x + 9, m.bar.y + m.bar.height - 1)).toEqual(colorAt('viridis', 0.5 / 100));
    // The title is drawn above the plot (dark pixels there) and the file decodes to the canvas.
    let dark = 0;
    for (let y = 0; y < m.plot.y - 4; y++) for (let x = 0; x < m.width; x++) if (px(m, x, y)[0]! < 60) dark++;
    expect(dark).toBeGreaterThan(50);
    const file = path.join(tempDir('png-maps'), 'm.png');
    writeCanvasPng(file, m);
    const png = PNG.sync.read(fs.readFileSync(file));
    expect([png.width, png.height]).toEqual([m.width, m.height]);
    expect(Buffer.compare(png.data, Buffer.from(m.data))).toBe(0);
  });

  it('draws glyphs of the built-in font', () => {
    const c = { width: 12, height: 7, data: new Uint8Array(12 * 7 * 4) };
    drawText(c, '1-', 0, 0, 1, [255, 0, 0]);
    const on = (x: number, y: number) => c.data[(y * 12 + x) * 4] === 255;
    // '1': column 2 is set on rows 0..6; '-' (advance 6): row 3 set over columns 6..10.
    for (let y = 0; y < 7; y++) expect(on(2, y)).toBe(true);
    for (let x = 6; x <= 10; x++) expect(on(x, 3)).toBe(true);
    expect(on(6, 2)).toBe(false);
    expect(textWidth('1-', 2)).toBe(22);
  });
});

describe('predict --png', () => {
  it('writes mean.png and std.png maps with a colour bar beside the plot', async () => {
    const dir = tempDir('png-cli');
    await writeRandomModel(path.join(dir, 'model'), 3);
    writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], randomContext(20, 2));
    const r = await runCli(['predict', 'model', '--context', 'ctx.csv', '--grid=-1,3,-1.5,0.5', '--size', '16x8', '--out', 'p.csv', '--png', 'maps'], dir);
    expect(r.code).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'maps')).sort()).toEqual(['mean.png', 'std.png']);
    for (const f of ['mean.png', 'std.png']) {
      const png = PNG.sync.read(fs.readFileSync(path.join(dir, 'maps', f)));
      // Plot 400 x 200 (aspect of the raster, 17/16 x 2.29/2 ≈ 2.0) plus axes and colour bar.
      expect(png.width).toBeGreaterThan(400 + 60);
      expect(png.height).toBeGreaterThan(180);
      const colours = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) colours.add((png.data[i]! << 16) | (png.data[i + 1]! << 8) | png.data[i + 2]!);
      expect(colours.size).toBeGreaterThan(64);
    }
  }, 60_000);
});
