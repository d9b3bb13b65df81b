// Strict tests: any console.warn fails the test that caused it (style.md, "Tests are strict").
import { afterEach, beforeEach } from 'vitest';

let warnings: string[] = [];
const originalWarn = console.warn;
beforeEach(() => {
  warnings = [];
  console.warn = (...args: unknown[]) => { warnings.push(args.map(String).join(' ')); };
});
afterEach(() => {
  console.warn = originalWarn;
  if (warnings.length > 0) throw new Error(`console.warn was called: ${warnings.join(' | ')}`);
});
