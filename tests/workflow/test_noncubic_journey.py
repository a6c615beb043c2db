"""Adding non-cubic space groups, end to end: one cubic and two non-cubic families through figures.

The journey of the README's "Adding a space group": shipped prototypes (wurtzite P6₃mc, rutile
P4₂/mnm) next to zincblende, the hexagonal family along its own [0001] (four-index geometry) while
the others keep config.yaml's [001]; c/a and u sampled. Checked: every stage's outputs, each
family's discs equal their images under the operations of the crystal's symmetry along its beam,
the EDD field of view stated per sample, a leave-one-space-group-out split per space group.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from support.workflow import snakemake, tiny_config

from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.io import read_tiff
from lacbed_bridge.crystal.orientation import microscope_frame
from lacbed_bridge.simulate.run import simulation_settings
from lacbed_bridge.simulate.symmetry import disc_symmetry

pytestmark = pytest.mark.slow

FAMILIES = [
    {"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 4, "charge_states": 2},
    {"name": "P63mc_wurtzite", "prototype": "wurtzite", "n_variants": 4, "charge_states": 2,
     "cell_scale": {"c": [0.98, 1.02]}, "coordinates": {"u": [0.372, 0.385]},
     "geometry": {"incident_beam_direction": [0, 0, 0, 1], "x_direction": [1, 0, -1, 0], "normal_direction": [0, 0, 0, 1]}},
    {"name": "P42_mnm_rutile", "prototype": "rutile", "n_variants": 4, "charge_states": 2, "elements": {"M": ["Ti", "Sn"]}},
]
GROUPS = {"F-43m_zincblende": "2mm", "P63mc_wurtzite": "6mm", "P42_mnm_rutile": "4mm"}


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("noncubic")
    config = tiny_config()
    config["families"] = FAMILIES
    config["workflow"]["models"] = ["unet"]
    path = work / "noncubic.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake(work, "--cores", "2", config=path)  # the default target: everything, figures included
    from lacbed_bridge.config import load_config

    return work, load_config(path)


def test_every_family_reaches_the_dataset_and_the_figures(journey) -> None:
    work, _ = journey
    r = work / "results"
    manifest = pd.read_csv(r / "dataset" / "manifest.csv")
    assert manifest.groupby("family").size().to_dict() == {f["name"]: 4 for f in FAMILIES}
    assert set(manifest["spacegroup"]) == {"F -4 3 m", "P 63 m c", "P 42/m n m"}
    wurtzite = manifest[manifest["family"] == "P63mc_wurtzite"]
    assert (wurtzite["gamma"] == 120.0).all() and wurtzite["c"].ne(wurtzite["a"]).all()
    assert wurtzite["coord_u"].between(0.372, 0.385).all()
    # what the EDD image covers: one projected cell for the cubic and tetragonal [001] families,
    # 2/√3 of a cell and no lattice period for the hexagonal [0001] one
    periodic = manifest.groupby("family")["edd_periodic"].agg(lambda s: set(s.astype(str)))
    assert periodic.to_dict() == {"F-43m_zincblende": {"True"}, "P42_mnm_rutile": {"True"}, "P63mc_wurtzite": {"False"}}
    assert np.allclose(wurtzite["edd_cells_in_view"], 2 / np.sqrt(3))
    splits = json.loads((r / "dataset" / "dataset.json").read_text())["splits"]
    names = set(splits) if isinstance(splits, dict) else {s["name"] for s in splits}
    assert {"loso_P63mc", "loso_P42_mnm", "loso_F-43m"} <= names
    assert (r / "metrics" / "summary.csv").is_file()
    pngs = sorted((r / "figures").glob("*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 5000 for p in pngs)


@pytest.mark.parametrize("family", [f["name"] for f in FAMILIES])
def test_each_familys_discs_have_the_symmetry_of_the_crystal_along_its_beam(journey, family: str) -> None:
    work, config = journey
    settings = simulation_settings(config, family=family).lacbed
    lacbed = sorted((work / "results" / "lacbed" / family).glob("*.tif"))
    assert len(lacbed) == 4
    for path in lacbed:
        crystal = read_cif(work / "results" / "variants" / family / f"{path.stem}.cif")
        symmetry = disc_symmetry(crystal, microscope_frame(crystal, settings.geometry))
        assert symmetry.name == GROUPS[family]
        assert len(symmetry.pixel_operations) >= 2, "at least one operation besides the identity permutes pixels"
        image, meta = read_tiff(path)
        side = image.shape[0]
        n = side / 2
        rows, cols = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        xy = np.stack([cols.ravel() - n + 0.5, rows.ravel() - n + 0.5])
        for op in symmetry.pixel_operations:
            x2, y2 = op @ xy
            mapped = image[np.rint(y2 + n - 0.5).astype(int), np.rint(x2 + n - 0.5).astype(int)].reshape(image.shape)
            # float32 storage: equal to its symmetry images to float32 rounding
            assert np.abs(mapped - image).max() <= 1e-6 * np.abs(image).max(), (path.name, op.tolist())


def test_a_cif_family_through_the_variants_rule(tmp_path: Path) -> None:
    """A folder of the user's CIFs is the family's input: editing a CIF reruns exactly that family."""
    from lacbed_bridge.crystal.cif import write_cif
    from lacbed_bridge.crystal.prototypes import load_prototypes
    from support.workflow import job_counts

    folder = tmp_path / "my_cifs"
    folder.mkdir()
    prototypes = load_prototypes()
    write_cif(prototypes["wurtzite"].crystal({"A": "Al"}, name="AlN"), folder / "AlN.cif")
    write_cif(prototypes["rutile"].crystal({"M": "Sn"}, name="SnO2"), folder / "SnO2.cif")
    config = tiny_config()
    config["families"] = [FAMILIES[0], {"name": "mine", "cif_dir": "my_cifs", "n_variants": 4, "charge_states": 2,
                                        "roles": {"Al": "cation", "Sn": "cation", "N": "anion", "O": "anion"}}]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = [f"results/variants/{f['name']}/variants.csv" for f in config["families"]]
    snakemake(tmp_path, "--cores", "2", *targets, config=path)
    table = pd.read_csv(tmp_path / targets[1])
    assert list(table["prototype"]) == ["cif:AlN", "cif:AlN", "cif:SnO2", "cif:SnO2"]
    assert set(table["spacegroup"]) == {"P 63 m c", "P 42/m n m"}
    assert job_counts(snakemake(tmp_path, "-n", *targets, config=path)) == {}
    write_cif(prototypes["rutile"].crystal({"M": "Ge"}, name="GeO2"), folder / "SnO2.cif")
    assert job_counts(snakemake(tmp_path, "-n", *targets, config=path)).get("variants") == 1
