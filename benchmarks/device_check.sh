#!/usr/bin/env bash
# One prepared GPU session (H100/H200): CUDA tests, simulator and surrogate benchmarks on CUDA.
# Run from the repository root on the device machine; figures go to ${OUT:-.}/device_*.txt.
# Budget: about 6 minutes after the environment is installed (pip of torch from the index: +2-4 min).
set -uo pipefail
out="${OUT:-.}"
python3 -m venv .venv-gpu && . .venv-gpu/bin/activate
pip install -q --upgrade pip && pip install -q torch && pip install -q -e ".[dev]"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$out/device_gpu.txt" 2>&1
timeout 120 python -m pytest -q -m cuda tests/simulate > "$out/device_tests.txt" 2>&1
timeout 240 python benchmarks/simulator.py --device cuda > "$out/device_simulator.txt" 2>&1
timeout 180 python benchmarks/surrogate.py --device cuda > "$out/device_surrogate.txt" 2>&1
tail -n 3 "$out"/device_*.txt
