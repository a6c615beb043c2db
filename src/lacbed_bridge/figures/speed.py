"""Figure (d): time per pattern, log scale — simulators against the surrogate, each compared only
within its own case.

Bars (each only when a measured figure exists; nothing is estimated here):

* the builtin Bloch-wave simulator as used for the dataset: the median of the per-sample wall times
  (``seconds`` of ``results/lacbed/<family>/<id>.tif`` metadata, grouped by backend and device
  ``info_device``; else ``sim_seconds`` of ``dataset/manifest.csv``), at the dataset's image side;
* the surrogate from ``results/benchmarks/surrogate.json`` (benchmarks/surrogate.py): the fastest
  batch-1 latency and the best batched time per image, at its image side;
* the builtin simulator on Felix's reference cases from ``results/benchmarks/simulator.json``
  (benchmarks/simulator.py, the workflow's ``benchmark_simulator`` rule: keys ``<case>_builtin_s``,
  in-process on its device), and beside it Felix and our drop-in, both whole processes on one
  thread (``<case>_felix_s``, ``<case>_dropin_s``), each labelled with where its time comes from
  (``<case>_felix_source``: timed live, or recorded on a given date and machine);
* Felix from a folder of Felix reference runs, when one is given (``felix_reference``; each
  ``<case>/README.md`` says "Wall time: X s") for cases the benchmark did not time; nothing
  outside ``results/`` is read by default.

Every bar carries its case: the dataset's crystals at the dataset's side, or one Felix reference
case (its crystal, pixels and beams). Speed-ups are printed only between bars of the same case,
against the first bar of that case (the dataset's simulator; the builtin simulator on a reference
case): a 32² demo disc is never compared with a 128² Felix run.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
from matplotlib.figure import Figure

from ..layout import layout
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
    case: str = ""


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
    results_layout = layout(results)
    manifest_path = Path(results_layout.dataset_file("manifest.csv"))
    if not manifest_path.is_file():
        return []
    manifest = pd.read_csv(manifest_path, dtype={"sample_id": str})
    side = _dataset_side(results)
    groups: dict[tuple[str, str], list[float]] = {}
    if {"family", "sample_id"} <= set(manifest.columns):
        for family, sid in zip(manifest["family"], manifest["sample_id"], strict=True):
            meta = _tiff_description(results_layout.sample_image("lacbed", str(family), str(sid)))
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
        entries.append(SpeedEntry(label, statistics.median(values), category, source, dataset_case(side)))
    return entries


def dataset_case(side: Any) -> str:
    """The case name of the dataset's own patterns (simulator and surrogate at that side)."""
    return f"this dataset, {side}² px"


def _dataset_side(results: str | os.PathLike[str]) -> str:
    info = read_json_tolerant(layout(results).dataset_file("dataset.json")) or {}
    return str(info.get("side", "?"))


def _is_gpu(text: Any) -> bool:
    lowered = str(text).lower()
    return any(word in lowered for word in _GPU_WORDS)


def reference_case_simulator_times(results: str | os.PathLike[str]) -> list[SpeedEntry]:
    """Builtin simulator times on Felix's reference cases from ``benchmarks/simulator.json``
    (``<case>_builtin_s``; the device it ran on)."""
    path = layout(results).benchmark("simulator")
    bench = read_json_tolerant(path)
    if not bench:
        return []
    device = bench.get("device") or bench.get("device_type") or "device not recorded"
    category = "builtin_gpu" if _is_gpu(bench.get("device_type") or device) else "builtin"
    entries = []
    for key, value in sorted(bench.items()):
        if key.endswith("_builtin_s") and isinstance(value, (int, float)) and value > 0:
            case = key[: -len("_builtin_s")]
            grid = bench.get(f"{case}_builtin_scaled_from")
            scaled = f", scaled from a {grid}² grid" if grid else ""
            entries.append(SpeedEntry(f"builtin Bloch wave, in-process, {device}{scaled}: {case}", float(value), category, str(path),
                                      case))
    return entries


def benchmark_felix_times(results: str | os.PathLike[str]) -> list[SpeedEntry]:
    """Felix and our drop-in on Felix's reference cases from ``benchmarks/simulator.json``
    (``<case>_felix_s``, ``<case>_dropin_s``: whole processes, one thread, alternating), labelled
    with ``<case>_felix_source`` ("live, <machine>" or "recorded <date>, <machine>")."""
    path = layout(results).benchmark("simulator")
    bench = read_json_tolerant(path)
    entries: list[SpeedEntry] = []
    for key, value in sorted((bench or {}).items()):
        if not (key.endswith("_felix_s") and isinstance(value, (int, float)) and value > 0):
            continue
        case = key[: -len("_felix_s")]
        source = str(bench.get(f"{case}_felix_source", "source not recorded"))
        dropin = bench.get(f"{case}_dropin_s")
        if isinstance(dropin, (int, float)) and dropin > 0:
            entries.append(SpeedEntry(f"builtin drop-in, whole process, 1 thread ({source}): {case}", float(dropin), "builtin",
                                      str(path), case))
        entries.append(SpeedEntry(f"Felix (Fortran), whole process, 1 thread ({source}): {case}", float(value), "felix",
                                  str(path), case))
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
        entries.append(SpeedEntry(f"Felix (Fortran, 1 rank, 2 cores): {case}", float(match.group(1)), "felix", str(readme),
                                  readme.parent.name))
    return entries


