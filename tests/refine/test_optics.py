"""The detector's view of the disc as fit parameters (issue #24 item 1): centre offset, rotation,
k-scale and Gaussian blur — exact against independent constructions, exact gradients, and a fit
that recovers them with the structure."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from support.refine_case import GAAS, REPO, gaas, small_settings

from lacbed_bridge.crystal.variants import generate_family
from lacbed_bridge.refine.fit import fit_disc, poisson_disc
from lacbed_bridge.refine.model import DiscModel, Roles
from lacbed_bridge.refine.optics import OpticsGeometry
# GaAs along [110] (the scenarios' second zone axis): a 2mm disc, so a quarter turn is not a symmetry of it
from lacbed_bridge.refine.scenarios import ALONG_110
from lacbed_bridge.refine.synthetic import simulate_observation
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions

OPTICS = ["centre_x", "centre_y", "rotation", "k_scale", "blur"]


def _disc(crystal, settings, free=(), **kw) -> np.ndarray:
    model = DiscModel(crystal, settings, list(free), **kw)
    with torch.no_grad():
        return model.disc(model.start).numpy()


def test_the_centred_view_is_the_simulator_with_the_optics_free() -> None:
    crystal = gaas()
    settings = small_settings(**ALONG_110)
    expected = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    model = DiscModel(crystal, settings, ["centre_x", "centre_y", "rotation", "k_scale"])
    assert model.pixels_solved == settings.side**2  # the geometry free: no symmetry
    with torch.no_grad():
        np.testing.assert_allclose(model.disc(model.start).numpy(), expected, atol=1e-10)


@pytest.mark.parametrize(("dx", "dy"), [(1, 0), (0, -2), (-1, 1)])
def test_an_integer_offset_is_a_window_of_a_larger_disc(dx: int, dy: int) -> None:
    """centre_x = +1: the pattern sits one pixel to the right (larger column index)."""
    crystal = gaas()
    settings = small_settings(**ALONG_110)
    n = settings.pixel_count
    big = simulate_builtin(crystal, replace(settings, pixel_count=n + 2, outer_convergence_angle=settings.outer_convergence_angle * (n + 2) / n), BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    window = big[2 - dy : 2 - dy + 2 * n, 2 - dx : 2 - dx + 2 * n]
    np.testing.assert_allclose(_disc(crystal, settings, geometry=OpticsGeometry(centre_x=dx, centre_y=dy)), window, atol=1e-10)


def test_a_quarter_turn_and_a_scale() -> None:
    """rotation +90°: the pattern turned counter-clockwise in (x, y) = np.rot90 of the rows-as-y
    image turned the other way; k_scale s: the disc of radius R/s on the same pixels."""
    crystal = gaas()
    settings = small_settings(**ALONG_110)
    centred = _disc(crystal, settings)
    turned = _disc(crystal, settings, geometry=OpticsGeometry(rotation=90.0))
    assert not np.allclose(centred, np.rot90(centred), atol=1e-3)  # 2mm: a quarter turn shows
    np.testing.assert_allclose(turned, np.rot90(centred, k=-1), atol=1e-9)
    scaled = _disc(crystal, settings, geometry=OpticsGeometry(k_scale=1.25))
    expected = simulate_builtin(crystal, replace(settings, outer_convergence_angle=settings.outer_convergence_angle / 1.25), BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    np.testing.assert_allclose(scaled, expected, atol=1e-10)


def test_the_blur_is_scipys_gaussian_filter() -> None:
    crystal = gaas()
    settings = small_settings()
    for width in (0.6, 1.3):
        ours = _disc(crystal, settings, geometry=OpticsGeometry(blur=width))
        independent = simulate_observation(crystal, settings, OpticsGeometry(blur=width))
        assert np.abs(ours - independent).max() < 2e-3 * independent.max(), width
    assert np.abs(_disc(crystal, settings, geometry=OpticsGeometry(blur=0.8)) - _disc(crystal, settings)).max() > 0.02


def test_the_optics_gradients_are_exact() -> None:
    crystal = gaas()
    settings = small_settings(pixel_count=4)
    free = ["delta", "thickness", *OPTICS]
    model = DiscModel(crystal, settings, free, roles=Roles(GAAS, 4), geometry=OpticsGeometry(0.3, -0.2, 3.0, 1.02, 0.7))
    assert model.start[free.index("blur")] == pytest.approx(0.7)
    _, jac = model.jacobian(model.start)
    for i, name in enumerate(free):
        h = 1e-4 * max(1.0, abs(float(model.start[i])))
        up, down = model.start.clone(), model.start.clone()
        up[i] += h
        down[i] -= h
        with torch.no_grad():
            fd = (model.disc(up) - model.disc(down)) / (2 * h)
        scale = float(fd.abs().max())
        assert float((jac[..., i] - fd).abs().max()) < 1e-4 * max(scale, 1e-3), name


@pytest.mark.slow
def test_an_off_centre_blurred_disc_gives_back_its_structure_and_optics() -> None:
    """The issue's case at test size (16² px, 120 / 40 beams): one pixel off and a 0.8 px blur (plus 0.6 px in y), 10⁴ counts,
    δ started 0.5 e off and the thickness 10 % off. Without the optics the fit is wrong and χ²/dof
    in the hundreds; with them the optics and the thickness come back within 3σ, χ²/dof ≈ 1, and δ
    is what the fit finds when it is told the true optics (the optics cost the structure nothing).
    Noise-free, everything comes back exactly."""
    # AlAs: the lighter cation shows its charge more than Ga does (GaAs at this size: σ_δ ≈ 0.09)
    family = {"name": "z", "prototype": "zincblende", "n_variants": 1, "delta": [0.5, 0.5], "kappa": [1.0, 1.0],
              "elements": {"A": ["Al"], "B": ["As"]}}
    truth = generate_family(family, 0)[0][0]
    beams = {"min_reflection_pool": 120, "min_strong_beams": 40}
    settings = small_settings(pixel_count=8, **beams)
    geometry = OpticsGeometry(centre_x=1.0, centre_y=-0.6, blur=0.8)
    clean = simulate_observation(truth, settings, geometry)
    observed = poisson_disc(clean, 1e4, seed=1)
    start = truth.with_sites(tuple(replace(s, pv=3.0 if s.element == "Al" else 5.0) for s in truth.sites))
    start_settings = small_settings(pixel_count=8, initial_thickness=450.0, final_thickness=450.0, **beams)
    free = ["delta", "thickness", "centre_x", "centre_y", "blur"]
    blind = fit_disc(DiscModel(start, start_settings, ["delta", "thickness"], roles=Roles(GAAS, 4)), observed, counts=1e4)
    assert blind.reduced_chi2 > 50
    told = fit_disc(DiscModel(start, start_settings, ["delta", "thickness"], roles=Roles(GAAS, 4), geometry=geometry),
                    observed, counts=1e4)
    result = fit_disc(DiscModel(start, start_settings, free, roles=Roles(GAAS, 4)), observed, counts=1e4)
    assert result.converged and 0.7 < result.reduced_chi2 < 1.3
    for name, true in (("thickness", 500.0), ("centre_x", 1.0), ("centre_y", -0.6), ("blur", 0.8), ("scale", 1.0), ("background", 0.0)):
        assert abs(result.value(name) - true) < 3 * result.uncertainty(name), (name, result.value(name), result.uncertainty(name))
    assert result.uncertainty("centre_x") < 0.01 and result.uncertainty("blur") < 0.01
    assert abs(result.value("delta") - told.value("delta")) < told.uncertainty("delta")
    # within 3σ of the truth (measured 0.441 ± 0.023 here; at the demo's size, 32² px and 500 / 150
    # beams, benchmarks/refine.py finds δ to 0.012 e RMS on such discs, the issue's 0.05 met)
    assert abs(result.value("delta") - 0.5) < min(0.1, 3 * result.uncertainty("delta")), (result.value("delta"), result.uncertainty("delta"))
    exact = fit_disc(DiscModel(start, start_settings, free, roles=Roles(GAAS, 4)), clean, counts=1e4)
    for name, true in (("delta", 0.5), ("thickness", 500.0), ("centre_x", 1.0), ("centre_y", -0.6), ("blur", 0.8)):
        assert exact.value(name) == pytest.approx(true, abs=2e-3), name


@pytest.mark.slow  # about 2 s (a trained model or a fit): the quick loop leaves it to make test
def test_refine_command_fits_the_optics_with_the_familys_roles(tmp_path) -> None:
    """`refine --family F --free delta,thickness,centre`: roles come from the family's prototype
    even for a CIF whose sites are named otherwise (Ga1, As1; issue #24 item 5), the centre offset
    comes back, and what was held fixed of the optics is stated."""
    import json

    import yaml

    from lacbed_bridge.cli import main
    from lacbed_bridge.config import validate_config
    from lacbed_bridge.crystal.cif import write_cif
    from lacbed_bridge.io import write_tiff
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"].update(pixel_count=8, min_reflection_pool=60, min_strong_beams=20, initial_thickness=500.0,
                                final_thickness=500.0, thickness_index=0, device="cpu")
    config["simulation"]["convergence"] = None  # the disc below is made with these beams, no control
    config["families"] = [{"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 2}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(validate_config(config)))
    truth = gaas(delta=0.3, kappa=(1.0, 1.0))
    truth = truth.with_sites(tuple(replace(s, label=s.element + "1") for s in truth.sites))
    disc = simulate_observation(truth, small_settings(), OpticsGeometry(centre_x=1.0))
    write_tiff(tmp_path / "disc.tif", disc.astype(np.float32), {"kind": "test"})
    write_cif(truth.with_sites(tuple(replace(s, pv=None) for s in truth.sites)), tmp_path / "start.cif")
    assert main(["refine", str(tmp_path / "start.cif"), str(tmp_path / "disc.tif"), "--config", str(path), "--family",
                 "F-43m_zincblende", "--free", "delta,thickness,centre", "--counts", "1e5", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {"centre_x", "centre_y"} <= set(report["parameters"])
    assert report["parameters"]["centre_x"]["value"] == pytest.approx(1.0, abs=0.02)
    assert report["parameters"]["centre_x"]["unit"] == "px"
    assert report["parameters"]["delta"]["value"] == pytest.approx(0.3, abs=0.05)
    assert any("rotation 0" in line and "blur 0" in line for line in report["held_fixed"])
    assert isinstance(report["warnings"], list)


def test_identifiability_is_warned_about() -> None:
    from lacbed_bridge.refine.run import identifiability_warnings

    corr = np.array([[1.0, -0.99, 0.1], [-0.99, 1.0, 0.2], [0.1, 0.2, 1.0]])
    lines = identifiability_warnings(["delta", "kappa:cation", "thickness"], [0.4, 1.0, 500.0], [0.77, 0.01, 0.5], corr)
    assert any("delta and kappa:cation are correlated -0.990" in line for line in lines)
    assert any(line.startswith("delta = 0.4 has σ 0.77") for line in lines)
    assert len(lines) == 2


def test_refine_fits_with_the_discs_own_beams(tmp_path) -> None:
    """issue #24 item 2: a disc the simulator made records the beams its convergence control chose;
    the fit uses those (not the config's) and the report says so, with the simulation's error
    next to the noise."""
    import json

    import yaml

    from lacbed_bridge.cli import main
    from lacbed_bridge.config import validate_config
    from lacbed_bridge.crystal.cif import write_cif
    from lacbed_bridge.io import read_tiff
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"].update(pixel_count=4, min_reflection_pool=30, min_strong_beams=8, initial_thickness=500.0,
                                final_thickness=500.0, thickness_index=0, device="cpu",
                                convergence={"target_rms": 0.0002, "max_strong_beams": 60})
    config["families"] = [{"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 2}]
    made = tmp_path / "made.yaml"
    made.write_text(yaml.safe_dump(validate_config(config)))
    truth = gaas(delta=0.3, kappa=(1.0, 1.0))
    write_cif(truth, tmp_path / "truth.cif")
    assert main(["simulate", str(tmp_path / "truth.cif"), "--config", str(made), "--out", str(tmp_path / "disc.tif")]) == 0
    _, meta = read_tiff(tmp_path / "disc.tif")
    assert meta["info_min_strong_beams_used"] > 8  # the control grew the beams
    config["simulation"]["convergence"] = None
    fitting = tmp_path / "fit.yaml"
    fitting.write_text(yaml.safe_dump(validate_config(config)))
    assert main(["refine", str(tmp_path / "truth.cif"), str(tmp_path / "disc.tif"), "--config", str(fitting), "--free",
                 "thickness", "--counts", "1e4", "--roles", "Ga=cation,As=anion", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    beams = report["beams"]
    assert beams["source"] == "the disc's metadata"
    assert beams["min_strong_beams"] == meta["info_min_strong_beams_used"]
    assert beams["min_reflection_pool"] == meta["info_min_reflection_pool_used"]
    assert beams["simulation_rms_error"] == pytest.approx(meta["info_convergence_rms"]) and beams["noise_rms"] > 0
    assert report["parameters"]["thickness"]["value"] == pytest.approx(500.0, abs=0.5)
    assert "beams from the disc's metadata" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_registration_starts_the_centre_within_reach() -> None:
    """A disc 1 px off in x and 0.6 px in y: a sharp disc's χ² oscillates with the centre (the fit
    from a centred start ended at χ²/dof ≈ 3400 on GaAs at 16² px), so the fit starts the centre
    where the starting disc correlates best with the observation: whole pixels exactly, the
    fraction by a parabola; from there the fit reaches the truth."""
    from lacbed_bridge.refine.optics import register_shift

    truth = gaas(delta=0.5, kappa=(1.0, 1.0))
    settings = small_settings(pixel_count=8, min_reflection_pool=120, min_strong_beams=40)
    centred = simulate_observation(truth, settings)
    use = np.ones(centred.shape, dtype=bool)
    for dx, dy in ((1, 0), (-2, 1), (0, 0)):
        observed = simulate_observation(truth, settings, OpticsGeometry(centre_x=dx, centre_y=dy))
        x, y, r = register_shift(observed, centred, use)
        assert (x, y) == pytest.approx((dx, dy), abs=0.15) and r > 0.9
    observed = poisson_disc(simulate_observation(truth, settings, OpticsGeometry(centre_x=1.0, centre_y=-0.6)), 1e4, seed=3)
    x, y, _ = register_shift(observed, centred, use)
    assert abs(x - 1.0) < 0.5 and abs(y + 0.6) < 0.5
    model = DiscModel(truth, settings, ["delta", "thickness", "centre_x", "centre_y"], roles=Roles(GAAS, 4))
    result = fit_disc(model, observed, counts=1e4)
    assert result.reduced_chi2 < 1.3
    assert abs(result.value("centre_x") - 1.0) < 3 * result.uncertainty("centre_x")
    assert abs(result.value("centre_y") + 0.6) < 3 * result.uncertainty("centre_y")
