"""The estimator's learning curve (benchmarks/estimator_scaling.py): every disc scored out of fold at
every training-set size, nested subsets, and the power law's extrapolation."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
from lacbed_bridge.surrogate.config import EstimatorConfig

from support.surrogate import synthetic

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("estimator_scaling", REPO / "benchmarks" / "estimator_scaling.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_power_law_recovers_its_exponent_and_the_size_for_the_target() -> None:
    bench = _bench()
    rows = [{"train_crystals": n, "delta_rmse": 0.8 * n ** -0.5} for n in (10, 20, 40)]
    fit = bench.power_law(rows)
    assert fit["exponent"] == pytest.approx(-0.5) and fit["prefactor"] == pytest.approx(0.8)
    assert fit["crystals_for_target"] == pytest.approx((0.8 / bench.TARGET_DELTA_RMSE) ** 2)
    flat = bench.power_law([{"train_crystals": n, "delta_rmse": 0.3 + 0.001 * n} for n in (10, 20, 40)])
    assert flat["exponent"] > 0 and flat["crystals_for_target"] is None  # no extrapolation from a rising curve


def test_learning_curve_scores_every_disc_once_per_size(tmp_path: Path) -> None:
    csvs = synthetic.make_results(tmp_path, {"F-43m_zincblende": 8 * 3, "Fm-3m_rocksalt": 4 * 3}, side=32, charge_states=3)
    build_dataset(sample_refs_from_variants(csvs, edd_root=tmp_path / "edd", lacbed_root=tmp_path / "lacbed"),
                  tmp_path / "dataset", seed=5, split_fractions=(0.6, 0.2, 0.2))
    manifest = pd.read_csv(tmp_path / "dataset" / "manifest.csv", dtype={"sample_id": str})
    discs = np.asarray(tifffile.imread(tmp_path / "dataset" / "lacbed.tif"), dtype=np.float64)
    delta = manifest["delta"].to_numpy(dtype=float)
    rows = _bench().learning_curve(discs, delta, manifest["base_id"].astype(str).to_numpy(),
                                   manifest["family"].astype(str).to_numpy(), fractions=[0.5, 1.0], folds=3,
                                   config=EstimatorConfig(epochs=4, channels=4, batch_size=8), seed=0)
    assert [r["fraction"] for r in rows] == [0.5, 1.0]
    assert rows[0]["train_crystals"] < rows[1]["train_crystals"] == pytest.approx(12 * 2 / 3, abs=1)
    for r in rows:  # pooled over all discs: finite, and per family too
        assert math.isfinite(r["delta_rmse"]) and r["delta_rmse"] > 0
        assert {"rmse_F-43m_zincblende", "rmse_Fm-3m_rocksalt"} <= set(r)
