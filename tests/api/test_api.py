"""The Python API (lacbed_bridge.api): each function gives what its command gives, on real crystals,
the real simulator, gemmi and tiny real trained models."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

import lacbed_bridge as lb
from lacbed_bridge.cli import main
from lacbed_bridge.io import read_tiff
from support import synthetic

REPO = Path(__file__).resolve().parents[2]

#: [001] GaAs-sized settings at 500 Å with 60 / 20 beams and no convergence control: a 16² disc in
#: about a second (the refine tests' small case)
SMALL = {"incident_beam_direction": [0, 0, 1], "x_direction": [1, 0, 0], "normal_direction": [0, 0, 1], "pixel_count": 8,
         "outer_convergence_angle": 1.0, "initial_thickness": 500.0, "final_thickness": 500.0, "min_reflection_pool": 60,
         "min_strong_beams": 20, "absorb_flag": 1, "absorption_per": 7.8, "debye_waller_constant": 0.5,
         "convergence": None, "device": "cpu"}
GAAS = {"A": "Ga", "B": "As"}
ROLES = {"Ga": "cation", "As": "anion"}


def _config_file(tmp_path: Path, **simulation) -> tuple[dict, Path]:
    config = lb.make_config({**SMALL, **simulation})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return config, path


def _cif(tmp_path: Path, delta: float, name: str = "gaas"):
    """A GaAs crystal at δ written as CIF, and the crystal read back (the input the commands see)."""
    path = tmp_path / f"{name}.cif"
    lb.write_crystal(lb.prototype_crystal("zincblende", GAAS, delta=delta, name=name), path)
    return path, lb.read_crystal(path)


def _same_metadata(api: dict, cli: dict, *, wall: tuple[str, ...] = ("seconds", "info_seconds", "pixel_sha256")) -> None:
    """Equal metadata, wall times and the checksum (of float32 pixels) aside."""
    drop = {k for k in set(api) | set(cli) if k in wall or k.endswith("_seconds")}
    assert {k: v for k, v in api.items() if k not in drop} == {k: v for k, v in cli.items() if k not in drop}


def test_import_is_light_and_names_resolve_lazily() -> None:
    code = ("import sys, lacbed_bridge as lb\n"
            "before = sorted(m for m in ('torch', 'gemmi', 'lacbed_bridge.api') if m in sys.modules)\n"
            "lb.simulate_disc, lb.Disc\n"
            "from lacbed_bridge import api\n"
            "after = sorted(m for m in ('torch', 'gemmi') if m in sys.modules)\n"
            "print(before, after, 'refine_disc' in dir(lb))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    assert out == "[] [] True"  # nothing heavy on import, not even with the API module itself
    assert set(lb.api.__all__) == set(lb._API_NAMES)
    with pytest.raises(AttributeError):
        lb.no_such_name  # noqa: B018


def test_charges_follow_the_variants_rule() -> None:
    crystal = lb.prototype_crystal("zincblende", GAAS, delta=0.5, kappa={"A": 0.95})
    assert {s.label: (s.element, s.pv, s.kappa) for s in crystal.sites} == {"A": ("Ga", 2.5, 0.95), "B": ("As", 5.5, 1.0)}
    assert crystal.cell[0] == pytest.approx(5.65325)
    again = lb.with_charge(crystal, 0.25, ROLES)  # δ from the neutral atoms, whatever the crystal had
    assert [s.pv for s in again.sites] == [2.75, 5.25] and [s.kappa for s in again.sites] == [0.95, 1.0]
    from lacbed_bridge.crystal.variants import generate_family

    family = {"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 1, "delta": [0.4, 0.4],
              "elements": {"A": ["Ga"], "B": ["As"]}, "kappa": [1.0, 1.0]}
    variant, row = generate_family(family, 7)[0]
    assert [s.pv for s in lb.with_charge(variant, row["delta"], ROLES).sites] == [s.pv for s in variant.sites] == [2.6, 5.4]


def test_disc_and_density_images_equal_the_commands(tmp_path) -> None:
    _, config_path = _config_file(tmp_path)
    cif, crystal = _cif(tmp_path, 0.5)
    assert main(["simulate", str(cif), "--config", str(config_path), "--out", str(tmp_path / "disc.tif")]) == 0
    assert main(["edd", str(cif), "--config", str(config_path), "--out", str(tmp_path / "edd.tif"),
                 "--deformation", str(tmp_path / "def.tif")]) == 0
    disc = lb.simulate_disc(crystal, config_path)
    image, meta = read_tiff(tmp_path / "disc.tif")
    np.testing.assert_array_equal(disc.image.astype(np.float32), image)  # the same simulation, rounded as the TIFF is
    _same_metadata(disc.metadata, meta)
    assert disc.image.dtype == np.float64 and disc.side == 16 and not disc.image.flags.writeable
    assert (disc.thickness, disc.voltage, disc.thicknesses) == (500.0, 200.0, (500.0,))
    assert disc.pixel_size == pytest.approx(2 * math.pi * 1.0 / 8)  # Δk = 2π·outer_convergence_angle/N
    kx, ky = disc.k_axes()
    assert kx[0] == pytest.approx(-7.5 * disc.pixel_size) and disc.extent[1] == pytest.approx(8 * disc.pixel_size)
    disc.save(tmp_path / "saved.tif")
    back = lb.read_disc(tmp_path / "saved.tif")
    np.testing.assert_array_equal(back.image, image)
    assert (back.thickness, back.pixel_size, back.beam_direction) == (500.0, disc.pixel_size, (0, 0, 1))

    for kind, name in (("edd", "edd.tif"), ("deformation", "def.tif")):
        density = lb.project_edd(crystal, config_path, kind)
        image, meta = read_tiff(tmp_path / name)
        np.testing.assert_array_equal(density.image.astype(np.float32), image)
        _same_metadata({**density.metadata, "cif": None}, {**meta, "cif": None})
        assert density.field_of_view == pytest.approx(5.65325) and density.pixel_size == pytest.approx(5.65325 / 16)
    # the deformation density holds the charge alone: none for neutral atoms, the moved charge sums to 0 in a cell
    neutral = lb.project_edd(lb.prototype_crystal("zincblende", GAAS), config_path, "deformation")
    assert np.abs(neutral.image).max() == 0.0
    charged = lb.project_edd(crystal, config_path, "deformation")
    assert np.abs(charged.image).max() > 0.01 and abs(charged.electrons) < 1e-6
    # and the charge shows in the disc
    plain = lb.simulate_disc(lb.read_crystal(_cif(tmp_path, 0.0, "gaas0")[0]), config_path)
    assert np.sqrt(np.mean((disc.image - plain.image) ** 2)) > 1e-3


def test_noise_is_the_noisy_command(tmp_path) -> None:
    _, config_path = _config_file(tmp_path)
    _, crystal = _cif(tmp_path, 0.3)
    disc = lb.simulate_disc(crystal, config_path)
    disc.save(tmp_path / "disc.tif")
    assert main(["noisy", str(tmp_path / "disc.tif"), "--counts", "1e4", "--seed", "3", "--out", str(tmp_path / "n.tif")]) == 0
    noisy = lb.add_noise(lb.read_disc(tmp_path / "disc.tif"), 1e4, seed=3)
    image, meta = read_tiff(tmp_path / "n.tif")
    np.testing.assert_array_equal(noisy.image.astype(np.float32), image)
    assert noisy.metadata["noise"]["counts_per_unit_intensity"] == meta["noise"]["counts_per_unit_intensity"] == 1e4
    assert not np.array_equal(noisy.image, disc.image) and noisy.series is None


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_refine_is_the_command_and_recovers_delta_within_its_sigma(tmp_path) -> None:
    config, config_path = _config_file(tmp_path)
    _, truth = _cif(tmp_path, 0.3, "truth")
    start_cif, start = _cif(tmp_path, 0.0, "start")
    lb.add_noise(lb.simulate_disc(truth, config), 1e4, seed=1).save(tmp_path / "noisy.tif")
    disc = lb.read_disc(tmp_path / "noisy.tif")  # the float32 disc the command reads
    with warnings.catch_warnings():
        warnings.simplefilter("error", lb.FitWarning)  # a good fit of a fair disc warns of nothing
        fit = lb.refine_disc(start, disc, config, "delta", counts=1e4, roles=ROLES)
    assert main(["refine", str(start_cif), str(tmp_path / "noisy.tif"), "--config", str(config_path), "--free", "delta",
                 "--counts", "1e4", "--roles", "Ga=cation,As=anion", "--out", str(tmp_path / "fit")]) == 0
    report = json.loads((tmp_path / "fit" / "report.json").read_text())
    assert list(fit.names) == list(report["parameters"]) == ["delta", "scale", "background"]
    for name, p in report["parameters"].items():
        assert fit.values[name] == pytest.approx(p["value"], rel=1e-9, abs=1e-12)
        assert fit.sigma[name] == pytest.approx(p["sigma"], rel=1e-9)
        assert fit.units[name] == p["unit"]
    assert fit.reduced_chi2 == pytest.approx(report["reduced_chi2"], rel=1e-9) and fit.converged
    assert {k: v for k, v in fit.report.items() if k not in ("cif", "disc", "seconds")} == \
        {k: v for k, v in report.items() if k not in ("cif", "disc", "seconds")}
    fitted, _ = read_tiff(tmp_path / "fit" / "fitted.tif")
    np.testing.assert_array_equal(fit.fitted.astype(np.float32), fitted)
    # the physics: δ = 0.3 recovered from δ = 0 within its standard uncertainty, which is small
    assert abs(fit.values["delta"] - 0.3) < fit.sigma["delta"] < 0.1
    assert fit.start["delta"] == pytest.approx(0.0)
    refined = {s.element: s.pv for s in fit.crystal.sites}
    assert refined["Ga"] == pytest.approx(3 - fit.values["delta"], abs=1e-9) and refined["As"] == pytest.approx(5 + fit.values["delta"], abs=1e-9)
    assert "delta" in str(fit) and "e per formula unit" in fit.units["delta"]


# ----- surrogates: tiny real models --------------------------------------------------------------


@pytest.fixture(scope="module")
def image_model(tmp_path_factory) -> Path:
    """model.pt of a 1-epoch tiny pix2pix (edd2lacbed) on a tiny 32² synthetic dataset."""
    from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
    from lacbed_bridge.surrogate.config import TrainConfig
    from lacbed_bridge.surrogate.train import train

    root = tmp_path_factory.mktemp("api_results")
    csvs = synthetic.make_results(root)
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed")
    build_dataset(refs, root / "dataset", seed=0)
    return train(root / "dataset", root / "model", direction="edd2lacbed", seed=0,
                 config=TrainConfig(epochs=1, ngf=4, ndf=4, batch_size=4, device="cpu"))


def test_predict_image_equals_the_command(image_model, tmp_path) -> None:
    _, config_path = _config_file(tmp_path, pixel_count=16)  # the model's 32² grid
    cif, crystal = _cif(tmp_path, 0.5)
    edd = synthetic.edd_image(32, 31.0, 33.0, 0.5)
    from lacbed_bridge.io import write_tiff

    write_tiff(tmp_path / "edd.tif", edd, {"kind": "edd"})
    assert main(["predict", str(image_model), str(tmp_path / "edd.tif"), "--out", str(tmp_path / "p.tif")]) == 0
    assert main(["predict", str(image_model), str(cif), "--config", str(config_path), "--out", str(tmp_path / "c.tif")]) == 0
    pred = lb.predict_image(image_model, edd)
    image, meta = read_tiff(tmp_path / "p.tif")
    np.testing.assert_array_equal(pred.image, image)
    assert pred.kinds == ("lacbed",) and pred.direction == "edd2lacbed" and pred.units == {"lacbed": "intensity per unit incident beam"}
    assert pred.metadata["dataset_hash"] == meta["dataset_hash"] and pred.image.shape == (32, 32)
    # a crystal, or its EDD image from project_edd, gives what the command makes of its CIF
    from_crystal = lb.predict_image(image_model, crystal, config_path)
    from_edd = lb.predict(image_model, lb.project_edd(crystal, config_path))
    image, meta = read_tiff(tmp_path / "c.tif")
    np.testing.assert_array_equal(from_crystal.image, image)
    np.testing.assert_array_equal(from_edd.image, image)
    assert from_crystal.warning == meta.get("warning")
    # an input far outside the training data's range is said to be an extrapolation, as the command says
    with pytest.warns(UserWarning, match="extrapolation"):
        far = lb.predict_image(image_model, 50.0 * edd)
    assert "extrapolation" in far.metadata["warning"]
    from lacbed_bridge.errors import InputError

    with pytest.raises(InputError, match="takes"):
        lb.predict_image(image_model, lb.project_edd(crystal, config_path, "deformation"))
    with pytest.raises(InputError, match="does not match"):
        lb.predict_image(image_model, edd[:16, :16])


@pytest.fixture(scope="module")
def estimator(tmp_path_factory) -> Path:
    """A tiny charge estimator (2 members, a few epochs) on synthetic 16² charge series."""
    from lacbed_bridge.dataset.builder import build_dataset, sample_refs_from_variants
    from lacbed_bridge.surrogate.estimator import EstimatorConfig
    from lacbed_bridge.surrogate.estimator_train import train_estimator

    root = tmp_path_factory.mktemp("api_series")
    csvs = synthetic.make_results(root, {"F-43m_zincblende": 8 * 3, "Fm-3m_rocksalt": 4 * 3}, side=16, charge_states=3)
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed")
    build_dataset(refs, root / "dataset", seed=5, split_fractions=(0.6, 0.2, 0.2))
    train_estimator(root / "dataset", root / "est", seed=0, config=EstimatorConfig(epochs=4, channels=4, batch_size=8, folds=2))
    return root / "est"


def test_estimate_charge_equals_the_command(estimator, tmp_path, capsys) -> None:
    config, _ = _config_file(tmp_path)  # 16² discs: the estimator's side
    discs = [lb.simulate_disc(lb.prototype_crystal("zincblende", GAAS, delta=d), config) for d in (0.0, 0.6)]
    folder = tmp_path / "discs"
    folder.mkdir()
    for i, disc in enumerate(discs):
        disc.save(folder / f"d{i}.tif")
    assert main(["predict", str(estimator), str(folder), "--out", str(tmp_path / "e.json")]) == 0
    written = json.loads((tmp_path / "e.json").read_text())["discs"]
    one = lb.estimate_charge(estimator, discs[0])
    both = lb.predict(estimator, discs)
    assert isinstance(one, lb.ChargeEstimate) and len(both) == 2
    for est, row in zip(both, written, strict=True):
        assert est.delta == pytest.approx(row["delta"], rel=1e-6) and est.delta_sigma == pytest.approx(row["delta_sigma"], rel=1e-6)
    # one disc alone or in a batch: the same estimate (to rounding: a batch of one convolves in another order)
    assert one.delta == pytest.approx(both[0].delta, rel=1e-6) and one.delta_sigma > 0 and one.units == {"delta": "e"}
    assert one.training_range["delta"] == (0.0, 1.0) and "±" in str(one)
    # an overall scale and a background do not change the reading (each disc is standardised)
    scaled = lb.estimate_charge(estimator, 250.0 + 3e4 * discs[0].image)
    assert scaled.delta == pytest.approx(one.delta, abs=1e-4)
