"""The joint-fit test case (refine/joint.py), shared by the joint and thickness-scan tests: GaAs
with δ = 0.4 and κ(Ga) = 1.03 seen along [001] at 500 Å and [110] at 900 Å, a start 0.2 e and
0.03 in κ off, the command's small config, and a joint fit that ends in a false minimum."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from lacbed_bridge.config import validate_config
from lacbed_bridge.refine.fit import poisson_disc
from lacbed_bridge.refine.joint import JointModel
from lacbed_bridge.refine.model import DiscModel, Roles
from lacbed_bridge.refine.optics import OpticsGeometry
from lacbed_bridge.refine.scenarios import ALONG_110
from lacbed_bridge.refine.synthetic import simulate_observation
from support.refine_case import GAAS, REPO, gaas, small_settings

#: the two experiments: [001] at 500 Å and [110] at 900 Å
CASES = [{"initial_thickness": 500.0, "final_thickness": 500.0},
         {"initial_thickness": 900.0, "final_thickness": 900.0, **ALONG_110}]


def joint_truth():
    """GaAs with δ = 0.4 and κ(Ga) = 1.03."""
    crystal = gaas(delta=0.4, kappa=(1.0, 1.0))
    return crystal.with_sites(tuple(replace(s, kappa=1.03 if s.element == "Ga" else 1.0) for s in crystal.sites))


def joint_start(truth):
    """δ 0.2 e and κ 0.03 off (P_v of Ga 2.8: δ = 0.2; κ = 1)."""
    return truth.with_sites(tuple(replace(s, pv=2.8 if s.element == "Ga" else 5.2, kappa=1.0) for s in truth.sites))


def joint_started(case: dict, factor: float = 0.98):
    """The settings of ``case`` with its thickness started ``factor`` off."""
    return small_settings(**{**case, "initial_thickness": case["initial_thickness"] * factor,
                        "final_thickness": case["initial_thickness"] * factor})


def joint_config(tmp_path: Path) -> Path:
    """The demo config cut to 16² px and 60 / 20 beams at 500 Å (no convergence control), written
    validated to ``tmp_path/config.yaml``."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"].update(pixel_count=8, min_reflection_pool=60, min_strong_beams=20, initial_thickness=500.0,
                                final_thickness=500.0, thickness_index=0, device="cpu")
    config["simulation"]["convergence"] = None
    config["families"] = [{"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 2}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(validate_config(config)))
    return path


def false_minimum_joint() -> tuple[JointModel, np.ndarray]:
    """The [001] and [110] discs at 10⁵ counts (the second 0.5 px off), the joint model started at
    880 Å for the 900 Å disc and its centre 0.2 px off: (model, observed row)."""
    truth = joint_truth()
    optics = [OpticsGeometry(), OpticsGeometry(centre_x=0.5)]
    discs = [poisson_disc(simulate_observation(truth, small_settings(**c), g), 1e5, seed=i)
             for i, (c, g) in enumerate(zip(CASES, optics, strict=True), start=1)]
    free = ["delta", "kappa:cation", "thickness", "centre_x"]
    models = [DiscModel(joint_start(truth), small_settings(**CASES[0]), free, roles=Roles(GAAS, 4)),
              DiscModel(joint_start(truth), joint_started(CASES[1], 880.0 / 900.0), free, roles=Roles(GAAS, 4),
                        geometry=OpticsGeometry(centre_x=0.3))]
    return JointModel(models), np.concatenate([d.reshape(-1) for d in discs])[None]
