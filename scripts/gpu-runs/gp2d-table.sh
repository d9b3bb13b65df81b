#!/bin/bash
# Issue 18 must-show 4: experiment gp2d, 4 models x 3 seeds, same steps for all. The fast models
# (bsa-tnp, tnp-d) run their 3 seeds in one process each; te-tnp and convcnp one process per seed.
# Each process has its own out dir; their cell trees (out/gp2d/MODEL/seed-S/eval-gp2d.json) are
# combined at the end (below).
set -u
[ -n "${GPU_ENV_DONE:-}" ] || source .gpu/env.sh
B=$PWD/.gpu/bundle/cli.js; S=${S:-400}; NB=${NB:-8}; WK=${WK:-1}; TE=${TE:-540}
W=/tmp/gp2d; rm -rf $W; mkdir -p $W
run() {  # model seeds name
  timeout $TE node $B experiment gp2d --models $1 --seeds $2 --steps $S --batches $NB --backend webgpu \
    --data-workers $WK --out $W/$3 > $W/$3.log 2>&1
}
run bsa-tnp 46,61,69 bsa-tnp &
run tnp-d 46,61,69 tnp-d &
for m in te-tnp convcnp; do for seed in 46 61 69; do run $m $seed $m-$seed & done; done
wait
for f in $W/*.log; do echo "== $f"; grep -v Warning $f | tail -n 1 | cut -c1-300; done
# Combine here, on the same backend: every cell into one out dir, then the same command over all
# seeds skips the done cells and writes the table (time-limited: a missing cell would start training).
mkdir -p $W/all/gp2d
for d in $W/*/gp2d; do [ "$d" = "$W/all/gp2d" ] || cp -r $d/. $W/all/gp2d/; done
timeout ${TC:-30} node $B experiment gp2d --models bsa-tnp,tnp-d,te-tnp,convcnp --seeds 46,61,69 --steps $S \
  --batches $NB --backend webgpu --data-workers 1 --out $W/all > $W/all.log 2>&1
echo "== combined rc $?"; cat $W/all/gp2d/results.md 2>/dev/null | head -40
(cd $W && tar -cf $OUT/gp2d.tar *.log $(find . -name 'eval-*.json' -o -name 'results.*'))
