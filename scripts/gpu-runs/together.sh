#!/bin/bash
# Runs several of these scripts at once on one device call: `bash scripts/gpu-runs/together.sh A B`
# (with their variables set in the environment). The environment is set up once, before they start.
set -u
source .gpu/env.sh; export GPU_ENV_DONE=1
for s in "$@"; do bash scripts/gpu-runs/$s.sh > /tmp/together-$s.log 2>&1 & done
wait
for s in "$@"; do echo "=== $s"; cat /tmp/together-$s.log; done
