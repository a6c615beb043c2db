"""Inference speed of the pix2pix U-Net generator, next to the simulator's time per pattern.

Measures (docs/architecture.md §8), each the median of synchronised runs after warm-up:

* latency at batch 1 [ms]: eager fp32, eager bf16 (autocast), torch.compile fp32 (skipped with a
  reason if it fails, e.g. no C++ compiler on CPU, or with --quick on CPU), CUDA graph fp32
  (CUDA only);
* throughput at batch 64 and 256 [images/s], fp32 and bf16 (with --quick on CPU: batch 64 only).

With ``--dataset D`` the simulator's median wall time per pattern (``sim_seconds`` of
``D/manifest.csv``) is printed beside it as a speed-up ratio. The last line is one JSON object.

Usage: ``python benchmarks/surrogate.py [--quick] [--device cpu|cuda] [--side 128] [--ngf 64]
[--dataset results/dataset]``. Weights are random: the timing does not depend on them.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lacbed_bridge.surrogate.models import UNetGenerator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, *, repeats: int, warmup: int, budget_s: float) -> float:
    """Median wall time [s] of ``fn`` over up to ``repeats`` synchronised runs (at least 3 unless over budget)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= min(3, repeats):
            break
    return statistics.median(times)


def eager_fn(model: torch.nn.Module, x: torch.Tensor, bf16: bool) -> Callable[[], object]:
    """Forward pass, optionally under bf16 autocast."""

    def run() -> object:
        with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            return model(x)

    return run


def cuda_graph_fn(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """Capture one forward pass in a CUDA graph; replaying it is the measured call."""
    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(stream):
        for _ in range(3):
            model(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        model(static_x)
    return graph.replay


def simulator_seconds(dataset: Path | None) -> float | None:
    """Median simulator wall time per pattern [s] from a dataset manifest, if given."""
    if dataset is None:
        return None
    import pandas as pd

    manifest = pd.read_csv(dataset / "manifest.csv")
    values = pd.to_numeric(manifest.get("sim_seconds"), errors="coerce").dropna()
    return float(values.median()) if len(values) else None


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, small CPU batches (≤ 60 s on 2 cores)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--side", type=int, default=128, help="image side [px] (power of two)")
    parser.add_argument("--ngf", type=int, default=64, help="generator width (pix2pix: 64)")
    parser.add_argument("--dataset", type=Path, help="dataset folder: compare with its simulator time per pattern")
    parser.add_argument("--json-out", type=Path, help="also write the JSON record to this file (atomically)")
    parser.add_argument("--repeats", type=int, help="runs per measurement (default 50, --quick 5)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU available")
    device = torch.device(args.device)
    on_cpu = device.type == "cpu"
    repeats = args.repeats or (5 if args.quick else 50)
    warmup = 1 if args.quick else 5
    budget = 4.0 if args.quick else 30.0
    batches = (64,) if (args.quick and on_cpu) else (64, 256)

    torch.manual_seed(0)
    model = UNetGenerator(args.side, ngf=args.ngf, dropout=True).to(device).eval()
    n_params = sum(p.numel() for p in model.parameters())
    x1 = torch.rand(1, 1, args.side, args.side, device=device)
    latency: dict[str, float | str] = {}
    throughput: dict[str, dict[str, float]] = {}

    latency["eager_fp32"] = 1e3 * time_call(eager_fn(model, x1, False), device, repeats=repeats, warmup=warmup, budget_s=budget)
    latency["eager_bf16"] = 1e3 * time_call(eager_fn(model, x1, True), device, repeats=repeats, warmup=warmup, budget_s=budget)
    if args.quick and on_cpu:
        latency["compile_fp32"] = "skipped: --quick on CPU (compiling alone takes about a minute)"
    else:
        try:
            compiled = torch.compile(model)
            latency["compile_fp32"] = 1e3 * time_call(eager_fn(compiled, x1, False), device, repeats=repeats, warmup=3, budget_s=budget)
        except Exception as exc:  # any backend failure (no compiler, unsupported op) only skips this figure
            latency["compile_fp32"] = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    if device.type == "cuda":
        try:
            latency["cuda_graph_fp32"] = 1e3 * time_call(cuda_graph_fn(model, x1), device, repeats=repeats, warmup=warmup, budget_s=budget)
        except Exception as exc:
            latency["cuda_graph_fp32"] = f"skipped: {type(exc).__name__}: {exc}"
    for b in batches:
        xb = torch.rand(b, 1, args.side, args.side, device=device)
        throughput[str(b)] = {}
        for name, bf16 in (("fp32", False), ("bf16", True)):
            seconds = time_call(eager_fn(model, xb, bf16), device, repeats=repeats, warmup=warmup, budget_s=budget)
            throughput[str(b)][name] = b / seconds
        del xb

    sim_s = simulator_seconds(args.dataset)
    best_ms_per_image = min(1e3 / v for d in throughput.values() for v in d.values())
    numeric = {k: v for k, v in latency.items() if isinstance(v, float)}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"pix2pix U-Net generator, {args.side}² px, ngf {args.ngf} ({n_params / 1e6:.1f} M parameters), {name}, torch {torch.__version__}")
    for k, v in latency.items():
        print(f"  latency batch 1  {k:16s} " + (f"{v:9.3f} ms" if isinstance(v, float) else str(v)))
    for b, d in throughput.items():
        for k, v in d.items():
            print(f"  throughput b={b:<4s} {k:16s} {v:9.1f} images/s ({1e3 / v:.3f} ms/image)")
    result: dict[str, object] = {
        "benchmark": "surrogate",
        "device": name,
        "torch": torch.__version__,
        "side": args.side,
        "ngf": args.ngf,
        "parameters": n_params,
        "quick": bool(args.quick),
        "latency_ms": latency,
        "throughput_images_per_s": throughput,
        "best_batched_ms_per_image": best_ms_per_image,
        "sim_s_per_pattern": sim_s,
        "commit": _commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if sim_s is not None:
        fastest = min(numeric.values())
        result["speedup_batch1"] = sim_s / (fastest / 1e3)
        result["speedup_batched"] = sim_s / (best_ms_per_image / 1e3)
        print(f"  simulator {sim_s:.3f} s/pattern: speed-up {result['speedup_batch1']:.0f}× (batch 1), {result['speedup_batched']:.0f}× (batched)")
    if args.json_out is not None:
        from lacbed_bridge.io import write_text_atomic

        write_text_atomic(args.json_out, json.dumps(result) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
