"""Several discs of one crystal fitted at once (issue #24 item 3): shared structure, each disc its
own thickness, optics, scale and background (refine/joint.py, `refine CIF D1 D2 --disc-settings`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from support.joint_case import CASES, false_minimum_joint, joint_config, joint_start, joint_started, joint_truth
from support.refine_case import GAAS, small_settings

from lacbed_bridge.cli import main
from lacbed_bridge.crystal.cif import write_cif
from lacbed_bridge.errors import InputError
from lacbed_bridge.io import write_tiff
from lacbed_bridge.refine.fit import fit_disc, poisson_disc
from lacbed_bridge.refine.joint import JointModel
from lacbed_bridge.refine.model import DiscModel, Roles
from lacbed_bridge.refine.optics import OpticsGeometry
from lacbed_bridge.refine.synthetic import simulate_observation

def test_joint_columns_are_each_discs_own() -> None:
    """The joint disc and Jacobian are the discs' own, scaled, side by side, with the structure's
    columns shared and each disc's thickness, optics, scale and background its own."""
    crystal = joint_truth()
    free = ["delta", "kappa:cation", "thickness", "centre_x"]
    models = [DiscModel(crystal, small_settings(**case), free, roles=Roles(GAAS, 4), geometry=OpticsGeometry(centre_x=0.2))
              for case in CASES]
    joint = JointModel(models)
    assert joint.free == ["delta", "kappa:cation", "thickness@1", "centre_x@1", "scale@1", "background@1",
                          "thickness@2", "centre_x@2", "scale@2", "background@2"]
    theta = joint.start.clone()
    theta[joint.free.index("scale@2")] = 1.3
    theta[joint.free.index("background@1")] = 0.01
    theta[joint.free.index("thickness@2")] = 880.0
    disc, jac = joint.jacobian(theta)
    assert torch.allclose(joint.evaluate(theta), disc, rtol=0, atol=1e-11)
    first, second = joint.split(disc.numpy())
    for i, (model, part, scale, background) in enumerate(zip(models, (first, second), (1.0, 1.3), (0.01, 0.0), strict=True)):
        own = joint.local(theta, i)
        single, single_jac = model.jacobian(own)
        np.testing.assert_allclose(part, scale * single.numpy() + background, atol=1e-11)
        columns = joint.split(jac[0, :, joint.free.index(f"thickness@{i + 1}")].numpy())
        np.testing.assert_allclose(columns[i], scale * single_jac[..., 2].numpy(), atol=1e-11)
        assert not columns[1 - i].any()  # a disc's thickness moves only that disc
        shared = joint.split(jac[0, :, 0].numpy())[i]  # δ moves both
        np.testing.assert_allclose(shared, scale * single_jac[..., 0].numpy(), atol=1e-11)
        assert np.abs(shared).max() > 1e-3


