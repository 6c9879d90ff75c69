#!/usr/bin/env bash
# Where a CUDA GPU is at hand: the `gpu` tests, then `make bench` on the device (one run of every
# pipeline, and the sweep section: a 10×10 λ × dropout grid batched, the basic launcher on a sample),
# within about 8 minutes. Figures go to ${OUT:-gpu_check}/ (bench.json, sweep.json, *.log, summary.txt);
# put them in docs/performance.md with the card's name.
#   scripts/gpu_check.sh            (after `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu_check}
mkdir -p "$out"
bin=.venv/bin
[ -x $bin/python ] || { echo "gpu_check: no .venv here; run make setup first" >&2; exit 2; }
if ! $bin/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 2)"; then
  echo "gpu_check: torch sees no CUDA device here; run it on a machine with a GPU" >&2; exit 2
fi
$bin/python -c "import torch; print(torch.cuda.get_device_name(0))" | tee "$out/summary.txt"
start=$(date +%s)
timeout 180 $bin/pytest -m gpu -p no:cacheprovider -q 2>&1 | tee "$out/tests.log" | tail -3 | tee -a "$out/summary.txt"
timeout 150 $bin/python -m benchmarks --device cuda --repeats 1 --epochs 3 --skip-whole \
  --out "$out/bench.json" 2>&1 | tee "$out/bench.log" | tail -25 >> "$out/summary.txt"
timeout 200 $bin/python -m benchmarks --device cuda --sweep-repeats 1 --sweep-only \
  --out "$out/sweep.json" 2>&1 | tee "$out/sweep.log" | tail -12 >> "$out/summary.txt"
echo "gpu_check: $(( $(date +%s) - start )) s" | tee -a "$out/summary.txt"
cat "$out/summary.txt"
