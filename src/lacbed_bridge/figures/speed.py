"""Figure (d): time per pattern, log scale — simulators against the surrogate.

Bars (each only when a measured figure exists; nothing is estimated here):

* the builtin Bloch-wave simulator as used for the dataset: the median of the per-sample wall times
  (``seconds`` of ``results/lacbed/<family>/<id>.tif`` metadata, grouped by backend and device
  ``info_device``; else ``sim_seconds`` of ``dataset/manifest.csv``), at the dataset's image side;
* the builtin simulator on a GPU from ``results/benchmarks/simulator.json`` (benchmarks/simulator.py
  run with ``--device cuda``: keys ``<case>_builtin_s``), only when that file names a CUDA device;
* Felix: only when a folder of Felix reference runs is given (``felix_reference``; each
  ``<case>/README.md`` says "Wall time: X s"), labelled with their case (size, beams); nothing
  outside ``results/`` is read by default;
* the surrogate from ``results/benchmarks/surrogate.json`` (benchmarks/surrogate.py): the fastest
  batch-1 latency and the best batched time per image.

Every bar is annotated with its time and its speed-up over the first (reference) bar, the dataset's
simulator time. Case sizes differ (they are in the labels): per-pattern times are compared as
measured, not rescaled.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
from matplotlib.figure import Figure

from .common import new_figure, not_available, read_json_tolerant

_WALL_TIME = re.compile(r"Wall time:\**\s*([\d.]+)\s*s")
_TITLE = re.compile(r"^#\s*Felix reference case:\s*(.+)$", re.MULTILINE)
_GPU_WORDS = ("cuda", "nvidia", "gpu", "tesla", "h100", "h200", "a100", "rtx")
CATEGORY_COLOURS = {"builtin": "#1f77b4", "builtin_gpu": "#17becf", "felix": "#7f7f7f", "surrogate": "#2ca02c"}


@dataclass(frozen=True)
class SpeedEntry:
    """One bar: a label, the time per pattern [s], its category (colour) and where it came from."""

    label: str
    seconds: float
    category: str
    source: str


def _tiff_description(path: Path) -> dict[str, Any]:
    """The JSON metadata of a TIFF without reading its pixels ({} if unreadable)."""
    import json

    try:
        with tifffile.TiffFile(path) as tif:
            text = tif.pages[0].description
        value = json.loads(text) if text else {}
    except Exception:  # noqa: BLE001 - a broken file only drops one timing
        return {}
    return value if isinstance(value, dict) else {}


def dataset_simulator_times(results: str | os.PathLike[str]) -> list[SpeedEntry]:
    """Median simulator wall time per pattern of the dataset's samples, per backend and device."""
    root = Path(results)
    manifest_path = root / "dataset" / "manifest.csv"
    if not manifest_path.is_file():
        return []
    manifest = pd.read_csv(manifest_path, dtype={"sample_id": str})
    side = _dataset_side(root)
    groups: dict[tuple[str, str], list[float]] = {}
    if {"family", "sample_id"} <= set(manifest.columns):
        for family, sid in zip(manifest["family"], manifest["sample_id"], strict=True):
            meta = _tiff_description(root / "lacbed" / str(family) / f"{sid}.tif")
            seconds = meta.get("seconds")
            if isinstance(seconds, (int, float)) and seconds > 0:
                device = str(meta.get("info_device") or "device not recorded")
                groups.setdefault((str(meta.get("backend") or "unknown"), device), []).append(float(seconds))
    source = "per-sample TIFF metadata"
    if not groups and "sim_seconds" in manifest:
        source = "dataset/manifest.csv sim_seconds"
        backends = manifest["backend"].fillna("unknown").astype(str) if "backend" in manifest else pd.Series(["unknown"] * len(manifest))
        for backend, seconds in zip(backends, pd.to_numeric(manifest["sim_seconds"], errors="coerce"), strict=True):
            if np.isfinite(seconds) and seconds > 0:
                groups.setdefault((backend, "device not recorded"), []).append(float(seconds))
    entries = []
    for (backend, device), values in sorted(groups.items()):
        gpu = _is_gpu(device)
        name = "builtin Bloch wave" if backend == "builtin" else f"{backend}"
        label = f"{name}, {device} (this dataset, {side}² px; median of {len(values)})"
        category = "builtin_gpu" if (backend == "builtin" and gpu) else ("felix" if backend == "felix" else "builtin")
        entries.append(SpeedEntry(label, statistics.median(values), category, source))
    return entries


def _dataset_side(root: Path) -> str:
    info = read_json_tolerant(root / "dataset" / "dataset.json") or {}
    return str(info.get("side", "?"))


def _is_gpu(text: Any) -> bool:
    lowered = str(text).lower()
    return any(word in lowered for word in _GPU_WORDS)


def gpu_simulator_times(results: str | os.PathLike[str]) -> list[SpeedEntry]:
    """Builtin simulator times from ``benchmarks/simulator.json`` when it was measured on a GPU."""
    path = Path(results) / "benchmarks" / "simulator.json"
    bench = read_json_tolerant(path)
    if not bench:
        return []
    device = bench.get("device_type") or bench.get("device")
    if not _is_gpu(device):
        return []
    entries = []
    for key, value in sorted(bench.items()):
        if key.endswith("_builtin_s") and isinstance(value, (int, float)) and value > 0:
            case = key[: -len("_builtin_s")]
            entries.append(SpeedEntry(f"builtin Bloch wave, {bench.get('device')} ({case})", float(value), "builtin_gpu", str(path)))
    return entries


