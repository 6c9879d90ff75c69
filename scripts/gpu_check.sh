#!/usr/bin/env bash
# Where a CUDA GPU is at hand: the `gpu` tests, then the benchmarks on the device: `make bench`'s
# pipelines once (with (c0), the fit without callbacks and logger), one training step of a batched
# group (benchmarks.stack_step), and the sweep section (a 10×10 λ × dropout grid batched, the basic
# launcher on a sample). All within
# GPU_CHECK_SECONDS (540 by default: the sweep section takes what the first stages leave; on an H100
# they took under 2 minutes). Each stage has its own limit too; one that fails or runs out is
# reported and the next runs. Figures go to ${OUT:-gpu_check}/ (summary.txt, *.log, bench.json,
# sweep.json); put them in docs/performance.md with the card's name.
#   scripts/gpu_check.sh            (after `make setup`)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu_check}
budget=${GPU_CHECK_SECONDS:-540}
[[ $budget =~ ^[0-9]+$ ]] || { echo "gpu_check: GPU_CHECK_SECONDS=$budget: give whole seconds, e.g. 540" >&2; exit 2; }
mkdir -p "$out"
bin=.venv/bin
[ -x $bin/python ] || { echo "gpu_check: no .venv here; run make setup first" >&2; exit 2; }
if ! $bin/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 2)"; then
  echo "gpu_check: torch sees no CUDA device here; run it on a machine with a GPU" >&2; exit 2
fi
export PYTHONUNBUFFERED=1  # a stage stopped by its timeout keeps what it printed
$bin/python -c "import torch; print(torch.cuda.get_device_name(0), 'torch', torch.__version__)" \
  | tee "$out/summary.txt"
failed=0
deadline=$((SECONDS + budget))
stage() {  # stage NAME SECONDS LINES COMMAND…: run it into NAME.log; its last LINES to the summary
  local name=$1 seconds=$2 lines=$3 began=$SECONDS rc
  shift 3
  (( seconds > deadline - SECONDS )) && seconds=$((deadline - SECONDS))
  if (( seconds < 10 )); then
    echo "== $name: not run (GPU_CHECK_SECONDS spent)" >> "$out/summary.txt"; failed=1; return
  fi
  # SIGTERM first (Lightning stops cleanly on it), SIGKILL 15 s later if it is still there
  timeout -k 15 "$seconds" "$@" > "$out/$name.log" 2>&1
  rc=$?
  { echo "== $name: exit $rc in $((SECONDS - began)) s$( ((rc == 124 || rc == 137)) && echo " (ran out of its $seconds s)")"
    tail -n "$lines" "$out/$name.log"; } >> "$out/summary.txt"
  (( rc == 0 )) || failed=1
}
stage tests 150 3 $bin/pytest -m gpu -p no:cacheprovider -q
stage bench 120 32 $bin/python -m benchmarks --device cuda --repeats 1 --epochs 3 --skip-whole --bare \
  --out "$out/bench.json"
stage stack 60 6 $bin/python -m benchmarks.stack_step --device cuda
stage sweep 540 14 $bin/python -m benchmarks --device cuda --sweep-repeats 1 --sweep-only --out "$out/sweep.json"
echo "gpu_check: $SECONDS s" >> "$out/summary.txt"
cat "$out/summary.txt"
exit $failed
