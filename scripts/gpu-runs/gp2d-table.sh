#!/bin/bash
# Issue 18 must-show 4: experiment gp2d, 4 models x 3 seeds, one process per seed, same steps for all.
set -u
[ -n "${GPU_ENV_DONE:-}" ] || source .gpu/env.sh
B=$PWD/.gpu/bundle/cli.js; S=${S:-400}; NB=${NB:-8}; WK=${WK:-4}; TE=${TE:-540}
W=/tmp/gp2d; rm -rf $W; mkdir -p $W
for seed in 46 61 69; do
  timeout $TE node $B experiment gp2d --models bsa-tnp,tnp-d,te-tnp,convcnp --seeds $seed --steps $S \
    --batches $NB --backend webgpu --data-workers $WK --out $W/s$seed > $W/gp2d-$seed.log 2>&1 &
done
wait
for seed in 46 61 69; do echo "== seed $seed"; grep -v Warning $W/gp2d-$seed.log | tail -n 2 | cut -c1-300; done
# Eval files only; combine here with the same command and --seeds 46,61,69 (done cells are skipped).
(cd $W && tar -cf $OUT/gp2d.tar *.log $(find . -name 'eval-*.json' -o -name 'results.*'))
