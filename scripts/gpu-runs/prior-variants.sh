#!/bin/bash
# Issue 17 must-show 3: several warm restarts of the shipped prior side by side on one GPU, each its
# own process, then each one's gap to the oracle on gp-smooth, gp-noisy and gp2d (32 batches, seed 88).
#   VARIANTS='NAME:BIAS_LR_SCALE:INIT ...'  INIT: a model folder (default the shipped prior)
#   TB: seconds of training (each run's cosine schedule is fitted to it), LR: peak lr, WP: data workers each.
# Each variant's model folder comes back as $OUT/NAME.tar (config.json + model.safetensors).
set -u
[ -n "${GPU_ENV_DONE:-}" ] || source .gpu/env.sh
B=$PWD/.gpu/bundle/cli.js; TB=${TB:-390}; LR=${LR:-1e-4}; WP=${WP:-3}
CFG=${CFG:-models/prior-gp-mixture/train-standardize.json}
R=/tmp/pv; rm -rf $R; mkdir -p $R
for v in $VARIANTS; do
  IFS=: read -r name k init <<< "$v"
  python3 -c "import json;c=json.load(open('$CFG'));t=c['train'];t.update(testBatches=0,checkpointEvery=2500,steps=40000);t['biasLrScale']=$k;json.dump(c,open('$R/$name.json','w'))"
  node $B train --config $R/$name.json --init ${init:-models/prior-gp-mixture} --out $R/$name --backend webgpu \
    --data-workers $WP --time-budget $TB --lr $LR > $OUT/$name.log 2>&1 &
done
wait
for v in $VARIANTS; do
  IFS=: read -r name k init <<< "$v"
  grep -v '"progress"' $OUT/$name.log | tail -n 1 | cut -c1-200
  for t in gp-smooth gp-noisy gp2d; do
    (timeout 150 node $B eval $R/$name --task $t --batches ${EB:-32} --backend webgpu --data-workers 1 | tr -d '\n ' \
      | grep -o '"nllMinusOracle":[-0-9.e]*' | sed "s/^/$name $t /" > $R/$name-$t.ev) &
  done
done
wait
cat $R/*.ev
for v in $VARIANTS; do
  IFS=: read -r name k init <<< "$v"
  (cd $R/$name && tar -cf $OUT/$name.tar config.json model.safetensors)
done