@pytest.mark.slow
def test_two_zone_axes_determine_what_one_disc_cannot() -> None:
    """δ and κ(cation) free, 10⁴ counts, started 0.2 e and 0.03 off. The [001] disc alone
    leaves them correlated and δ uncertain; fitted with a [110] disc at another thickness, δ comes
    back to ≤ 0.03 e and κ to ≤ 0.01 (the issue's goal), each within 3σ, χ²/dof ≈ 1, and the joint σ
    is smaller than either disc's alone."""
    truth = joint_truth()
    free = ["delta", "kappa:cation", "thickness"]
    discs = [poisson_disc(simulate_observation(truth, small_settings(**case)), 1e4, seed=i) for i, case in enumerate(CASES)]
    start = joint_start(truth)
    singles = [fit_disc(DiscModel(start, joint_started(case), free, roles=Roles(GAAS, 4)), disc, counts=1e4)
               for case, disc in zip(CASES, discs, strict=True)]
    joint = JointModel([DiscModel(start, joint_started(case), free, roles=Roles(GAAS, 4)) for case in CASES])
    result = fit_disc(joint, np.concatenate([d.reshape(-1) for d in discs])[None], counts=1e4, fit_scale=False,
                      fit_background=False)
    assert result.converged and 0.7 < result.reduced_chi2 < 1.3
    for name, true, goal in (("delta", 0.4, 0.03), ("kappa:cation", 1.03, 0.01)):
        error = abs(result.value(name) - true)
        assert error < goal and error < 3 * result.uncertainty(name), (name, result.value(name), result.uncertainty(name))
        assert result.uncertainty(name) < min(s.uncertainty(name) for s in singles), name
    for name, true in (("thickness@1", 500.0), ("thickness@2", 900.0)):
        assert abs(result.value(name) - true) < 3 * result.uncertainty(name), name
    assert abs(singles[0].correlation[0, 1]) > abs(result.correlation[0, 1])


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_refine_command_fits_several_discs(tmp_path: Path) -> None:
    """`refine START.cif D1.tif D2.tif --disc-settings S.yaml`: each disc its zone axis, thickness and
    optics from the settings file; the report names each disc's parameters; at 10⁴ counts the truth
    comes back within 3σ (measured: δ 0.361 ± 0.020, κ 1.0294 ± 0.0018)."""
    config = joint_config(tmp_path)
    truth = joint_truth()
    write_cif(joint_start(truth), tmp_path / "start.cif")
    optics = [OpticsGeometry(), OpticsGeometry(centre_x=0.5)]
    for i, (case, geometry) in enumerate(zip(CASES, optics, strict=True), start=1):
        disc = poisson_disc(simulate_observation(truth, small_settings(**case), geometry), 1e4, seed=i)
        write_tiff(tmp_path / f"d{i}.tif", disc, {"kind": "test"})
    settings = [{"disc": "d1.tif"},
                {"disc": "d2.tif", "simulation": {"incident_beam_direction": [1, 1, 0], "x_direction": [1, -1, 0],
                                                  "normal_direction": [1, 1, 0], "initial_thickness": 890.0,
                                                  "final_thickness": 890.0},
                 "optics": {"centre": [0.4, 0.0]}}]
    (tmp_path / "discs.yaml").write_text(yaml.safe_dump(settings))
    out = tmp_path / "out"
    assert main(["refine", str(tmp_path / "start.cif"), str(tmp_path / "d1.tif"), str(tmp_path / "d2.tif"), "--config", str(config),
                 "--family", "F-43m_zincblende", "--free", "delta,kappa:cation,thickness,centre_x", "--disc-settings",
                 str(tmp_path / "discs.yaml"), "--counts", "1e4", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    for name, true in (("delta", 0.4), ("kappa:cation", 1.03), ("thickness@1", 500.0), ("thickness@2", 900.0),
                       ("centre_x@1", 0.0), ("centre_x@2", 0.5)):
        p = report["parameters"][name]
        assert abs(p["value"] - true) < 3 * p["sigma"], (name, p)
    assert report["parameters"]["thickness@1"]["unit"] == "Å"
    assert 0.7 < report["reduced_chi2"] < 1.3
    assert (out / "fitted_2.tif").is_file() and (out / "residual_1.tif").is_file() and (out / "refined.cif").is_file()


@pytest.mark.parametrize(("entries", "message"), [
    ([{"disc": "d3.tif"}], "not one of the discs"),
    ([{"disc": "d1.tif"}, {"disc": "d1.tif"}], "two entries"),
    ([{"disc": "d1.tif", "thickness": 3}], "unknown key"),
    ([{"disc": "d1.tif", "optics": {"centre": [1]}}], "expected \\[x, y\\]"),
    ([{"disc": "d1.tif", "simulation": {"initial_thickness": "thick"}}], "d1.tif"),
    ({"disc": "d1.tif"}, "expected a list"),
    ([{"disc": "d1.tif", "hkl": [1, 0]}], "three integers"),
    ([{"disc": "d1.tif", "hkl": [40, 0, 0]}], "d1.tif: the reflection \\(40, 0, 0\\) is not in the beam pool"),
])
def test_bad_disc_settings_get_one_line(tmp_path: Path, entries, message: str) -> None:
    from lacbed_bridge.refine.run import refine_joint

    config = yaml.safe_load(joint_config(tmp_path).read_text())
    truth = joint_truth()
    write_cif(truth, tmp_path / "start.cif")
    for i in (1, 2):
        write_tiff(tmp_path / f"d{i}.tif", simulate_observation(truth, small_settings()).astype(np.float64), {"kind": "test"})
    (tmp_path / "discs.yaml").write_text(yaml.safe_dump(entries))
    with pytest.raises(InputError, match=message):
        refine_joint(tmp_path / "start.cif", [str(tmp_path / "d1.tif"), str(tmp_path / "d2.tif")], config, "thickness",
                     disc_settings=tmp_path / "discs.yaml", out_dir=tmp_path / "out", quiet=True)


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_a_false_minimum_is_said() -> None:
    """From 880 Å and a centre 0.2 px off, the joint fit of the two discs at 10⁵ counts ends in a
    false minimum (δ ≈ 0.24, χ²/dof ≈ 44; measured): the report says so instead of offering its σ."""
    from lacbed_bridge.refine.run import fit_warnings

    joint, observed = false_minimum_joint()
    result = fit_disc(joint, observed, counts=1e5, fit_scale=False, fit_background=False)
    assert result.reduced_chi2 > 10
    assert any("did not reach the data" in line for line in fit_warnings(result, True))
    assert not any("did not reach" in line for line in fit_warnings(result, False))


@pytest.mark.slow  # about 2 s (a trained model or a fit): the quick loop leaves it to make test
def test_a_g_disc_of_the_pattern_joins_the_fit(tmp_path: Path) -> None:
    """`hkl: [2, 2, 0]` in the disc settings: that disc is fitted as the 220 disc of the pattern (the
    simulator's 220 disc), with the 000 disc; noise-free, each thickness comes back."""
    from lacbed_bridge.refine.run import refine_joint

    config = yaml.safe_load(joint_config(tmp_path).read_text())
    truth = joint_truth()
    write_cif(truth, tmp_path / "start.cif")
    for name, hkl in (("d000.tif", (0, 0, 0)), ("d220.tif", (2, 2, 0))):
        model = DiscModel(truth, small_settings(), [], hkl=hkl)
        write_tiff(tmp_path / name, model.evaluate(model.start).numpy(), {"kind": "test"})
    (tmp_path / "discs.yaml").write_text(yaml.safe_dump([{"disc": "d220.tif", "hkl": [2, 2, 0],
                                                           "simulation": {"initial_thickness": 490.0, "final_thickness": 490.0}}]))
    report = refine_joint(tmp_path / "start.cif", [str(tmp_path / "d000.tif"), str(tmp_path / "d220.tif")], config,
                          "thickness", disc_settings=tmp_path / "discs.yaml", out_dir=tmp_path / "out", quiet=True)
    assert report["parameters"]["thickness@2"]["value"] == pytest.approx(500.0, abs=1e-3)
    assert report["parameters"]["thickness@1"]["value"] == pytest.approx(500.0, abs=1e-3)
    assert report["disc_settings"][1]["hkl"] == [2, 2, 0]


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_discs_of_one_pattern_share_thickness_and_detector() -> None:
    """`pattern: P`: the (000) and 220 discs of one exposure have one thickness, rotation, k-scale
    and blur (``thickness@P`` …), whose Jacobian column moves both discs; each keeps its own centre,
    scale and background. Discs of one pattern that start at different thicknesses, and a pattern
    named only by digits (the discs' numbers), are refused."""
    truth = joint_truth()
    free = ["thickness", "centre_x", "blur"]
    models = [DiscModel(truth, small_settings(), free, hkl=hkl, geometry=OpticsGeometry(blur=0.5)) for hkl in ((0, 0, 0), (2, 2, 0))]
    joint = JointModel(models, patterns=["A", "A"])
    assert joint.free == ["thickness@A", "centre_x@1", "blur@A", "scale@1", "background@1", "centre_x@2", "scale@2",
                          "background@2"]
    theta = joint.start.clone()
    theta[joint.free.index("scale@2")] = 0.7
    _, jac = joint.jacobian(theta)
    for column, j in (("thickness@A", 0), ("blur@A", 2)):
        parts = joint.split(jac[0, :, joint.free.index(column)].numpy())
        for i, (model, scale) in enumerate(zip(models, (1.0, 0.7), strict=True)):
            own = model.jacobian(joint.local(theta, i))[1][..., j].numpy()
            assert np.abs(own).max() > 1e-4
            np.testing.assert_allclose(parts[i], scale * own, atol=1e-11)
    centre = joint.split(jac[0, :, joint.free.index("centre_x@2")].numpy())
    assert not centre[0].any() and np.abs(centre[1]).max() > 1e-4
    # without a pattern each disc has its own (the default)
    assert "thickness@2" in JointModel(models).free
    other = DiscModel(truth, small_settings(initial_thickness=490.0, final_thickness=490.0), free, hkl=(2, 2, 0),
                      geometry=OpticsGeometry(blur=0.5))
    with pytest.raises(InputError, match="pattern 'A' share thickness"):
        JointModel([models[0], other], patterns=["A", "A"])
    assert "thickness@B" in JointModel([models[0], other], patterns=["A", "B"]).free
    with pytest.raises(InputError, match="not only digits"):
        JointModel(models, patterns=["2", "2"])


def test_a_pattern_fit_from_the_command_line(tmp_path: Path) -> None:
    """The 000 and 220 discs of one noise-free pattern at 500 Å, `pattern: p1` in the disc settings,
    started at 490 Å: one thickness, 500 Å, reported as thickness@p1; a bad pattern name is one line."""
    from lacbed_bridge.refine.run import refine_joint

    config = yaml.safe_load(joint_config(tmp_path).read_text())
    config["simulation"].update(initial_thickness=490.0, final_thickness=490.0)
    truth = joint_truth()
    write_cif(truth, tmp_path / "start.cif")
    for name, hkl in (("d000.tif", (0, 0, 0)), ("d220.tif", (2, 2, 0))):
        model = DiscModel(truth, small_settings(), [], hkl=hkl)
        write_tiff(tmp_path / name, model.evaluate(model.start).numpy(), {"kind": "test"})
    discs = [str(tmp_path / "d000.tif"), str(tmp_path / "d220.tif")]
    (tmp_path / "discs.yaml").write_text(yaml.safe_dump([{"disc": "d000.tif", "pattern": "p1"},
                                                         {"disc": "d220.tif", "hkl": [2, 2, 0], "pattern": "p1"}]))
    report = refine_joint(tmp_path / "start.cif", discs, config, "thickness", disc_settings=tmp_path / "discs.yaml",
                          out_dir=tmp_path / "out", quiet=True)
    assert report["parameters"]["thickness@p1"]["value"] == pytest.approx(500.0, abs=1e-3)
    assert not any(name.startswith("thickness@") and name != "thickness@p1" for name in report["parameters"])
    (tmp_path / "discs.yaml").write_text(yaml.safe_dump([{"disc": "d000.tif", "pattern": "a b"}]))
    with pytest.raises(InputError, match=r"discs.yaml.*\[0\]\.pattern|pattern name"):
        refine_joint(tmp_path / "start.cif", discs, config, "thickness", disc_settings=tmp_path / "discs.yaml",
                     out_dir=tmp_path / "out", quiet=True)


def test_a_joint_model_fits_its_own_scales_whatever_fit_scale_says() -> None:
    """fit_disc's default fit_scale/fit_background (one scale and background for a single disc) do not
    apply to a joint model, whose discs carry their own: the defaults give the same fit as False
    (they raised an IndexError before)."""
    joint, observed = false_minimum_joint()
    default = fit_disc(joint, observed, counts=1e5, max_iter=1)
    joint, observed = false_minimum_joint()
    explicit = fit_disc(joint, observed, counts=1e5, fit_scale=False, fit_background=False, max_iter=1)
    assert default.names == explicit.names and "scale@1" in default.names and "scale" not in default.names
    np.testing.assert_allclose(default.values, explicit.values, rtol=1e-12)
