"""``lacbed-bridge check-config``: the workflow's whole-config check from the command line, with YAML
syntax errors located by line and column (issue #11 item 9; Snakemake's own message names neither)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lacbed_bridge.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_valid_config_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(REPO / "config.yaml")]) == 0
    assert "ok" in capsys.readouterr().out


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (REPO / "config.yaml").read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("pixel_count:"))
    lines[index] = lines[index].replace("pixel_count:", "pixel_count: [", 1) + " x: y"
    bad = tmp_path / "bad config.yaml"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(bad) in err and "not valid YAML at line" in err
    line = int(err.split("at line ")[1].split(",")[0])
    assert abs(line - (index + 1)) <= 1  # the broken line (or the next, where the parser notices)


def test_a_value_error_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"]["incident_beam_direction"] = [0, 0, 0]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    assert "incident_beam_direction" in capsys.readouterr().err
