"""The refinement study's starts (refine/study.py FIT_STARTS): the same noisy disc fitted from the
estimator's δ, from the true thickness and from the truth, all to the same answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lacbed_bridge.refine.fit import poisson_disc
from lacbed_bridge.refine.model import DiscModel, Roles
from lacbed_bridge.refine.study import FIT_STARTS, _refine_from_estimate
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions

from support.refine_case import GAAS, gaas, small_settings


@pytest.mark.slow  # five fits of a 16² disc: make quick leaves it to make test
def test_every_start_reaches_the_same_delta_and_the_truth_is_the_fewest_iterations() -> None:
    truth = gaas(delta=0.5, kappa=(1.0, 1.0))
    observed = poisson_disc(simulate_builtin(truth, small_settings(), BuiltinOptions(pool_mode="shells", use_symmetry=False),
                                             device="cpu").disc(), 1e4, seed=3)
    start = truth.with_sites(tuple(replace(s, pv=3.0 if s.element == "Ga" else 5.0) for s in truth.sites))  # δ = 0
    model = DiscModel(start, small_settings(initial_thickness=550.0, final_thickness=550.0), ["delta", "thickness"],
                      roles=Roles(GAAS, 4))
    start0 = model.start.clone()
    reader = {"range": (0.0, 0.8), "delta": np.array([0.95]), "sigma": np.array([0.2])}  # read above its range: clipped
    entry = _refine_from_estimate(model, observed, start0, ["delta", "thickness"], reader, 0, 1e4,
                                  {"delta": 0.5, "thickness": 500.0})
    assert entry["estimator_delta"] == pytest.approx(0.95) and entry["estimator_delta_sigma"] == pytest.approx(0.2)
    fitted = [entry[f"{label}_refine_delta"] for label in FIT_STARTS]
    assert len(fitted) == 4 and max(fitted) - min(fitted) < 5e-3, fitted  # one minimum (to the fit's tolerance), whatever the start
    assert abs(fitted[0] - 0.5) < 0.15  # a 16² disc at 10⁴ counts
    iterations = {label: entry[f"{label}_refine_iterations"] for label in FIT_STARTS}
    assert iterations["truth"] == min(iterations.values()), iterations
    assert iterations["truth"] < iterations["estimator"], iterations  # the thickness 10 % off costs steps
    assert all(entry[f"{label}_refine_seconds"] > 0 for label in FIT_STARTS)
