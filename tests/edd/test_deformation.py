"""Deformation density Δρ = ρ − ρ_IAM (the same crystal of neutral spherical atoms), projected like
the total density: the image of the charge model alone (issue: surrogates that see the charge)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from lacbed_bridge.cli import main
from lacbed_bridge.config import load_config
from lacbed_bridge.crystal.cif import write_cif
from lacbed_bridge.crystal.variants import generate_family
from lacbed_bridge.edd.settings import edd_settings
from lacbed_bridge.io import read_tiff

REPO_ROOT = Path(__file__).resolve().parents[2]


def _gaas(delta: float, kappa: float = 1.0):
    family = {"name": "GaAs", "prototype": "zincblende", "n_variants": 1, "seed": 1, "elements": {"A": ["Ga"], "B": ["As"]},
              "lattice_scale": [1, 1], "u_iso": [0.008, 0.008], "delta": [delta, delta], "kappa": [kappa, kappa]}
    return generate_family(family, 0)[0][0]


@pytest.fixture(scope="module")
def settings():
    return edd_settings(load_config(REPO_ROOT / "config.yaml"))  # [001], 32², field of view a


def test_neutral_crystal_has_no_deformation(settings) -> None:
    image, _ = settings.deformation(_gaas(0.0))
    assert np.all(image == 0.0)


def test_charge_transfer_shows_at_the_columns_and_conserves_electrons(settings) -> None:
    image, info = settings.deformation(_gaas(0.5))
    side = settings.side
    # one projected cell ([001], field of view a): the moved charge sums to zero
    assert abs(image.sum() * info.pixel_size**2) < 1e-9
    # Ga columns at the cell origin (image centre), As columns at (a/4, a/4): the cation loses
    # valence electrons, the anion gains them
    centre = image[side // 2 - 1 : side // 2 + 1, side // 2 - 1 : side // 2 + 1].mean()
    quarter = side // 2 + side // 4
    anion = image[quarter - 1 : quarter + 1, quarter - 1 : quarter + 1].mean()
    assert centre < 0 < anion
    assert image.max() > 0.02  # e/Å²: the whole image is the charge signal


def test_deformation_is_the_change_of_the_total_density_and_linear_in_delta(settings) -> None:
    total0, _ = settings.image(_gaas(0.0))
    total5, _ = settings.image(_gaas(0.5))
    half, _ = settings.deformation(_gaas(0.5))
    full, _ = settings.deformation(_gaas(1.0))
    np.testing.assert_allclose(half, total5 - total0, atol=1e-12)  # κ = 1: ρ_IAM is the δ = 0 crystal
    np.testing.assert_allclose(full, 2.0 * half, atol=1e-9)  # P_v enters the form factor linearly
    # the same signal is a tiny part of the total image (docs/architecture.md §5: ≈ 6e-4 of full scale)
    assert np.abs(half).max() / (total0.max() - total0.min()) < 2e-3


def test_valence_expansion_alone_deforms(settings) -> None:
    image, info = settings.deformation(_gaas(0.0, kappa=1.05))
    assert np.abs(image).max() > 1e-3
    assert abs(image.sum() * info.pixel_size**2) < 1e-9


def test_cli_writes_both_images(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    write_cif(_gaas(0.5), tmp_path / "gaas.cif")
    assert main(["edd", str(tmp_path / "gaas.cif"), "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "e.tif"),
                 "--deformation", str(tmp_path / "d.tif")]) == 0
    total, meta_t = read_tiff(tmp_path / "e.tif")
    deformation, meta_d = read_tiff(tmp_path / "d.tif")
    assert meta_t["kind"] == "edd" and meta_d["kind"] == "deformation" and meta_d["units"] == "e/A^2"
    assert total.shape == deformation.shape == (32, 32) and total.min() > 0 > deformation.min()
