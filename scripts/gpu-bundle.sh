#!/usr/bin/env bash
# Bundles the benchmark and CLI entry points into .gpu/bundle/ for the GPU machine, which has no
# npm and no TypeScript loader (/work/shared/gpu/README.md). `webgpu` stays external: the GPU
# machine's .gpu/env.sh restores node_modules/webgpu with Dawn's binary.
#   bash scripts/gpu-bundle.sh && (device) source .gpu/env.sh && node .gpu/bundle/bench.js model --backend webgpu
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .gpu/bundle
common=(--bundle --platform=node --format=esm --target=node20 --external:webgpu --log-level=warning
  "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);")
npx esbuild bench/run.ts --outfile=.gpu/bundle/bench.js "${common[@]}"
echo "import { runCli } from '../src/cli/main.ts'; process.exitCode = await runCli(process.argv.slice(2));" > .gpu/cli-entry.ts
npx esbuild .gpu/cli-entry.ts --outfile=.gpu/bundle/cli.js "${common[@]}"
# Data worker threads (train/prefetch-node.ts) import this file from beside the bundle.
npx esbuild src/train/data-worker-entry.ts --outfile=.gpu/bundle/data-worker-entry.js "${common[@]}"
# Worker threads of the CPU backend load their own file.
if [ -f src/engine/cpu/worker-node.ts ]; then
  npx esbuild src/engine/cpu/worker-node.ts --outfile=.gpu/bundle/worker-node.js "${common[@]}"
fi
du -sh .gpu/bundle
