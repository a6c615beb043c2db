"""The benchmark's scenarios (refine/scenarios.py) on a tiny case: every row fitted and summarised."""

from __future__ import annotations

import numpy as np
from support.refine_case import small_settings

from lacbed_bridge.refine.scenarios import SCENARIOS, format_summary, held_back_crystals, scenario_table


def test_held_back_crystals_are_seeded_and_varied() -> None:
    first, again = held_back_crystals(3, seed=7), held_back_crystals(3, seed=7)
    assert [(c.name, d, k) for c, d, k in first] == [(c.name, d, k) for c, d, k in again]
    assert len({round(d, 6) for _, d, _ in first}) == 3
    for crystal, delta, kappa in first:
        cation = next(s for s in crystal.sites if s.label == "A")
        assert 0.2 <= delta <= 0.8 and 0.97 <= kappa <= 1.03 and cation.kappa == kappa


def test_the_table_has_every_scenario_with_its_coverage() -> None:
    settings = small_settings(pixel_count=4, min_reflection_pool=60, min_strong_beams=20)
    rows, summary = scenario_table(settings, n_crystals=1, scenarios=(SCENARIOS[0], SCENARIOS[4]))
    assert [r["scenario"] for r in rows] == ["centred", "kappa, joint"]
    assert all(np.isfinite(r["delta"]) and r["delta_sigma"] > 0 for r in rows)
    joint = summary[1]
    assert {"kappa_rmse", "kappa_within_1sigma", "delta_within_2sigma", "seconds_per_fit"} <= set(joint)
    assert "kappa_rmse" not in summary[0]
    text = format_summary(summary)
    assert "kappa, joint" in text and "centred" in text


def test_the_calibration_counts_z_scores_over_noise_draws() -> None:
    """Six Poisson draws of one crystal's centred disc, each fitted: the z-scores' RMS and coverage,
    over all fits and the unflagged ones."""
    from lacbed_bridge.refine.scenarios import calibration, format_calibration

    settings = small_settings(pixel_count=4, min_reflection_pool=60, min_strong_beams=20)
    result = calibration(SCENARIOS[0], settings, fits=6)
    assert result["fits"] == 6 and result["all"]["n"] == 6 and result["unflagged"]["n"] <= 6
    c = result["all"]
    assert 0.0 < c["z_std"] < 5.0 and 0.0 <= c["within_1sigma"] <= c["within_2sigma"] <= 1.0 and c["sigma_mean"] > 0
    assert "RMS z" in format_calibration(result)