def surrogate_times(results: str | os.PathLike[str]) -> list[SpeedEntry]:
    """Batch-1 latency (fastest variant) and batched time per image from ``benchmarks/surrogate.json``."""
    path = layout(results).benchmark("surrogate")
    bench = read_json_tolerant(path)
    if not bench:
        return []
    device = bench.get("device", "device not recorded")
    side = bench.get("side", "?")
    case = dataset_case(side)
    entries = []
    latency = bench.get("latency_ms") if isinstance(bench.get("latency_ms"), Mapping) else {}
    numeric = {k: float(v) for k, v in latency.items() if isinstance(v, (int, float)) and v > 0}
    if numeric:
        name, ms = min(numeric.items(), key=lambda kv: kv[1])
        entries.append(SpeedEntry(f"surrogate U-Net, batch 1 ({name}), {device}, {side}² px", ms / 1e3, "surrogate", str(path), case))
    batched = bench.get("best_batched_ms_per_image")
    if not isinstance(batched, (int, float)):
        throughput = bench.get("throughput_images_per_s") if isinstance(bench.get("throughput_images_per_s"), Mapping) else {}
        rates = [float(v) for d in throughput.values() if isinstance(d, Mapping) for v in d.values() if isinstance(v, (int, float)) and v > 0]
        batched = 1e3 / max(rates) if rates else None
    if isinstance(batched, (int, float)) and batched > 0:
        entries.append(SpeedEntry(f"surrogate U-Net, batched, per image, {device}, {side}² px", float(batched) / 1e3, "surrogate", str(path),
                                  case))
    return entries


def speed_entries(results: str | os.PathLike[str], config: Mapping[str, Any] | None = None, *,
                  felix_reference: str | os.PathLike[str] | None = None) -> list[SpeedEntry]:
    """Every available bar, grouped by case: the dataset's simulator and the surrogate, then each
    reference case's builtin time and Felix time. The first bar of a case is its reference."""
    timed = benchmark_felix_times(results)
    cases = {e.case for e in timed}
    entries = [*dataset_simulator_times(results), *surrogate_times(results), *reference_case_simulator_times(results), *timed,
               *(e for e in felix_reference_times(felix_reference) if e.case not in cases)]
    order = list(dict.fromkeys(e.case for e in entries))
    return sorted(entries, key=lambda e: order.index(e.case))  # stable: order within a case kept


def speed_notes(entries: list[SpeedEntry]) -> list[str]:
    """Per bar its time and, against the first bar of the same case, how much faster or slower;
    a bar alone in its case gets no ratio (different cases are not compared)."""
    notes = []
    first: dict[str, SpeedEntry] = {}
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.case] = counts.get(entry.case, 0) + 1
    for entry in entries:
        reference = first.setdefault(entry.case, entry)
        text = format_seconds(entry.seconds)
        if counts[entry.case] == 1:
            notes.append(f"{text}  (no other timing of this case)")
        elif entry is reference:
            notes.append(f"{text}  (reference of its case)")
        else:
            ratio = reference.seconds / entry.seconds
            notes.append(f"{text}  ({ratio:,.3g}× faster)" if ratio >= 1.0 else f"{text}  ({1.0 / ratio:,.3g}× slower)")
    return notes


def format_seconds(seconds: float) -> str:
    """``68.4 s``, ``412 ms``, ``35 µs``."""
    if seconds >= 1.0:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


#: characters per line of a bar's label (longer labels wrap, leaving the axes room for the notes)
LABEL_WIDTH = 64


def fit_notes(fig: Figure, ax: Any, notes: list[Any]) -> None:
    """Widen the log x axis to the right until every note (text at its bar's end) ends inside the
    axes: a note w px wide starting at log x₀ fits when the axis spans at least
    W·(log x₀ − log x_lo)/(W − w) decades, W the axes' width [px]. Twice, as the layout settles."""
    for _ in range(2):
        fig.draw_without_rendering()
        box = ax.get_window_extent()
        lo, hi = (math.log10(v) for v in ax.get_xlim())
        span = hi - lo
        for note in notes:
            width = note.get_window_extent().width
            if width < 0.9 * box.width:
                span = max(span, box.width * (math.log10(note.get_position()[0]) - lo) / (box.width - width))
        if span <= (hi - lo) * 1.001:
            return
        ax.set_xlim(10.0**lo, 10.0 ** (lo + 1.02 * span))


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
    ax.set_yticks(y, [textwrap.fill(e.label, LABEL_WIDTH) for e in entries], fontsize=8)
    ax.set_xlabel("wall time per pattern [s] (log scale)")
    ax.set_xlim(seconds.min() / 5.0, seconds.max() * 200.0)
    notes = [ax.text(entry.seconds * 1.15, yi, note, va="center", fontsize=8, gid=f"speed:{entry.category}")
             for yi, entry, note in zip(y, entries, speed_notes(entries), strict=True)]
    fit_notes(fig, ax, notes)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    missing = []
    if not any(e.category == "surrogate" for e in entries):
        missing.append("surrogate: not available (no benchmarks/surrogate.json)")
    if not any(e.category == "felix" for e in entries):
        missing.append("Felix: not available (no benchmarks/simulator.json with Felix times, no reference wall times)")
    if not any(e.category == "builtin_gpu" for e in entries):
        missing.append("builtin on GPU: not measured here")
    if not any(e.case != entries[0].case and e.category.startswith("builtin") for e in entries) and \
            any(e.category == "felix" for e in entries):
        missing.append("builtin on Felix's cases: no benchmarks/simulator.json (benchmarks/simulator.py)")
    if missing:
        ax.text(0.99, 0.02, "\n".join(missing), transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
    fig.suptitle("Time per LACBED pattern; speed-ups only within the same case (crystal, pixels, beams)", fontsize=9)
    return fig
