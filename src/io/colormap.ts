/**
 * Colour maps for fields (PNG output, the web page's maps and colour bars): perceptually ordered
 * maps as a few RGB stops, linearly interpolated. No Node built-ins (runs in browsers).
 */
export type ColorMapName = 'viridis' | 'magma' | 'gray';
export type Rgb = readonly [number, number, number];

// Matplotlib's viridis and magma sampled at 11 evenly spaced points (0, 0.1, …, 1) and linearly
// interpolated between them: close to the originals and still perceptually ordered.
const STOPS: Record<ColorMapName, readonly Rgb[]> = {
  viridis: [
    [0x44, 0x01, 0x54], [0x48, 0x24, 0x75], [0x41, 0x44, 0x87], [0x35, 0x5f, 0x8d], [0x2a, 0x78, 0x8e], [0x21, 0x91, 0x8c],
    [0x22, 0xa8, 0x84], [0x44, 0xbf, 0x70], [0x7a, 0xd1, 0x51], [0xbd, 0xdf, 0x26], [0xfd, 0xe7, 0x25],
  ],
  magma: [
    [0x00, 0x00, 0x04], [0x14, 0x0e, 0x36], [0x3b, 0x0f, 0x70], [0x64, 0x1a, 0x80], [0x8c, 0x29, 0x81], [0xb7, 0x37, 0x79],
    [0xde, 0x49, 0x68], [0xf7, 0x70, 0x5c], [0xfe, 0x9f, 0x6d], [0xfe, 0xcf, 0x92], [0xfc, 0xfd, 0xbf],
  ],
  gray: [[0, 0, 0], [255, 255, 255]],
};

/** Colour of `t` in [0, 1] (clamped) under `name`. */
export function colorAt(name: ColorMapName, t: number): [number, number, number] {
  const stops = STOPS[name];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(a[k]! + f * (b[k]! - a[k]!))) as [number, number, number];
}

