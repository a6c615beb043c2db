"""The mean absorption option (flux): Felix leaves U'(0) out and its intensities exceed 1; kept, the
wave's norm can only fall, so I ≤ 1, and along a zone axis the disc is Felix's times a constant."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.simulate.bloch import bloch_structure, simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions, LacbedSettings
from lacbed_bridge.simulate.electron import wavenumber_from_voltage
from lacbed_bridge.crystal.orientation import microscope_frame


def _case(absorb_flag: int) -> tuple:
    crystal = load_prototypes()["zincblende"].crystal(u_iso={"A": 0.008, "B": 0.008})
    settings = replace(LacbedSettings(), incident_beam_direction=(0, 0, 1), x_direction=(1, 0, 0), normal_direction=(0, 0, 1),
                       pixel_count=8, outer_convergence_angle=1.0, initial_thickness=200.0, final_thickness=1000.0,
                       delta_thickness=200.0, min_reflection_pool=60, min_strong_beams=30, absorb_flag=absorb_flag,
                       debye_waller_constant=0.5)
    return crystal, settings


@pytest.mark.parametrize("absorb_flag", [1, 2])
def test_mean_absorption_keeps_intensity_below_one(absorb_flag: int) -> None:
    crystal, settings = _case(absorb_flag)
    felix_like = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu", hkl=((0, 0, 0), (2, 0, 0), (2, 2, 0)))
    flux = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, mean_absorption=True), device="cpu", hkl=((0, 0, 0), (2, 0, 0), (2, 2, 0)))
    assert felix_like.discs[(0, 0, 0)].max() > 1.0  # Felix's model: gain on some pixels
    assert flux.discs[(0, 0, 0)].max() <= 1.0
    total = sum(flux.discs[h] for h in flux.discs)  # three beams of the strong set: still ≤ 1
    assert total.max() <= 1.0

    # the ratio is the uniform factor exp(−2·(4π²/2K)·U'(0)·t) at each thickness
    wavenumber = wavenumber_from_voltage(settings.accelerating_voltage)
    structure = bloch_structure(crystal, microscope_frame(crystal, settings.geometry), wavenumber, potential=settings.potential,
                                beams=settings.beam_selection, pool_mode="shells",
                                device=torch.device("cpu"), mean_absorption=True)
    assert structure.mean_absorption > 0
    ratio = flux.discs[(0, 0, 0)] / felix_like.discs[(0, 0, 0)]
    for it, t in enumerate(settings.thicknesses):
        np.testing.assert_allclose(ratio[it], math.exp(-2.0 * structure.mean_absorption * t), rtol=1e-8)
