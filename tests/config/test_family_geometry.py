"""Per-family geometry (families[].geometry) and four-index (Miller–Bravais) notation."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from lacbed_bridge.pipeline.batch import run_batch, stage_hash
from lacbed_bridge.config import validate_config
from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.crystal.variants import write_family
from lacbed_bridge.edd.settings import edd_settings
from lacbed_bridge.edd.projection import project_density
from lacbed_bridge.errors import ConfigError
from lacbed_bridge.family_geometry import family_geometry, three_index
from lacbed_bridge.io import read_tiff
from lacbed_bridge.simulate.run import check_config, simulation_settings

REPO = Path(__file__).resolve().parents[2]
HEXAGONAL = load_prototypes()["wurtzite"].crystal()
ORTH = np.array(HEXAGONAL.gemmi_cell().orth.mat, dtype=float)  # fractional column -> Cartesian
FRAC = np.array(HEXAGONAL.gemmi_cell().frac.mat, dtype=float)  # rows: a*, b*, c* components


def _cartesian_direction(uvw) -> np.ndarray:
    v = ORTH @ np.asarray(uvw, dtype=float)
    return v / np.linalg.norm(v)


def test_four_index_directions_point_where_miller_bravais_says() -> None:
    """[u v t w] = u·a1 + v·a2 + t·a3 + w·c with a3 = −(a1 + a2): the three-index form is parallel."""
    a1, a2, c = (ORTH[:, i] for i in range(3))
    a3 = -(a1 + a2)
    count = 0
    for u, v, w in itertools.product(range(-2, 3), repeat=3):
        t = -(u + v)
        if not (u or v or w):
            continue
        expected = u * a1 + v * a2 + t * a3 + w * c
        got = _cartesian_direction(three_index([u, v, t, w], direct=True, field="f"))
        assert np.allclose(got, expected / np.linalg.norm(expected), atol=1e-12), (u, v, t, w)
        count += 1
    assert count > 100
    assert three_index([2, -1, -1, 0], direct=True, field="f") == (1, 0, 0)
    assert three_index([0, 0, 0, 1], direct=True, field="f") == (0, 0, 1)
    assert three_index([1, 0, -1, 0], direct=False, field="f") == (1, 0, 0)


def test_four_index_zone_law_carries_over() -> None:
    """(h k i l) ⟂ [u v t w] when hu + kv + it + lw = 0; the converted pair obeys hU + kV + lW = 0,
    i.e. the plane normal h·a* + k·b* + l·c* is perpendicular to the converted direction."""
    pairs = 0
    for h, k, l_ in itertools.product(range(-2, 3), repeat=3):
        for u, v, w in itertools.product(range(-2, 3), repeat=3):
            i, t = -(h + k), -(u + v)
            if not (h or k or l_) or not (u or v or w) or h * u + k * v + i * t + l_ * w != 0:
                continue
            hkl = np.array(three_index([h, k, i, l_], direct=False, field="x"), dtype=float)
            uvw = np.array(three_index([u, v, t, w], direct=True, field="b"), dtype=float)
            normal = hkl @ FRAC
            assert abs(normal @ (ORTH @ uvw)) < 1e-9 * np.linalg.norm(normal) * np.linalg.norm(ORTH @ uvw)
            pairs += 1
    assert pairs > 50


@pytest.mark.parametrize(("vector", "words"), [([1, 1, 1, 0], "u + v + t = 0"), ([1, 0, 0, 0, 1], "expected three indices")])
def test_bad_four_index_vectors_name_the_key(vector, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        three_index(vector, direct=True, field="families[w].geometry.incident_beam_direction")
    assert info.value.field == "families[w].geometry.incident_beam_direction" and words in str(info.value)


def _config(families: list[dict]) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["families"] = families
    config["simulation"].update(pixel_count=8, min_reflection_pool=30, min_strong_beams=10, device="cpu")
    config["workflow"] = {"batch_size": 2}
    return validate_config(config)


HEX_GEOMETRY = {"incident_beam_direction": [0, 0, 0, 1], "x_direction": [1, 0, -1, 0], "normal_direction": [0, 0, 0, 1]}


def test_a_familys_geometry_overrides_only_that_family() -> None:
    config = _config([{"name": "z", "prototype": "zincblende", "n_variants": 2},
                      {"name": "w", "prototype": "wurtzite", "n_variants": 2, "geometry": HEX_GEOMETRY}])
    config["simulation"].update(incident_beam_direction=[1, 1, 0], x_direction=[1, -1, 0], normal_direction=[1, 1, 0])
    before = copy.deepcopy(config)
    assert family_geometry(config, "z") == {}
    assert family_geometry(config, "w") == {"incident_beam_direction": (0, 0, 1), "x_direction": (1, 0, 0),
                                            "normal_direction": (0, 0, 1)}
    shared, own = simulation_settings(config, family="z").lacbed, simulation_settings(config, family="w").lacbed
    assert config == before, "the shared config is not modified"
    assert shared == simulation_settings(config).lacbed
    assert (own.incident_beam_direction, own.x_direction, own.normal_direction) == ((0, 0, 1), (1, 0, 0), (0, 0, 1))
    assert replace(own, incident_beam_direction=shared.incident_beam_direction, x_direction=shared.x_direction,
                   normal_direction=shared.normal_direction) == shared, "only the directions differ"
    edd_w = edd_settings(config, family="w")
    assert (edd_w.beam_direction, edd_w.x_direction) == ((0, 0, 1), (1, 0, 0))
    assert edd_settings(config, family="z") == edd_settings(config)
    check_config(config)  # a cubic [110] family and a hexagonal [0001] family together
    assert stage_hash(config, "edd", "w") != stage_hash(config, "edd", "z") == stage_hash(config, "edd")
    assert stage_hash(config, "lacbed", "w") != stage_hash(config, "lacbed", "z") == stage_hash(config, "lacbed")


@pytest.mark.parametrize(
    ("geometry", "field", "words"),
    [
        ({"incident_beam_direction": [0, 0, 0, 1]}, "families[1].geometry.incident_beam_direction", "needs a hexagonal cell"),
        ({"incident_beam_direction": [1, 1, 0], "x_direction": [1, 0, 0]}, "families[1].geometry.x_direction", "not perpendicular"),
    ],
)
def test_bad_family_geometry_names_the_family_key(geometry: dict, field: str, words: str) -> None:
    config = _config([{"name": "w", "prototype": "wurtzite", "n_variants": 2, "geometry": HEX_GEOMETRY},
                      {"name": "z", "prototype": "zincblende", "n_variants": 2, "geometry": geometry}])
    with pytest.raises(ConfigError) as info:
        check_config(config)
    assert info.value.field == field and words in str(info.value)


def test_batch_images_use_the_family_geometry(tmp_path: Path) -> None:
    """A hexagonal family projected along its own [0001] while the shared simulation looks along [001]
    of every other family: the batch's EDD images equal a direct projection along c."""
    config = _config([{"name": "w", "prototype": "wurtzite", "n_variants": 2, "geometry": HEX_GEOMETRY}])
    config["simulation"].update(incident_beam_direction=[1, 1, 0], x_direction=[1, -1, 0], normal_direction=[1, 1, 0])
    write_family(config, "w", tmp_path / "cif")
    run_batch(config, "w", 0, stage="edd", cif_dir=tmp_path / "cif", out_dir=tmp_path / "edd", manifest=tmp_path / "m.csv")
    from lacbed_bridge.crystal.cif import read_cif

    crystal = read_cif(tmp_path / "cif" / "w_000000.cif")
    image, meta = read_tiff(tmp_path / "edd" / "w_000000.tif")
    expected = project_density(crystal, side=16, beam_direction=(0, 0, 1), x_direction=(1, 0, 0))
    other = project_density(crystal, side=16, beam_direction=(1, 1, 0), x_direction=(1, -1, 0))
    assert np.allclose(image, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(image, other, rtol=1e-2)
