#!/usr/bin/env bash
# The prepared GPU check (issue 9), for one GPU machine with Python 3.12, torch and e3nn but no
# network. Prepare the wheels here first (bash benchmarks/gpu_wheels.sh → .whl/, which travels with
# the working tree), then on the GPU machine, from the repository root:
#
#   bash benchmarks/gpu_check.sh            # < 8 minutes on one H200; figures in $OUT (or ./gpu-check)
#
# It (1) installs egbench, the MACE and PaiNN plugins and their missing dependencies from .whl/,
# (2) runs the conformance kit's CUDA device check for MACE and PaiNN (TorchMD-Net's warp-lang wheel,
# 149 MB, exceeds what a working tree may carry there: said in the figures, not checked), (3) runs one
# `quick` cell of MACE on acac with --device cuda and prints its report, (4) prints the batched-MD
# throughput table (R up to 256 on the GPU, and the single-replica ASE path on the CPU as baseline).
# GPU_CHECK_DEVICE=cpu GPU_CHECK_SMALL=1 runs the same steps on a CPU in minutes (how it is tested).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
SMALL=${GPU_CHECK_SMALL:-0}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
FIG="$OUT/figures.txt"
: > "$FIG"
say() { echo "$*" | tee -a "$FIG"; }

if [ "${GPU_CHECK_SKIP_INSTALL:-0}" != 1 ]; then
  [ -d .whl ] || { echo "no .whl/ here: run bash benchmarks/gpu_wheels.sh on a networked machine first" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/egbench-site .whl/*.whl
  export PYTHONPATH=/tmp/egbench-site${PYTHONPATH:+:$PYTHONPATH}
fi
export EGBENCH_DATA_DIR=${EGBENCH_DATA_DIR:-/tmp/egbench-data} EGBENCH_OFFLINE=1 EGBENCH_THREADS=1 PYTHONUNBUFFERED=1
export EGBENCH_LOAD_PLUGINS=mace,painn
say "== machine"
"$PY" - <<'PYEOF' | tee -a "$FIG"
import json, torch
from egbench_core.run.hardware import hardware
dev = "cuda" if torch.cuda.is_available() else "cpu"
print(json.dumps(hardware("float32", dev)))
PYEOF
say "== 1. conformance device check (a model built on the CPU, moved to $DEVICE)"
if [ "$DEVICE" = cuda ]; then
  "$PY" -m pytest -q -p no:cacheprovider -k "cuda" plugins/egbench-model-mace/tests plugins/egbench-model-painn/tests \
    2>&1 | tail -3 | tee -a "$FIG"
else
  say "skipped: no CUDA device (the check runs wherever CUDA exists)"
fi
say "torchmd-net: not installed here (warp-lang's 149 MB wheel exceeds the 64 MiB a working tree may carry)"

say "== 2. one quick cell: MACE × acac, --device $DEVICE"
PRESET=quick; [ "$SMALL" = 1 ] && PRESET=smoke
t0=$(date +%s)
"$PY" -m egbench_core.cli run --models mace --datasets acac --preset "$PRESET" --device "$DEVICE" --out /tmp/egbench-gpu-res \
  > "$OUT/run.log" 2>&1 || { tail -30 "$OUT/run.log"; exit 1; }
say "cell wall time: $(( $(date +%s) - t0 )) s (start-up included)"
"$PY" -m egbench_core.cli report --out /tmp/egbench-gpu-res --format markdown | tee -a "$FIG"

say "== 3. batched MD throughput, MACE on acac"
if [ "$SMALL" = 1 ]; then R="1 4"; P="quick"; S=5; else R="1 8 64 256"; P="quick paper"; S=30; fi
"$PY" benchmarks/md_batched.py --device "$DEVICE" --replicas $R --presets $P --steps $S --rounds 2 --cpu-baseline \
  2>&1 | grep -v -i warn | tee -a "$FIG"
say "figures written to $FIG"
