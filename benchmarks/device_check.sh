#!/usr/bin/env bash
# One prepared GPU session (H100/H200 device machine, which has python3 with torch, numpy, scipy,
# pandas, tifffile, torchmetrics, matplotlib, pyyaml, rich but no network):
#   here, once:  .venv/bin/pip download gemmi jsonschema --python-version 3.12 --only-binary=:all: \
#                  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .device-wheels
#   device run:  command "bash benchmarks/device_check.sh", carry [".device-wheels"], timeout ~420 s
# Runs the CUDA tests and the simulator and surrogate benchmarks on CUDA; outputs go to $OUT.
set -uo pipefail
out="${OUT:-.}"
python3 -m pip install -q --no-index --find-links .device-wheels gemmi jsonschema > "$out/device_install.txt" 2>&1
python3 -m pip install -q --no-deps --no-build-isolation -e . >> "$out/device_install.txt" 2>&1 \
  || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$out/device_gpu.txt" 2>&1
timeout 120 python3 -m pytest -q -p no:cacheprovider -m cuda tests/simulate > "$out/device_tests.txt" 2>&1
timeout 200 python3 benchmarks/simulator.py --device cuda > "$out/device_simulator.txt" 2>&1
timeout 150 python3 benchmarks/surrogate.py --device cuda > "$out/device_surrogate.txt" 2>&1
tail -n 4 "$out"/device_*.txt
