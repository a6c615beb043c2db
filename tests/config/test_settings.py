"""One settings source (issue #12 item 4): every stage's frozen settings object takes its defaults
from the config schema, and its hash is the reuse key of the stage's outputs."""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from lacbed_bridge.config import load_config, schema_defaults, section_settings
from lacbed_bridge.errors import ConfigError, InputError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_settings_objects_take_the_schema_defaults() -> None:
    """A config that states nothing of a section gets exactly the schema's defaults in the object."""
    from lacbed_bridge.dataset.cli import DatasetSettings
    from lacbed_bridge.pipeline.settings import RefineTestSettings, WorkflowSettings
    from lacbed_bridge.simulate.felix.runner import felix_config
    from lacbed_bridge.simulate.run import simulation_settings
    from lacbed_bridge.simulate.settings import BuiltinOptions, Convergence
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
    assert (options.pool_mode, options.use_symmetry, options.mean_absorption, options.complex_dtype, options.solver) == tuple(
        simulation[k] for k in ("pool", "use_symmetry", "mean_absorption", "complex_dtype", "solver"))
    assert simulation_settings({"simulation": {"backend": "builtin"}}).convergence == Convergence()


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


#: every settings dataclass whose fields have defaults: (class, its config section, field → schema
#: key where the names differ, fields that are no config key)
def _defaulted_settings() -> list[tuple[type, str, dict[str, str], set[str]]]:
    from lacbed_bridge.pipeline.settings import WorkflowSettings
    from lacbed_bridge.simulate.settings import REFINEMENT_ONLY, BuiltinOptions, Convergence, LacbedSettings
    from lacbed_bridge.surrogate.config import EstimatorConfig, EvaluateConfig, TrainConfig

    return [
        (LacbedSettings, "simulation", {}, set(REFINEMENT_ONLY)),
        (BuiltinOptions, "simulation", {"pool_mode": "pool"}, {"constants"}),  # Felix's constants: the drop-in's
        (Convergence, "simulation.convergence", {}, set()),
        (TrainConfig, "train", {}, set()),
        (EvaluateConfig, "evaluate", {}, set()),
        (EstimatorConfig, "estimator", {}, set()),
        (WorkflowSettings, "workflow", {}, set()),
    ]


def test_every_dataclass_default_is_the_schemas() -> None:
    """The schema is the one place a default is written: each default a settings dataclass declares
    equals the schema's default of its key (a literal written in the class that disagrees fails
    here), and every settings class of the package with defaults is in this list."""
    import ast
    from dataclasses import MISSING, fields

    listed = _defaulted_settings()
    for cls, section, renamed, not_config in listed:
        schema = schema_defaults(section)
        checked = 0
        for f in fields(cls):
            if f.default is MISSING and f.default_factory is MISSING:
                continue
            default = f.default if f.default is not MISSING else f.default_factory()
            if f.name in not_config:
                assert renamed.get(f.name, f.name) not in schema, f"{cls.__name__}.{f.name} is a config key after all"
                continue
            key = renamed.get(f.name, f.name)
            assert key in schema, f"{cls.__name__}.{f.name}: no default for {section}.{key} in the schema"
            want = schema[key]
            got = list(default) if isinstance(default, tuple) else default
            assert got == want and type(got) is type(want), f"{cls.__name__}.{f.name} = {default!r}, schema {section}.{key}: {want!r}"
            checked += 1
        assert checked, cls
    # every frozen settings dataclass in the package that declares a default is listed above
    names = {cls.__name__ for cls, *_ in listed}
    unlisted = []
    for path in (REPO_ROOT / "src" / "lacbed_bridge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ClassDef) and node.name.endswith(("Settings", "Config", "Options"))
                    and any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "dataclass" for d in node.decorator_list)
                    and any(isinstance(s, ast.AnnAssign) and s.value is not None for s in node.body)):
                if node.name not in names:
                    unlisted.append(f"{path.name}:{node.name}")
    assert not unlisted, f"settings dataclasses with defaults not checked against the schema: {unlisted}"


def test_the_builtin_defaults_are_the_schemas_shells_with_symmetry() -> None:
    """simulate_builtin without options computes what a config that says nothing asks for: complete
    shells with the disc's symmetry (before, the solver defaulted to Felix's pool without symmetry)."""
    from dataclasses import replace

    from lacbed_bridge.crystal.prototypes import load_prototypes
    from lacbed_bridge.simulate.bloch import simulate_builtin
    from lacbed_bridge.simulate.run import simulation_settings
    from lacbed_bridge.simulate.settings import BuiltinOptions

    config = load_config(REPO_ROOT / "config.yaml")
    config["simulation"]["convergence"] = None
    sim = simulation_settings(config)
    settings = replace(sim.lacbed, pixel_count=4, min_reflection_pool=30, min_strong_beams=10)
    crystal = load_prototypes()["zincblende"].crystal()
    plain = simulate_builtin(crystal, settings, device="cpu")
    assert plain.info["pool_mode"] == "shells" and plain.info["pixels_solved"] < settings.side**2
    assert np.array_equal(plain.disc(), simulate_builtin(crystal, settings, sim.builtin, device="cpu").disc())
    felix = simulate_builtin(crystal, settings, BuiltinOptions.as_felix(), device="cpu")
    assert felix.info["pool_mode"] == "felix" and felix.info["pixels_solved"] == settings.side**2


def test_the_reuse_keys_of_existing_results_are_unchanged() -> None:
    """Images made before the settings objects were reshaped are still reused: the stage hashes of
    the repository's configs are those the earlier code gave (recorded from commit 9398f0a), so an
    upgrade does not resimulate a results/ tree."""
    from lacbed_bridge.pipeline.batch import stage_hash

    recorded = {
        "config.yaml": ("014216aa76071a01fe07d76b13b56c4847dc3867517831994e2c8d8a832ab416",
                        "1016d0dcf10576737b73b8b70b0a776e6b7f44e6b2a9278d7be731c8c9b55e0d"),
        "configs/paper.yaml": ("fb68b041f340919ba48bf950ae7b9a5826e2f019724c71049dd76cddf3ceed15",
                               "dfb93228b86218d60f1f23917ef2150921d516797b0f55e7b4661d839816895f"),
        "configs/accuracy.yaml": ("204eadd11d5ec2fc291fafdfe00d3b13ed3c799d517d6f9fc73aab4b0d815f13",
                                  "75428373d7182f6a11354f09be4e6cb99289c3d149af0fa7e95cd8d3b47f65e7"),
    }
    for name, (lacbed, edd) in recorded.items():
        config = load_config(REPO_ROOT / name)
        assert (stage_hash(config, "lacbed"), stage_hash(config, "edd")) == (lacbed, edd), name
