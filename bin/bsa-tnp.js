#!/usr/bin/env node
// bsa-tnp command line. Runs the TypeScript sources directly (no build step) through tsx's ESM
// loader, registered here so `node bin/bsa-tnp.js` works from any working directory.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
