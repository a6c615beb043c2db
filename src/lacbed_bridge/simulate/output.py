"""Writing simulation results: the common TIFF (docs/architecture.md §4, §6) and Felix's own output layout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..version import __version__
from ..io import write_text_atomic, write_tiff
from .felix.files import disc_file_name, output_folder_name, write_disc_bin
from .result import Hkl, LacbedResult


def lacbed_metadata(result: LacbedResult, *, sample_id: str, thickness_index: int | None, hkl: Hkl = (0, 0, 0)) -> dict[str, Any]:
    """JSON metadata of a LACBED TIFF: sample id, backend, thickness [Å], voltage [kV], seconds,
    package version, geometry and the backend's details."""
    s = result.settings
    meta: dict[str, Any] = {
        "sample_id": sample_id,
        "kind": "lacbed",
        "units": "intensity per unit incident beam",
        "hkl": list(hkl),
        "backend": result.backend,
        "thickness_A": None if thickness_index is None else result.thicknesses[thickness_index],
        "thicknesses_A": list(result.thicknesses),
        "voltage_kv": s.accelerating_voltage,
        "pixel_count": s.pixel_count,
        "side": s.side,
        "outer_convergence_angle": s.outer_convergence_angle,
        "incident_beam_direction": list(s.incident_beam_direction),
        "x_direction": list(s.x_direction),
        "normal_direction": list(s.normal_direction),
        "absorb_flag": s.absorb_flag,
        "min_reflection_pool": s.min_reflection_pool,
        "min_strong_beams": s.min_strong_beams,
        "seconds": result.seconds,
        "package_version": __version__,
    }
    meta.update({f"info_{k}": v for k, v in result.info.items() if isinstance(v, (int, float, str, list, bool)) or v is None})
    return meta


def write_lacbed_tiff(
    path: str | os.PathLike[str],
    result: LacbedResult,
    *,
    sample_id: str,
    thickness_index: int | None = 0,
    hkl: Hkl = (0, 0, 0),
) -> Path:
    """Write one disc as a float32 TIFF (side × side), or, with ``thickness_index=None``, the
    whole thickness series (n_t × side × side). Raw values, never clipped (Felix's exceed 1)."""
    stack = result.discs[tuple(hkl)]  # type: ignore[index]
    if thickness_index is not None and not 0 <= thickness_index < len(result.thicknesses):
        raise IndexError(f"thickness_index {thickness_index} outside the series of {len(result.thicknesses)}")
    image = stack if thickness_index is None else stack[thickness_index]
    write_tiff(path, image.astype(np.float32), lacbed_metadata(result, sample_id=sample_id, thickness_index=thickness_index, hkl=hkl))
    return Path(path)


def _fortran_e(value: float, width: int = 14, digits: int = 6) -> str:
    """Fortran ``Ew.d`` edit descriptor (0.ddddddE±xx)."""
    if value == 0.0:
        mantissa, exponent = 0.0, 0
    else:
        exponent = int(np.floor(np.log10(abs(value)))) + 1
        mantissa = value / 10.0**exponent
        if round(abs(mantissa), digits) >= 1.0:
            mantissa /= 10.0
            exponent += 1
    text = f"{mantissa:.{digits}f}"
    return f"{text}E{exponent:+03d}".rjust(width)


def structure_factors_text(result: LacbedResult) -> str:
    """Felix's StructureFactors.txt (write_output_mod.f90:397-405; format 3I5, 2(1X,F13.9),
    2(1X,E14.6)): h k l, g_x, g_y [1/Å, with 2π], Re and Im of Ũ(g, 000) [Å⁻²]. As in Felix the
    000 line holds only the absorptive part i·U'₀ (U(0) is never formed)."""
    if result.pool is None:
        raise ValueError("this result carries no reflection pool (builtin backend only)")
    column = result.pool.structure_factors
    lines = []
    for i, (h, g) in enumerate(zip(result.pool.hkl, result.pool.g_lab)):
        if i == 0:  # Felix never forms U(0); only the Bird–King U'₀ shows (as i·U'₀)
            u = 1j * column.u_abs[0] if result.settings.absorb_flag == 2 else 0j
        else:
            u = column.total[i]
        lines.append(
            f"{int(h[0]):5d}{int(h[1]):5d}{int(h[2]):5d} {g[0]:13.9f} {g[1]:13.9f} {_fortran_e(u.real)} {_fortran_e(u.imag)}"
        )
    return "\n".join(lines) + "\n"


def write_felix_layout(out_dir: str | os.PathLike[str], result: LacbedResult, formula: str) -> list[Path]:
    """Write the discs as Felix does: ``<formula>_Sim_<tttt>A_<2N>x<2N>/<formula>_+h+k+l.bin``
    (raw little-endian float64) per thickness, plus ``StructureFactors.txt`` when available.
    Returns the folders written."""
    folders = []
    sf_text = structure_factors_text(result) if result.pool is not None else None
    for it, thickness in enumerate(result.thicknesses):
        folder = Path(out_dir) / output_folder_name(formula, thickness, result.settings.side)
        folder.mkdir(parents=True, exist_ok=True)
        for hkl, stack in result.discs.items():
            write_disc_bin(folder / disc_file_name(formula, hkl), stack[it])
        if sf_text is not None:
            write_text_atomic(folder / "StructureFactors.txt", sf_text)
        folders.append(folder)
    return folders
