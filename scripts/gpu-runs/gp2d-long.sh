#!/bin/bash
# Issue 18 must-show 4 with a longer budget: experiment gp2d for the fast pair (bsa-tnp, tnp-d),
# one process per model × seed, all on one GPU at once, marginal test sampling (the same expected
# loss and metrics as the joint draw, a quarter of the host cost) and one peak lr for all (LR).
# Each cell's checkpoint comes back (one tar per cell, MODEL-SEED.tar): copy them into .gpu/gp2d-long/
# and the next call resumes each cell where it stopped, or carries done cells further with a larger S.
# A call carries and returns at most 64 MiB: a cell tar is about 7.7 MB (bsa-tnp, tnp-d, convcnp),
# a TE-TNP one about 29 MB (over the 16 MiB per returned file), so TE-TNP cells must finish in one
# call. CK=0 MODELS='bsa-tnp tnp-d te-tnp convcnp' runs all four (12 processes, no checkpoints back).
set -u
[ -n "${GPU_ENV_DONE:-}" ] || source .gpu/env.sh
B=$PWD/.gpu/bundle/cli.js; S=${S:-6000}; NB=${NB:-16}; WK=${WK:-2}; TE=${TE:-450}; LR=${LR:-3e-4}
MODELS=${MODELS:-bsa-tnp tnp-d}; SEEDS=${SEEDS:-46 61 69}
TO='{"sampling":"marginal"}'
W=/tmp/gp2d-long; rm -rf $W; mkdir -p $W
for m in $MODELS; do for s in $SEEDS; do
  mkdir -p $W/$m-$s
  [ -f .gpu/gp2d-long/$m-$s.tar ] && tar -xf .gpu/gp2d-long/$m-$s.tar -C $W/$m-$s
  # --stop-after: a cell still training at TE seconds stops with a checkpoint (returned below, and
  # resumed by the next call); the evaluation of a cell that finishes in time may run past TE.
  timeout $((TE + 90)) node $B experiment gp2d --models $m --seeds $s --steps $S --lr $LR --batches $NB --backend webgpu \
    --data-workers $WK --task-options "$TO" --stop-after $TE --out $W/$m-$s > $W/$m-$s.log 2>&1 &
done; done
wait
for f in $W/*.log; do echo "== $f"; grep '"loss"' $f | awk 'NR%10==0' | cut -c1-160 | tail -n 4; grep -v Warning $f | tail -n 1 | cut -c1-300; done
mkdir -p $W/all/gp2d
for m in $MODELS; do for s in $SEEDS; do cp -r $W/$m-$s/gp2d/. $W/all/gp2d/; done; done
ML=$(echo $MODELS | tr ' ' ','); SL=$(echo $SEEDS | tr ' ' ',')
timeout ${TC:-30} node $B experiment gp2d --models $ML --seeds $SL --steps $S --lr $LR --batches $NB --backend webgpu \
  --data-workers 1 --task-options "$TO" --out $W/all > $W/all.log 2>&1
echo "== combined rc $?"; cat $W/all/gp2d/results.md 2>/dev/null | head -40
(cd $W && tar -cf $OUT/gp2d-long.tar *.log $(find . -name 'eval-*.json' -o -name 'results.*'))
[ "${CK:-1}" = 1 ] && for m in $MODELS; do for s in $SEEDS; do  # CK=0: no checkpoints back
  (cd $W/$m-$s && tar -cf $OUT/$m-$s.tar --exclude='*.old' gp2d/$m/seed-$s/checkpoint gp2d/$m/seed-$s/eval-gp2d.json 2>/dev/null)
done; done
