"""The EDD image and the simulator apply the same Debye–Waller rule (Felix's: B = 0 or > 10 Å²
→ RDebyeWallerConstant), so the two images of one sample describe the same atoms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from lacbed_bridge.crystal.cif import write_cif
from lacbed_bridge.crystal.model import Crystal, Site, effective_b_iso
from lacbed_bridge.config import validate_config
from lacbed_bridge.edd.images import write_edd
from lacbed_bridge.edd.settings import edd_settings
from lacbed_bridge.io import read_tiff

REPO = Path(__file__).resolve().parents[2]


def _rocksalt(u_mg: float) -> Crystal:
    return Crystal(
        "MgO", (4.212,) * 3 + (90.0,) * 3, "F m -3 m",
        (Site("Mg", "Mg", (0, 0, 0), 1.0, u_mg), Site("O", "O", (0.5, 0.5, 0.5), 1.0, 0.006)),
        formula="Mg O",
    )


def test_effective_b_rule() -> None:
    assert effective_b_iso(0.0, 0.5) == 0.5 and effective_b_iso(12.0, 0.5) == 0.5
    assert effective_b_iso(0.3, 0.5) == 0.3


def test_edd_uses_the_debye_waller_constant_like_the_simulator(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"]["debye_waller_constant"] = 0.5
    b = 0.5 / (8 * math.pi**2)
    write_cif(_rocksalt(0.0), tmp_path / "zero.cif")
    write_cif(_rocksalt(b), tmp_path / "explicit.cif")
    settings = edd_settings(validate_config(config))
    write_edd(tmp_path / "zero.cif", settings, tmp_path / "zero.tif")
    write_edd(tmp_path / "explicit.cif", settings, tmp_path / "explicit.tif")
    zero, _ = read_tiff(tmp_path / "zero.tif")
    explicit, _ = read_tiff(tmp_path / "explicit.tif")
    assert np.allclose(zero, explicit, rtol=1e-6)