def felix_reference_times(reference: str | os.PathLike[str] | None = None) -> list[SpeedEntry]:
    """Felix wall times of the reference runs in ``reference`` ("Wall time: X s" in each case
    README); none when no folder is given."""
    entries: list[SpeedEntry] = []
    if reference is None:
        return entries
    root = Path(reference)
    if not root.is_dir():
        return entries
    for readme in sorted(root.glob("*/README.md")):
        text = readme.read_text(errors="replace")
        match = _WALL_TIME.search(text)
        if not match:
            continue
        title = _TITLE.search(text)
        case = title.group(1).strip() if title else readme.parent.name
        entries.append(SpeedEntry(f"Felix (Fortran, 1 rank, 2 cores): {case}", float(match.group(1)), "felix", str(readme)))
    return entries


def surrogate_times(results: str | os.PathLike[str]) -> list[SpeedEntry]:
    """Batch-1 latency (fastest variant) and batched time per image from ``benchmarks/surrogate.json``."""
    path = Path(results) / "benchmarks" / "surrogate.json"
    bench = read_json_tolerant(path)
    if not bench:
        return []
    device = bench.get("device", "device not recorded")
    side = bench.get("side", "?")
    entries = []
    latency = bench.get("latency_ms") if isinstance(bench.get("latency_ms"), Mapping) else {}
    numeric = {k: float(v) for k, v in latency.items() if isinstance(v, (int, float)) and v > 0}
    if numeric:
        name, ms = min(numeric.items(), key=lambda kv: kv[1])
        entries.append(SpeedEntry(f"surrogate U-Net, batch 1 ({name}), {device}, {side}² px", ms / 1e3, "surrogate", str(path)))
    batched = bench.get("best_batched_ms_per_image")
    if not isinstance(batched, (int, float)):
        throughput = bench.get("throughput_images_per_s") if isinstance(bench.get("throughput_images_per_s"), Mapping) else {}
        rates = [float(v) for d in throughput.values() if isinstance(d, Mapping) for v in d.values() if isinstance(v, (int, float)) and v > 0]
        batched = 1e3 / max(rates) if rates else None
    if isinstance(batched, (int, float)) and batched > 0:
        entries.append(SpeedEntry(f"surrogate U-Net, batched, per image, {device}, {side}² px", float(batched) / 1e3, "surrogate", str(path)))
    return entries


def speed_entries(results: str | os.PathLike[str], config: Mapping[str, Any] | None = None, *,
                  felix_reference: str | os.PathLike[str] | None = None) -> list[SpeedEntry]:
    """Every available bar, the dataset's simulator first (the reference of the speed-ups)."""
    return [*dataset_simulator_times(results), *gpu_simulator_times(results), *felix_reference_times(felix_reference),
            *surrogate_times(results)]


def format_seconds(seconds: float) -> str:
    """``68.4 s``, ``412 ms``, ``35 µs``."""
    if seconds >= 1.0:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def plot_speed(results: str | os.PathLike[str], config: Mapping[str, Any] | None = None, *,
               felix_reference: str | os.PathLike[str] | None = None) -> Figure:
    """Figure (d) as a matplotlib Figure."""
    entries = speed_entries(results, config, felix_reference=felix_reference)
    fig = new_figure(11.0, 1.2 + 0.45 * max(len(entries), 3))
    ax = fig.subplots()
    if not entries:
        not_available(ax, "no simulator timings (dataset manifest / TIFF metadata), no Felix references and no "
                          "benchmarks/surrogate.json")
        fig.suptitle("Time per pattern", fontsize=11)
        return fig
    y = np.arange(len(entries))[::-1]
    seconds = np.array([e.seconds for e in entries])
    ax.barh(y, seconds, color=[CATEGORY_COLOURS.get(e.category, "0.5") for e in entries], height=0.6)
    ax.set_xscale("log")
    ax.set_yticks(y, [e.label for e in entries], fontsize=8)
    ax.set_xlabel("wall time per pattern [s] (log scale)")
    reference = entries[0]
    ax.set_xlim(seconds.min() / 5.0, seconds.max() * 200.0)
    for yi, entry in zip(y, entries, strict=True):
        ratio = reference.seconds / entry.seconds
        if entry is reference:
            text = f"{format_seconds(entry.seconds)}  (reference)"
        elif ratio >= 1.0:
            text = f"{format_seconds(entry.seconds)}  ({ratio:,.3g}× faster)"
        else:
            text = f"{format_seconds(entry.seconds)}  ({1.0 / ratio:,.3g}× slower)"
        ax.text(entry.seconds * 1.15, yi, text, va="center", fontsize=8, gid=f"speed:{entry.category}")
    ax.grid(True, axis="x", which="major", alpha=0.3)
    missing = []
    if not any(e.category == "surrogate" for e in entries):
        missing.append("surrogate: not available (no benchmarks/surrogate.json)")
    if not any(e.category == "felix" for e in entries):
        missing.append("Felix: not available (no reference wall times)")
    if not any(e.category == "builtin_gpu" for e in entries):
        missing.append("builtin on GPU: not measured here")
    if missing:
        ax.text(0.99, 0.02, "\n".join(missing), transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
    fig.suptitle(f"Time per LACBED pattern; speed-ups relative to: {reference.label}", fontsize=9)
    return fig
