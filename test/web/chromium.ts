/**
 * A real browser for the web page tests: Debian's Chromium (/usr/bin/chromium, or
 * BSA_TNP_CHROMIUM) driven by playwright-core, headless, with WebGPU on SwiftShader (Vulkan on the
 * CPU), so the WebGPU path runs without a GPU. With CI=true a missing Chromium is an error
 * (.ci/install-chromium.sh installs it); elsewhere the tests are skipped with a visible notice.
 */
import * as fs from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.BSA_TNP_CHROMIUM ?? '/usr/bin/chromium';

/** Flags: headless, no sandbox (CI runs as root), WebGPU on SwiftShader's Vulkan. */
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-gpu-sandbox',
];

/** True when Chromium is installed; throws with CI=true when it is not. */
export function chromiumAvailable(): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  const why = `no Chromium at ${CHROMIUM}`;
  if (process.env.CI === 'true') throw new Error(`${why} (CI=true requires it: install it with .ci/install-chromium.sh)`);
  console.log(`NOTICE: skipping the web page tests, ${why} (apt-get install chromium, or set BSA_TNP_CHROMIUM)`);
  return false;
}

/** Launches Chromium with `args` (default: WebGPU on SwiftShader). */
export function launchChromium(args: readonly string[] = CHROMIUM_ARGS): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...args] });
}
