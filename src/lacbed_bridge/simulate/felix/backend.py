"""The Felix backend (docs/architecture.md §4): write a run folder, run the real Felix program, read its discs.

Public functions:

- :func:`write_run_folder` — ``felix.inp``, ``felix.cif``, ``felix.hkl`` for a crystal + settings;
- :func:`read_felix_output` — the discs of one reflection for every thickness of the series,
  checked (present, right size, finite, non-negative);
- :func:`simulate_felix` — the backend entry point with the common interface (returns a
  :class:`~lacbed_bridge.simulate.result.LacbedResult`);
- :func:`run_felix_dir` — the drop-in: run Felix in an existing folder of Felix inputs, leaving
  what Felix run by hand leaves (plus ``felix.log``), and parse every disc of ``felix.hkl``.

Running itself (command, timeout, retries, log) is :mod:`.felix_run`; the CIF is :mod:`.felix_cif`;
the output names and raw format are :mod:`.felix_files`. Every failure is a
:class:`~lacbed_bridge.errors.SimulationError` naming the sample; a failed run leaves no Felix
output folder behind (so nothing half-done is taken as a result), only the inputs and the log.

Felix's values are intensities per unit incident beam; with absorption about 6 % of (000) pixels
exceed 1 (max ≈ 1.2, docs/felix_physics.md §9.2). They are returned as they are, never clipped.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import gemmi
import numpy as np

from ...crystal.model import Crystal
from ...errors import InputError, SimulationError
from ...io import write_text_atomic
from .cif import felix_cif_text, felix_formula_text
from .files import disc_file_name, felix_formula, output_folder_name, read_disc_bin
from .runner import LOG_NAME, FelixRun, felix_config, run_felix
from ..result import LacbedResult
from ..settings import LacbedSettings
from .inp import format_felix_hkl, format_felix_inp, parse_felix_inp, read_felix_hkl

Hkl = tuple[int, int, int]
ORIGIN: Hkl = (0, 0, 0)
INPUT_FILES = ("felix.inp", "felix.cif", "felix.hkl")

__all__ = [
    "FelixRun",
    "check_felix_settings",
    "read_felix_output",
    "run_felix",
    "run_felix_dir",
    "simulate_felix",
    "write_run_folder",
]


# ----- inputs ---------------------------------------------------------------------------
def check_felix_settings(settings: LacbedSettings, *, path: str | os.PathLike[str] | None = None) -> LacbedSettings:
    """Check settings for a Felix simulation run whose output this module can read.

    Beyond :meth:`LacbedSettings.validate`: simulation mode (``IRefineModeFLAG = S``; refinement
    writes other folder names), 8-byte output (``IByteSize = 8``), and thicknesses that give
    distinct output folders (Felix names them by the thickness rounded to whole Å).
    """
    settings.validate(path=path)
    if settings.refine_mode_flag.strip() != "S":
        raise InputError(f"expected S (simulation only), got {settings.refine_mode_flag!r}", path=path, field="IRefineModeFLAG")
    if settings.byte_size != 8:
        raise InputError(f"expected 8 (float64 output), got {settings.byte_size}", path=path, field="IByteSize")
    names = [output_folder_name("x", t, settings.side) for t in settings.thicknesses]
    if len(set(names)) != len(names):
        raise InputError(
            f"thickness step {settings.delta_thickness} Å gives thicknesses that round to the same whole Å; "
            "Felix names its output folders by whole Å and would overwrite them",
            path=path,
            field="RDeltaThickness",
        )
    return settings


def _hkl_list(hkl: Iterable[Sequence[int]]) -> list[Hkl]:
    out: list[Hkl] = []
    for item in hkl:
        vec = tuple(int(v) for v in item)
        if len(vec) != 3:
            raise InputError(f"expected reflections as three integers (h, k, l), got {item!r}", field="hkl")
        if vec not in out:
            out.append(vec)  # type: ignore[arg-type]
    if not out:
        raise InputError("expected at least one reflection", field="hkl")
    return out


def write_run_folder(
    crystal: Crystal,
    settings: LacbedSettings,
    run_dir: str | os.PathLike[str],
    hkl: Iterable[Sequence[int]] = (ORIGIN,),
) -> Path:
    """Write ``felix.inp``, ``felix.cif`` and ``felix.hkl`` into ``run_dir`` (created if needed).

    All three texts are built first (so a crystal Felix cannot represent fails before anything is
    written), then each file is written atomically. ``felix.hkl`` is always written: Felix stops
    without it. Returns ``run_dir``.
    """
    run_dir = Path(run_dir)
    check_felix_settings(settings)
    texts = {
        "felix.inp": format_felix_inp(settings),
        "felix.cif": felix_cif_text(crystal),
        "felix.hkl": format_felix_hkl(_hkl_list(hkl)),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    for file_name, text in texts.items():
        write_text_atomic(run_dir / file_name, text)
    return run_dir


def formula_from_felix_cif(path: str | os.PathLike[str]) -> str:
    """The formula text Felix takes from a felix.cif (structural, else IUPAC, else sum; first block)."""
    p = Path(path)
    try:
        doc = gemmi.cif.read(str(p))
    except FileNotFoundError:
        raise InputError("file not found (expected Felix's felix.cif)", path=p) from None
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"not a readable CIF ({exc})", path=p) from None
    if len(doc) == 0:
        raise InputError("no data_ block", path=p)
    block = doc[0]
    for tag in ("_chemical_formula_structural", "_chemical_formula_iupac", "_chemical_formula_sum"):
        value = block.find_value(tag)
        if value is not None and gemmi.cif.as_string(value).strip() not in ("", "?", "."):
            return gemmi.cif.as_string(value)[:32]  # Felix reads it into CHARACTER(32)
    raise InputError("chemical formula missing (Felix needs it to name its output)", path=p, field="_chemical_formula_structural")


# ----- outputs --------------------------------------------------------------------------
def _output_folders(run_dir: Path, formula: str, settings: LacbedSettings) -> list[Path]:
    return [run_dir / output_folder_name(formula, t, settings.side) for t in settings.thicknesses]


def remove_felix_outputs(run_dir: str | os.PathLike[str], formula: str, settings: LacbedSettings) -> None:
    """Delete the output folders Felix writes for these settings (stale or partial results)."""
    for folder in _output_folders(Path(run_dir), formula, settings):
        if folder.is_dir():
            shutil.rmtree(folder)


def read_felix_output(
    run_dir: str | os.PathLike[str],
    formula: str,
    settings: LacbedSettings,
    hkl: Sequence[int] = ORIGIN,
    *,
    name: str | None = None,
) -> dict[float, np.ndarray]:
    """Felix's disc of reflection ``hkl`` for every thickness of ``settings.thicknesses``.

    Reads ``<formula>_Sim_<tttt>A_<2N>x<2N>/<formula>_+h+k+l.bin`` (raw little-endian float64,
    2N × 2N, row-major; row ↔ k_y, column ↔ k_x). Returns {thickness [Å]: float64 image}.

    Raises :class:`SimulationError` naming the sample (``name``, default the formula) when an
    output folder or file is missing, a file has the wrong size, or values are NaN/inf or negative
    (an intensity |ψ_g|² cannot be). Values above 1 are normal Felix output and pass.
    """
    run_dir = Path(run_dir)
    label = name or felix_formula(formula)
    hkl_t = tuple(int(v) for v in hkl)
    side = settings.side
    out: dict[float, np.ndarray] = {}
    for thickness, folder in zip(settings.thicknesses, _output_folders(run_dir, formula, settings)):
        if not folder.is_dir():
            raise SimulationError(f"{label}: Felix output folder missing for thickness {thickness:g} Å: {folder}")
        path = folder / disc_file_name(formula, hkl_t)  # type: ignore[arg-type]
        if not path.is_file():
            raise SimulationError(f"{label}: Felix output file missing for reflection {list(hkl_t)} at {thickness:g} Å: {path}")
        try:
            image = read_disc_bin(path, side)
        except InputError as exc:
            raise SimulationError(f"{label}: Felix output of the wrong size (IPixelCount = {settings.pixel_count}): {exc}") from None
        bad = ~np.isfinite(image)
        if bad.any():
            raise SimulationError(f"{label}: Felix output has {int(bad.sum())} NaN/inf pixel(s): {path}")
        if (image < 0).any():
            raise SimulationError(
                f"{label}: Felix output has {int((image < 0).sum())} negative pixel(s) (min {image.min():.3g}); "
                f"an intensity cannot be negative: {path}"
            )
        out[float(thickness)] = image
    return out


def _read_discs(
    run_dir: Path, formula: str, settings: LacbedSettings, reflections: list[Hkl], name: str
) -> tuple[dict[Hkl, np.ndarray], list[Hkl]]:
    """Read every requested reflection; (000) must be there when requested, others may be absent
    (Felix writes only reflections of its beam pool). Returns (discs, missing reflections)."""
    discs: dict[Hkl, np.ndarray] = {}
    missing: list[Hkl] = []
    for refl in reflections:
        files = [folder / disc_file_name(formula, refl) for folder in _output_folders(run_dir, formula, settings)]
        folders_there = all(f.parent.is_dir() for f in files)
        if refl != ORIGIN and folders_there and not any(f.is_file() for f in files):
            missing.append(refl)
            continue
        by_thickness = read_felix_output(run_dir, formula, settings, refl, name=name)
        discs[refl] = np.stack([by_thickness[float(t)] for t in settings.thicknesses])
    if not discs:
        raise SimulationError(f"{name}: Felix wrote none of the requested reflections {[list(r) for r in reflections]} in {run_dir}")
    if missing:
        message = f"{name}: Felix wrote no disc for {[list(r) for r in missing]} (not in its beam pool)"
        warnings.warn(message, stacklevel=3)
    return discs, missing


def _run_and_read(
    run_dir: Path, formula: str, settings: LacbedSettings, reflections: list[Hkl], felix_cfg: dict[str, Any] | None, name: str
) -> tuple[FelixRun, dict[Hkl, np.ndarray], list[Hkl]]:
    """Clear stale outputs, run Felix, read the discs; on any failure remove partial outputs."""
    remove_felix_outputs(run_dir, formula, settings)
    try:
        run = run_felix(run_dir, felix_cfg, name=name)
        discs, missing = _read_discs(run_dir, formula, settings, reflections, name)
    except BaseException:
        remove_felix_outputs(run_dir, formula, settings)
        raise
    return run, discs, missing


def _result(
    settings: LacbedSettings, discs: dict[Hkl, np.ndarray], run: FelixRun, seconds: float, missing: list[Hkl], extra: dict[str, Any]
) -> LacbedResult:
    info = run.info()
    info.update(extra)
    if missing:
        info["felix_missing_hkl"] = [list(r) for r in missing]
    return LacbedResult(discs=discs, thicknesses=list(settings.thicknesses), settings=settings, backend="felix", seconds=seconds, info=info)


# ----- entry points ---------------------------------------------------------------------
def simulate_felix(
    crystal: Crystal,
    settings: LacbedSettings,
    felix_cfg: dict[str, Any] | None,
    *,
    work_dir: str | os.PathLike[str],
    hkl: Iterable[Sequence[int]] = (ORIGIN,),
    name: str | None = None,
) -> LacbedResult:
    """Simulate the LACBED discs of ``crystal`` with the real Felix program.

    Parameters
    ----------
    crystal: the structure (neutral atoms only: P_v at the neutral valence, κ = 1).
    settings: felix.inp settings (simulation mode).
    felix_cfg: config ``simulation.felix`` (command, executable, timeout_s, retries,
        patched_mpi, keep_run_dir, env).
    work_dir: folder for the run folder ``<work_dir>/<name>/``.
    hkl: reflections to output; (000) is always included.
    name: sample name (default ``crystal.name``).

    Returns a :class:`LacbedResult` (backend ``felix``; ``seconds`` = wall time of writing,
    running and reading [s]; ``info`` holds Felix's version, command, ranks, own times). With
    ``keep_run_dir: false`` the run folder is deleted after success and its log kept as
    ``<work_dir>/<name>.felix.log``; after a failure the folder stays (inputs + ``felix.log``,
    no output folders) for diagnosis.
    """
    start = time.perf_counter()
    cfg = felix_config(felix_cfg)
    name = name or crystal.name
    if not name or name in (".", "..") or "/" in name or (os.altsep and os.altsep in name):
        raise InputError(f"expected a sample name usable as a folder name, got {name!r}", field="name")
    reflections = _hkl_list([ORIGIN, *hkl])
    run_dir = Path(work_dir) / name
    if run_dir.exists():
        if not (run_dir / "felix.inp").is_file():
            raise SimulationError(f"{name}: {run_dir} exists and is not a Felix run folder; refusing to overwrite it")
        shutil.rmtree(run_dir)
    write_run_folder(crystal, settings, run_dir, reflections)
    formula = felix_formula_text(crystal)
    run, discs, missing = _run_and_read(run_dir, formula, settings, reflections, cfg, name)
    extra: dict[str, Any] = {"felix_formula": felix_formula(formula)}
    if cfg["keep_run_dir"]:
        extra["felix_run_dir"] = str(run_dir)
    else:
        kept_log = Path(work_dir) / f"{name}.felix.log"
        os.replace(run_dir / LOG_NAME, kept_log)
        shutil.rmtree(run_dir)
        extra["felix_log"] = str(kept_log)
    return _result(settings, discs, run, time.perf_counter() - start, missing, extra)


def run_felix_dir(run_dir: str | os.PathLike[str], felix_cfg: dict[str, Any] | None) -> LacbedResult:
    """Drop-in for running Felix by hand: run it in ``run_dir`` (holding felix.inp, felix.cif,
    felix.hkl) and parse every disc of ``felix.hkl`` that Felix wrote.

    Leaves what Felix leaves (its ``<formula>_Sim_…`` folders) plus ``felix.log``. The sample name
    in messages is the folder name. Raises :class:`InputError` for missing/invalid inputs and
    :class:`SimulationError` for a failed run or unusable output (then no output folder is left).
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    for file_name in INPUT_FILES:
        if not (run_dir / file_name).is_file():
            raise InputError(f"missing {file_name} (Felix needs felix.inp, felix.cif and felix.hkl)", path=run_dir / file_name)
    settings = check_felix_settings(parse_felix_inp(run_dir / "felix.inp"), path=run_dir / "felix.inp")
    reflections = read_felix_hkl(run_dir / "felix.hkl")
    if not reflections:
        raise InputError("lists no reflection (expected lines like [0,0,0])", path=run_dir / "felix.hkl")
    formula = formula_from_felix_cif(run_dir / "felix.cif")
    name = run_dir.resolve().name
    run, discs, missing = _run_and_read(run_dir, formula, settings, _hkl_list(reflections), felix_cfg, name)
    extra = {"felix_formula": felix_formula(formula), "felix_run_dir": str(run_dir)}
    return _result(settings, discs, run, time.perf_counter() - start, missing, extra)
