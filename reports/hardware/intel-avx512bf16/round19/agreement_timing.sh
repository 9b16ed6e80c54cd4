#!/bin/bash
# `capcode agreement` on the NVivo sample with a second coder (tests/qdpx_second_coder.py), by fragment and by
# paragraph, on the code before README item 37 (OLD, default 8d4b7b3) and on this checkout's code (NEW), the
# old code first. One line per run ("label rc seconds", wall clock including the process start) is appended
# to $WORK/agreement_timing.log, with the JSON reports' differences (rounded to 4 decimals, as written).
# Usage, from the repository root: bash reports/hardware/intel-avx512bf16/round19/agreement_timing.sh [OLD] [WORK]
set -u
OLD=${1:-8d4b7b3}
WORK=${2:-/tmp/agreement_timing}
REPO=$(pwd)
export PATH=$REPO/.venv/bin:$PATH
mkdir -p "$WORK/out"
rm -rf "$WORK/old" && git worktree add -f "$WORK/old" "$OLD" > /dev/null
trap 'git -C "$REPO" worktree remove --force "$WORK/old"' EXIT
PROJECT=$WORK/nvivo-two-coders.qdpx
python -c "from pathlib import Path; from tests.qdpx_second_coder import with_second_coder
print(with_second_coder(Path('../shared/refi-qda/samples/nvivo-win-12.6-small.qdpx'), Path('$PROJECT')))"
run() {  # label (old_fragment, new_paragraph, ...)
  local label=$1 dir=$REPO start end rc
  [ "${label%%_*}" = old ] && dir=$WORK/old
  start=$(date +%s.%N)
  (cd "$dir" && PYTHONPATH=$dir python -m pipeline agreement "$PROJECT" --unit "${label#*_}" \
    -o "$WORK/out/$label.json" > "$WORK/$label.out" 2>&1); rc=$?
  end=$(date +%s.%N)
  echo "$label rc=$rc seconds=$(python -c "print(round($end - $start, 1))")" >> "$WORK/agreement_timing.log"
}
for unit in fragment paragraph; do run old_$unit; run new_$unit; done
for unit in fragment paragraph; do
  python - "$WORK/out/old_$unit.json" "$WORK/out/new_$unit.json" >> "$WORK/agreement_timing.log" <<'PY'
import json, sys
old, new = (json.load(open(p)) for p in sys.argv[1:])
def flat(d, p=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from flat(v, f"{p}.{k}")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from flat(v, f"{p}[{i}]")
    else:
        yield p, d
a, b = dict(flat(old)), dict(flat(new))
changed = sorted(k for k in a.keys() & b.keys() if a[k] != b[k] and "generated" not in k)
print(f"{sys.argv[1].rsplit('/', 1)[1]} vs new: {len(a)} values, {len(changed)} differ, "
      f"{len(b.keys() - a.keys())} only new, {len(a.keys() - b.keys())} only old; first: {changed[:3]}")
PY
done
