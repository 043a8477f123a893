#!/usr/bin/env bash
# Prepare, on this (networked) machine, the wheels benchmarks/gpu_check.sh installs on a GPU machine
# whose Python 3.12 has torch, e3nn, numpy, scipy, h5py, pandas, typer, rich, pluggy, pytest and
# matplotlib but no network (the device tool's nvidia-h200 image). They go into .whl/ at the
# repository root (ignored by git; it travels with the working tree: keep it under 64 MiB).
#
#   bash benchmarks/gpu_wheels.sh            # then: bash benchmarks/gpu_check.sh on the GPU machine
#
# TorchMD-Net is not among them: it needs warp-lang, whose wheel (149 MB) alone exceeds the 64 MiB a
# working tree may carry to the GPU machine; gpu_check.sh says so and checks MACE and PaiNN.
set -euo pipefail
cd "$(dirname "$0")/.."
W=.whl
PY=${PYTHON:-.venv/bin/python}
rm -rf "$W" && mkdir -p "$W"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
# egbench itself: core and the model plugins, built here (pure Python)
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$W" . plugins/egbench-model-mace plugins/egbench-model-painn
# what the GPU image lacks, for CPython 3.12 on x86-64 (binary wheels only, no dependencies pulled;
# python-hostlist, a mace-torch requirement published only as source, is imported by its SLURM helper only)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --platform any -d "$W" \
  "ase==3.29.0" "vesin==0.6.2" "pooch>=1.8" platformdirs "mace-torch==0.3.16" "matscipy==1.3.1" torch-ema \
  configargparse prettytable lmdb orjson gitpython gitdb smmap
du -sh "$W"
ls "$W"
