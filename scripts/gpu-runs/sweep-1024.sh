#!/bin/bash
# Issue 18 must-show 5: where each baseline stops at 1024² (100,000 context, 1,048,576 test points).
set -u
[ -n "${GPU_ENV_DONE:-}" ] || source .gpu/env.sh
B=$PWD/.gpu/bundle/cli.js; TM=${TM:-170}
W=/tmp/sweep; rm -rf $W; mkdir -p $W
for m in tnp-d te-tnp convcnp; do
  timeout $TM node $B experiment sir-sizes --models $m --seeds 1 --steps 5 --batches 1 --variants 1024² \
    --backend webgpu --data-workers 6 --out $W/sw-$m > $W/sweep-$m.log 2>&1
  echo "== $m rc $? (124 = time limit $TM s)"; grep '"variant"\|"error"' $W/sweep-$m.log | cut -c1-400
done
cp $W/sweep-*.log $OUT/
