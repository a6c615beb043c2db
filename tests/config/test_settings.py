"""One settings source (issue #12 item 4): every stage's frozen settings object takes its defaults
from the config schema, and its hash is the reuse key of the stage's outputs."""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from lacbed_bridge.config import load_config, schema_defaults, section_settings
from lacbed_bridge.errors import ConfigError, InputError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_settings_objects_take_the_schema_defaults() -> None:
    """A config that states nothing of a section gets exactly the schema's defaults in the object."""
    from lacbed_bridge.dataset.cli import DatasetSettings
    from lacbed_bridge.pipeline.settings import RefineTestSettings, WorkflowSettings
    from lacbed_bridge.simulate.convergence import Convergence
    from lacbed_bridge.simulate.felix.runner import felix_config
    from lacbed_bridge.simulate.run import BuiltinOptions
    from lacbed_bridge.surrogate.config import WORKFLOW_KEYS, EvaluateConfig, TrainConfig

    train = schema_defaults("train")
    workflow = WorkflowSettings.from_config({})
    assert asdict(workflow) == {**{k: tuple(v) if isinstance(v, list) else v for k, v in schema_defaults("workflow").items()},
                                "directions": tuple(train["directions"]), "seeds": tuple(train["seeds"]), "split": train["split"]}
    assert asdict(RefineTestSettings.from_config({})) == schema_defaults("refine")
    dataset = DatasetSettings.from_config(None)
    assert list(dataset.split_fractions) == schema_defaults("dataset")["split_fractions"]
    assert (dataset.random_splits, dataset.loso_groups, dataset.side) == tuple(
        schema_defaults("dataset")[k] for k in ("random_splits", "loso_groups", "side"))
    assert TrainConfig().to_dict() == {k: v for k, v in train.items() if k not in WORKFLOW_KEYS}
    assert asdict(EvaluateConfig()) == schema_defaults("evaluate")
    assert asdict(Convergence()) == schema_defaults("simulation.convergence")
    assert felix_config(None) == schema_defaults("simulation.felix")
    simulation = schema_defaults("simulation")
    options = BuiltinOptions.from_config({"backend": "builtin"})
    assert (options.pool_mode, options.use_symmetry, options.mean_absorption, options.complex_dtype) == tuple(
        simulation[k] for k in ("pool", "use_symmetry", "mean_absorption", "complex_dtype"))
    assert options.convergence == Convergence()


def test_a_validated_config_holds_every_section_with_its_defaults() -> None:
    """Optional sections absent from a config are filled from the schema, so no code needs its own
    fallback (``config.get("train") or {}``)."""
    config = load_config(REPO_ROOT / "config.yaml")
    bare = copy.deepcopy(config)
    for section in ("train", "evaluate", "workflow", "dataset", "refine", "cluster"):
        bare.pop(section)
    bare["simulation"].pop("felix")
    from lacbed_bridge.config import validate_config

    filled = validate_config(bare)
    for section in ("evaluate", "workflow", "dataset", "refine"):
        assert filled[section] == schema_defaults(section)
    assert filled["simulation"]["felix"] == schema_defaults("simulation.felix")
    assert section_settings(bare, "train") == schema_defaults("train")


def test_the_edd_settings_take_the_schema_defaults_and_hash_what_the_image_depends_on() -> None:
    from lacbed_bridge.edd.settings import edd_settings

    config = load_config(REPO_ROOT / "config.yaml")
    del config["edd"]
    settings = edd_settings(config)
    edd = schema_defaults("edd")
    assert (settings.s_max, settings.pixel_value, settings.tolerance) == (edd["s_max"], edd["pixel_value"], edd["tolerance"])
    assert settings.field_of_view is None and edd["field_of_view"] == "lattice"
    changed = copy.deepcopy(config)
    changed["simulation"]["debye_waller_constant"] = 1.5
    assert edd_settings(changed).reuse_hash() != settings.reuse_hash()
    changed = copy.deepcopy(config)
    changed["simulation"]["absorption_per"] = 1.0  # the LACBED disc's business, not the EDD image's
    assert edd_settings(changed).reuse_hash() == settings.reuse_hash()


def test_the_simulation_reuse_hash_holds_what_the_disc_depends_on_only() -> None:
    from lacbed_bridge.simulate.run import simulation_settings

    config = load_config(REPO_ROOT / "config.yaml")
    base = simulation_settings(config).reuse_hash()

    def changed(**values: object) -> str:
        other = copy.deepcopy(config)
        for key, value in values.items():
            section = other["simulation"]
            *parents, last = key.split("__")
            for parent in parents:
                section = section[parent]
            section[last] = value
        return simulation_settings(other).reuse_hash()

    # how the work is done: the same discs
    assert changed(pixel_chunk=7) == base
    assert changed(felix__timeout_s=10.0, felix__retries=5) == base
    assert changed(felix__command="mpirun -n 1 felix") == base  # the builtin backend does not run Felix
    # what the disc depends on
    for values in ({"absorption_per": 1.0}, {"mean_absorption": True}, {"pool": "felix"}, {"convergence": None},
                   {"convergence__target_rms": 0.001}, {"debye_waller_constant": 0.3}, {"backend": "felix"},
                   {"complex_dtype": "complex128"}, {"device": "cuda"}):
        assert changed(**values) != base, values
    with pytest.raises(ConfigError, match="thickness series") as info:
        changed(thickness_index=99)
    assert info.value.field == "simulation.thickness_index"


def test_pixel_count_has_one_bound_for_configs_and_felix_inp() -> None:
    """The schema's pixel_count range is the one a felix.inp read by the drop-in is held to."""
    from lacbed_bridge.config import load_schema
    from lacbed_bridge.simulate.settings import LacbedSettings, pixel_count_range

    spec = load_schema()["properties"]["simulation"]["properties"]["pixel_count"]
    assert pixel_count_range() == (spec["minimum"], spec["maximum"])
    LacbedSettings(pixel_count=spec["maximum"]).validate()
    with pytest.raises(InputError, match=re.escape(f"{spec['minimum']}..{spec['maximum']}")) as info:
        LacbedSettings(pixel_count=spec["maximum"] + 1).validate(path="felix.inp")
    assert info.value.field == "IPixelCount"
    with pytest.raises(InputError):
        replace(LacbedSettings(), pixel_count=0).validate()


def test_the_network_side_rule_is_checked_in_one_place() -> None:
    from lacbed_bridge.surrogate.config import check_side

    for side in (32, 64, 128, 256):
        check_side(side)
    for side in (16, 48, 96, 100):
        with pytest.raises(ConfigError, match="power of two"):
            check_side(side)
