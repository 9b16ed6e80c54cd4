#!/bin/bash
# README item 38: predict's batch size (predict.batch_size) on this machine, run after `make run`.
# 1. `capcode export` and `capcode evaluate` (dvc.yaml's commands, but for -o and --params) with the shipped
#    params (batches of 32 fragments) and with a copy whose batches are 64 fragments (as before item 38),
#    alternating which goes first; one line per run ("label rc seconds") in $WORK/batching_checks.log, then the
#    files whose bytes differ between the two batchings, for predictions.jsonl how many records differ, and for
#    predictions.qdpx which members differ other than in their creationDateTime attributes.
# 2. The throughput target's own command, `capcode bench` on the 47 quotes x 8, three runs (shipped params).
# 3. `python -m pipeline.tools.predict_batching_experiment` (seven repeats) into this folder.
# Usage, from the repository root: [HERE=folder] bash reports/hardware/intel-avx512bf16/round20/batching_checks.sh [WORK]
set -u
WORK=${1:-/tmp/batching_checks}
HERE=${HERE:-reports/hardware/intel-avx512bf16/round20}  # the folder that receives the logs (round 21: HERE=reports/hardware/intel-amx/round21)
export PATH=$(pwd)/.venv/bin:$PATH CAPCODE_PROGRESS=0
mkdir -p "$WORK"
sed 's/^  batch_size: 32$/  batch_size: 64/' configs/params.yaml > "$WORK/params_batch64.yaml"
[ "$(grep -c '^  batch_size: 64$' "$WORK/params_batch64.yaml")" = 1 ] || { echo "no predict batch_size 32 to replace"; exit 1; }
run() {  # label params-file capcode-arguments...
  local label=$1 params=$2 start end rc
  shift 2
  start=$(date +%s.%N)
  capcode "$@" --params "$params" -o "$WORK/$label" > "$WORK/$label.out" 2>&1; rc=$?
  end=$(date +%s.%N)
  echo "$label rc=$rc seconds=$(python -c "print(round($end - $start, 1))")" >> "$WORK/batching_checks.log"
}
EX="export --prepared-dir data/prepared --model models/default"
EV="evaluate --prepared data/prepared/fragments.jsonl --model models/default --crossval reports/crossval/crossval.json --simulation reports/simulate/simulation.json"
run batch32_export configs/params.yaml $EX; run batch64_export "$WORK/params_batch64.yaml" $EX
run batch64_evaluate "$WORK/params_batch64.yaml" $EV; run batch32_evaluate configs/params.yaml $EV
for stage in export evaluate; do
  differing=$(cd "$WORK" && for f in $(cd "batch64_$stage" && find . -type f | sort); do
    cmp -s "batch64_$stage/$f" "batch32_$stage/$f" || echo -n "${f#./} "; done)
  echo "$stage files that differ between the batch sizes: ${differing:-none}" >> "$WORK/batching_checks.log"
done
python - "$WORK" >> "$WORK/batching_checks.log" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
read = lambda p: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
old, new = read(work / "batch64_export/predictions.jsonl"), read(work / "batch32_export/predictions.jsonl")
assert [r["id"] for r in old] == [r["id"] for r in new]
for key in ("labels", "scores", "margins", "review"):
    print(f"predictions.jsonl: {sum(a.get(key) != b.get(key) for a, b in zip(old, new))} of {len(old)} records differ in {key}")
deltas = [abs(a["scores"][c] - b["scores"][c]) for a, b in zip(old, new) for c in a["scores"] if a["scores"][c] is not None]
print(f"predictions.jsonl: largest score change {max(deltas, default=0):.4f}")
import re, zipfile
def members(path):  # every file of the .qdpx, creationDateTime attributes (the time of writing) blanked
    with zipfile.ZipFile(path) as archive:
        return {n: re.sub(rb'creationDateTime="[^"]*"', b'creationDateTime=""', archive.read(n)) for n in archive.namelist()}
a, b = members(work / "batch64_export/predictions.qdpx"), members(work / "batch32_export/predictions.qdpx")
print("predictions.qdpx: members that differ but for creationDateTime:", [n for n in a if a[n] != b.get(n)] or "none",
      "; members in one only:", sorted(set(a) ^ set(b)) or "none")
PY
python -m pipeline.tools.quotes_bench_input -o "$WORK/quotes_x8.jsonl"
for k in 1 2 3; do
  capcode bench --prepared "$WORK/quotes_x8.jsonl" --fragments 376 --repeats 3 \
    --skip segment,qdpx,e2e,train,growth,startup,memory,parallel -o "$WORK/bench_quotes_$k.json" > /dev/null 2>&1
  python -c "import json,sys; p=json.load(open(sys.argv[1]))['predict']; print('bench run', sys.argv[2], p['capcode_fragments_per_s'], 'fragments/s, batch', p['batch_size'], p['precision'])" "$WORK/bench_quotes_$k.json" $k >> "$WORK/batching_checks.log"
done
python -m pipeline.tools.predict_batching_experiment --repeats 7 -o "$HERE/predict_batching.json"
cp "$WORK/batching_checks.log" "$HERE/batching_checks.log"
