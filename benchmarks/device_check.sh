#!/usr/bin/env bash
# One prepared GPU session (H100/H200 device machine, which has python3 with torch, numpy, scipy,
# pandas, tifffile, torchmetrics, matplotlib, pyyaml, rich but no network):
#   here, once:  .venv/bin/pip download gemmi jsonschema --python-version 3.12 --only-binary=:all: \
#                  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .device-wheels
#   and, for the charge-aware training check, a built dataset with charge series (e.g. the reduced
#   protocol's, 280 discs at 32², a few MB):
#                cp -r results_accuracy_reduced/dataset .device-data
#   device run:  command "bash benchmarks/device_check.sh", carry [".device-wheels", ".device-data"], timeout ~540 s
# Runs the CUDA tests, the simulator and surrogate benchmarks on CUDA and the charge-aware training
# (two channels + charge term, both directions) on CUDA; outputs go to $OUT. The full 128² protocol
# (configs/accuracy.yaml: 2 000 converged discs as charge series) needs hours of GPU time:
#   python benchmarks/accuracy.py --device cuda
# and the paper-shaped protocol at the paper's 128² (configs/paper_cpu.yaml, docs/paper.md):
#   python benchmarks/paper_protocol.py --device cuda --pixel-count 64
# Its plumbing at 128² runs below when the device machine has Snakemake (add snakemake and its
# dependencies to the pip download above).
set -uo pipefail
out="${OUT:-.}"
python3 -m pip install -q --no-index --find-links .device-wheels gemmi jsonschema > "$out/device_install.txt" 2>&1
python3 -m pip install -q --no-deps --no-build-isolation -e . >> "$out/device_install.txt" 2>&1 \
  || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$out/device_gpu.txt" 2>&1
timeout 120 python3 -m pytest -q -p no:cacheprovider -m cuda tests/simulate tests/refine > "$out/device_tests.txt" 2>&1
timeout 200 python3 benchmarks/simulator.py --device cuda > "$out/device_simulator.txt" 2>&1
timeout 150 python3 benchmarks/surrogate.py --device cuda > "$out/device_surrogate.txt" 2>&1
if [ -f .device-data/dataset.json ]; then
  timeout 150 python3 benchmarks/charge_ablation.py .device-data --device cuda --epochs 60 --seeds 0 \
    --variants channels+charge --out "$out/charge_models" > "$out/device_charge.txt" 2>&1
  rm -rf "$out/charge_models"
fi
if python3 -c "import snakemake" 2> /dev/null; then
  timeout 150 python3 benchmarks/paper_protocol.py --quick --device cuda --pixel-count 64 --cores 4 \
    --workdir "$out/paper_protocol" > "$out/device_paper_protocol.txt" 2>&1
  rm -rf "$out/paper_protocol"
fi
tail -n 4 "$out"/device_*.txt
