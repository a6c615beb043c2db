"""The refine command's test case, shared by the refine and the charge-estimator tests: the demo
config cut to 16² px and 60 / 20 beams, one GaAs family with δ = 0.3, the disc of its first
crystal, and that crystal with δ at 0 (neutral P_v) as the start CIF."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lacbed_bridge.config import validate_config
from lacbed_bridge.crystal.cif import read_cif, write_cif
from lacbed_bridge.crystal.variants import write_family
from lacbed_bridge.io import write_tiff
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings

REPO = Path(__file__).resolve().parents[2]
#: the roles of GaAs's sites (zincblende: A the cation, B the anion)
GAAS = {"A": "cation", "B": "anion"}


def gaas(delta: float = 0.4, kappa=(0.97, 1.03)):
    """One GaAs crystal of the zincblende family with charge transfer ``delta`` [e] and κ (Ga, As)."""
    from lacbed_bridge.crystal.variants import generate_family

    family = {"name": "z", "prototype": "zincblende", "n_variants": 1, "delta": [delta, delta], "kappa": list(kappa),
              "elements": {"A": ["Ga"], "B": ["As"]}}
    return generate_family(family, 0)[0][0]


def small_settings(pixel_count: int = 8, **kw: Any) -> LacbedSettings:
    """[001] GaAs-sized settings at 500 Å with 60 / 20 beams (``pixel_count`` 8: a 16² disc)."""
    base = dict(incident_beam_direction=(0, 0, 1), x_direction=(1, 0, 0), normal_direction=(0, 0, 1), pixel_count=pixel_count,
                outer_convergence_angle=1.0, initial_thickness=500.0, final_thickness=500.0, min_reflection_pool=60,
                min_strong_beams=20, absorb_flag=1, absorption_per=7.8, debye_waller_constant=0.5)
    base.update(kw)
    return replace(LacbedSettings(), **base)


def refine_command_case(tmp_path: Path, n_variants: int = 2) -> tuple[dict[str, Any], Path, Any, np.ndarray]:
    """Writes ``config.yaml``, ``cif/``, ``disc.tif`` and ``start.cif`` under ``tmp_path``; returns the
    validated config, its path, the true crystal and its disc."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"].update(pixel_count=8, min_reflection_pool=60, min_strong_beams=20, initial_thickness=500.0,
                                final_thickness=500.0, thickness_index=0, device="cpu")
    config["simulation"]["convergence"] = None  # the disc below is made with these beams, no control
    config["families"] = [{"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": n_variants,
                           "delta": [0.3, 0.3], "elements": {"A": ["Ga"], "B": ["As"]}, "kappa": [1.0, 1.0]}]
    config = validate_config(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    write_family(config, "F-43m_zincblende", tmp_path / "cif")
    crystal = read_cif(tmp_path / "cif" / "F-43m_zincblende_000000.cif")
    disc = simulate_builtin(crystal, small_settings(), BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    write_tiff(tmp_path / "disc.tif", disc.astype(np.float32), {"kind": "test"})
    # start δ at 0 (neutral P_v); roles come from the config family of the CIF's sample id
    write_cif(crystal.with_sites(tuple(replace(s, pv=None) for s in crystal.sites)), tmp_path / "start.cif")
    return config, path, crystal, disc
