#!/bin/bash
# Issue 18 "what to build" 4: reduced-budget tables of several experiments in one call, every
# model × seed cell its own process on one GPU, the same number of steps for every model of an
# experiment. The steps are not guessed: a calibration phase runs every cell at once for CAL
# seconds (the same processes and so the same sharing of GPU and host as the real run) and counts
# the steps each reached; an experiment's budget is then the slowest of its cells' count scaled to
# T seconds (times SAFE). Phase 2 trains every cell from scratch with that budget (--stop-after
# guards the deadline), then the cells of each experiment are combined into one table.
#   EXPS='sir multiscale' T=300 bash scripts/gpu-runs/tables.sh
set -u
[ -n "${GPU_ENV_DONE:-}" ] || source .gpu/env.sh
B=$PWD/.gpu/bundle/cli.js
EXPS=${EXPS:-sir multiscale}; SEEDS=${SEEDS:-46 61 69}; CAL=${CAL:-40}; T=${T:-300}; SAFE=${SAFE:-0.9}
NB=${NB:-16}; WK=${WK:-1}; LR=${LR:-3e-4}; BK=${BK:-webgpu}
models() {  # the recipe's models (src/experiment/recipes.ts)
  case $1 in
    num-basis) echo bsa-tnp-f1 bsa-tnp-f3 bsa-tnp bsa-tnp-f10 ;;
    multiscale) echo bsa-tnp te-tnp ;;
    so3) echo bsa-tnp geo-bsa-tnp sa-tnp ;;
    sir) echo bsa-tnp tnp-d te-tnp convcnp ;;
    gneiting) echo bsa-tnp-embed only-embed only-bias tnp-d-prenorm te-tnp ;;
  esac
}
opts() {  # gneiting keeps its recipe's lr 1e-3; GP tasks sample test points from the marginal
  case $1 in
    gneiting) echo "" ;;
    sir) echo "--lr $LR" ;;
    *) echo "--lr $LR --task-options {\"sampling\":\"marginal\"}" ;;
  esac
}
W=/tmp/tables; rm -rf $W; mkdir -p $W/cal $W/run
echo "== calibration: every cell for $CAL s"
for e in $EXPS; do for m in $(models $e); do for s in $SEEDS; do
  timeout $((CAL + 60)) node $B experiment $e --models $m --seeds $s --steps 1000000 --batches 1 --backend $BK \
    --data-workers $WK $(opts $e) --stop-after $CAL --out $W/cal/$e-$m-$s > $W/cal/$e-$m-$s.log 2>&1 &
done; done; done
wait
declare -A STEPS
for e in $EXPS; do
  min=""
  for f in $W/cal/$e-*.log; do
    n=$(grep -o '"step":[0-9]*' $f | tail -n 1 | cut -d: -f2); n=${n:-0}
    echo "$(basename $f .log): $n steps in $CAL s"
    if [ -z "$min" ] || [ "$n" -lt "$min" ]; then min=$n; fi
  done
  STEPS[$e]=$(python3 -c "print(max(10, int($min * $T / $CAL * $SAFE) // 10 * 10))")
  echo "== $e: ${STEPS[$e]} steps per cell"
done
for e in $EXPS; do for m in $(models $e); do for s in $SEEDS; do
  timeout $((T + 240)) node $B experiment $e --models $m --seeds $s --steps ${STEPS[$e]} --batches $NB --backend $BK \
    --data-workers $WK $(opts $e) --stop-after $((T + 60)) --out $W/run/$e-$m-$s > $W/run/$e-$m-$s.log 2>&1 &
done; done; done
wait
for e in $EXPS; do  # combine each experiment's cells (done cells are skipped into one table), in parallel
  mkdir -p $W/all/$e
  for d in $W/run/$e-*/; do cp -r $d. $W/all/; done  # cells live under the recipe's trainGroup (num-basis: gp2d/)
  ML=$(models $e | tr ' ' ','); SL=$(echo $SEEDS | tr ' ' ',')
  timeout 60 node $B experiment $e --models $ML --seeds $SL --steps ${STEPS[$e]} --batches $NB --backend $BK \
    --data-workers 1 $(opts $e) --stop-after 0.01 --out $W/all > $W/all/$e.log 2>&1 &
done
wait
for e in $EXPS; do echo "== $e"; sed -n '1,/^## /p' $W/all/$e/results.md 2>/dev/null | head -30; done
for f in $W/cal/*.log; do grep -q '"phase":"error"' $f && { echo "== $f"; grep '"phase":"error"' $f | cut -c1-300; }; done
for f in $W/run/*.log; do grep -q '"phase":"error"\|"phase":"stopped"' $f && { echo "== $f"; grep '"phase":"error"\|"phase":"stopped"' $f | cut -c1-300; }; done
(cd $W && tar -cf $OUT/tables.tar cal/*.log run/*.log all/*.log $(cd $W && find all -name 'eval-*.json' -o -name 'results.*'))
