"""One interface to both backends: crystal + settings → LacbedResult → TIFF (DESIGN §4)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..crystal.cif import read_cif
from ..crystal.model import Crystal
from ..errors import ConfigError
from .output import write_lacbed_tiff
from .result import LacbedResult
from .settings import FelixSettings


def settings_from_config(config: dict[str, Any]) -> FelixSettings:
    """FelixSettings from a validated config's ``simulation`` section."""
    return FelixSettings.from_config(config["simulation"])


def simulate(
    crystal: Crystal,
    settings: FelixSettings,
    *,
    backend: str = "builtin",
    device: str | None = None,
    pixel_chunk: int = 1024,
    felix_cfg: dict[str, Any] | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    hkl: tuple[tuple[int, int, int], ...] = ((0, 0, 0),),
) -> LacbedResult:
    """Simulate with the chosen backend (``builtin`` or ``felix``)."""
    if backend == "builtin":
        from .bloch import simulate_builtin

        return simulate_builtin(crystal, settings, hkl=hkl, device=device, pixel_chunk=pixel_chunk)
    if backend == "felix":
        from .felix import simulate_felix

        if work_dir is None:
            with tempfile.TemporaryDirectory(prefix="felix-") as tmp:
                return simulate_felix(crystal, settings, felix_cfg, work_dir=tmp, hkl=hkl)
        return simulate_felix(crystal, settings, felix_cfg, work_dir=work_dir, hkl=hkl)
    raise ConfigError(f"expected 'builtin' or 'felix', got {backend!r}", field="simulation.backend")


def run_simulation(
    cif_path: str | os.PathLike[str],
    config: dict[str, Any],
    out_path: str | os.PathLike[str],
    *,
    backend: str | None = None,
    device: str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Simulate the (000) disc of one CIF with the config's settings and write the sample TIFF.

    The image is the thickness ``simulation.thickness_index`` of the series (float32, raw
    intensities, Felix's orientation); its metadata records backend, thickness, seconds, device.
    Nothing is written if the simulation fails.
    """
    sim = config["simulation"]
    crystal = read_cif(cif_path)
    settings = settings_from_config(config)
    index = int(sim.get("thickness_index", 0))
    if index >= len(settings.thicknesses):
        raise ConfigError(
            f"value {index} is outside the thickness series of {len(settings.thicknesses)} thicknesses",
            field="simulation.thickness_index",
        )
    result = simulate(
        crystal,
        settings,
        backend=backend or sim.get("backend", "builtin"),
        device=device or sim.get("device", "auto"),
        pixel_chunk=int(sim.get("pixel_chunk", 1024)),
        felix_cfg=sim.get("felix"),
        work_dir=work_dir,
    )
    sample_id = Path(cif_path).stem
    return write_lacbed_tiff(out_path, result, sample_id=sample_id, thickness_index=index)
