#!/bin/bash
# Issue 17 must-show 3: one chunk of a warm restart of the shipped prior (--init, new cosine schedule
# of N steps, default 40,000), then its gap to the oracle.
# First chunk: no .gpu/prior-ck. Later chunks: unpack the returned prior-ck.tar into .gpu/prior-ck.
set -u
[ -n "${GPU_ENV_DONE:-}" ] || source .gpu/env.sh
B=$PWD/.gpu/bundle/cli.js; SA=${SA:-480}; WP=${WP:-15}  # EV=0: no evaluation (not the last chunk)
W=/tmp/prior
if [ -d .gpu/prior-ck ]; then
  rm -rf $W; mkdir -p $W; cp -r .gpu/prior-ck/. $W/
  node $B train --out $W --resume --backend webgpu --data-workers $WP --stop-after $SA > $OUT/train.log 2>&1
else
  rm -rf $W  # a warm machine keeps /tmp from the last call
  python3 -c "import json;c=json.load(open('${CFG:-models/prior-gp-mixture/train.json}'));c['train']['testBatches']=0;c['train']['checkpointEvery']=2500;c['train']['steps']=${N:-40000};json.dump(c,open('/tmp/prior.json','w'))"
  # CFG: another configuration (train-standardize.json: the same prior with output.standardize);
  # INIT=none trains from scratch. TB=S: one whole warm restart, its cosine schedule fitted to the steps that fit in S seconds.
  if [ -n "${TB:-}" ]; then LIM="--time-budget $TB"; else LIM="--stop-after $SA"; fi
  [ -n "${LR:-}" ] && LIM="$LIM --lr $LR"  # LR: peak learning rate of the new schedule
  node $B train --config /tmp/prior.json $([ "${INIT:-}" = none ] || echo --init ${INIT:-models/prior-gp-mixture}) --out $W --backend webgpu --data-workers $WP $LIM > $OUT/train.log 2>&1
fi
grep -v '"progress"' $OUT/train.log | tail -n 2 | cut -c1-300
[ "${EV:-1}" = 1 ] && for t in gp-smooth gp-noisy ${EVT:-}; do
  timeout 60 node $B eval $W --task $t --batches 32 --backend webgpu --data-workers 4 | tr -d '\n ' | cut -c1-400; echo
done
(cd $W && tar -cf $OUT/prior-ck.tar .)
