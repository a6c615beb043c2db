"""config.yaml and its JSON schema: the demo validates, defaults fill in, bad values are named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from lacbed_bridge.cli import main
from lacbed_bridge.config import load_config, load_schema, validate_config
from lacbed_bridge.errors import ConfigError
from lacbed_bridge.simulate.settings import LacbedSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.mark.parametrize("path", [REPO / "config.yaml", *sorted((REPO / "configs").glob("*.yaml"))], ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    config = load_config(path)
    settings = LacbedSettings.from_config(config["simulation"])
    assert settings.side == 2 * config["simulation"]["pixel_count"]
    assert config["workflow"]["batch_size"] >= 1


def test_defaults_are_filled_from_the_schema(demo: dict) -> None:
    config = validate_config(demo)
    family = config["families"][1]
    schema_family = load_schema()["properties"]["families"]["items"]["properties"]
    assert family["u_iso"] == schema_family["u_iso"]["default"]
    assert "u_iso" not in demo["families"][1]  # the input is not modified


@pytest.mark.parametrize(
    "edit,key,words",
    [
        (lambda c: c["simulation"].update(pixel_count=0), "simulation.pixel_count", ["0"]),
        (lambda c: c["simulation"].update(backend="abtem"), "simulation.backend", ["abtem", "builtin"]),
        (lambda c: c["families"][0].update(n_variants="many"), "families[0].n_variants", ["many", "integer"]),
        (lambda c: c["families"][0].update(delta=[0.0, 5.0]), "families[0].delta[1]", ["5.0"]),
        (lambda c: c.update(sed=1), "(top level)", ["sed"]),
        (lambda c: c.pop("seed"), "(top level)", ["seed"]),
        (lambda c: c["simulation"].update(incident_beam_direction=[0, 1]), "simulation.incident_beam_direction", ["[0, 1]"]),
    ],
)
def test_invalid_config_names_key_value_and_expectation(demo: dict, edit, key: str, words: list[str]) -> None:
    config = copy.deepcopy(demo)
    edit(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config, path="my.yaml")
    message = str(info.value)
    assert message.startswith("my.yaml: ") and key in message
    assert all(w in message for w in words), message


def test_cli_reports_a_bad_config_in_one_line(tmp_path: Path, demo: dict, capsys: pytest.CaptureFixture[str]) -> None:
    config = copy.deepcopy(demo)
    config["simulation"]["accelerating_voltage"] = -200
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["variants", str(path), "--family", "F-43m_zincblende", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.yaml" in err and "simulation.accelerating_voltage" in err and "-200" in err
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(path)


@pytest.mark.parametrize(("section", "key", "value"), [
    ("simulation", "pixel_count", 16.0), ("simulation", "min_reflection_pool", 60.0), ("train", "epochs", 1.0),
    ("workflow", "batch_size", 20.0),
])
def test_a_float_in_an_integer_key_is_named(demo: dict, section: str, key: str, value: float) -> None:
    config = copy.deepcopy(demo)
    config[section][key] = value
    with pytest.raises(ConfigError, match=rf"{section}\.{key}.*{value}.*integer"):
        validate_config(config)
