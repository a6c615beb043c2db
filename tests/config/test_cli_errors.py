"""Bad paths and files through the CLI: one line naming the file, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacbed_bridge.cli import main

REPO = Path(__file__).resolve().parents[2]


def _one_line_error(capsys: pytest.CaptureFixture[str], *names: str) -> None:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and all(n in err for n in names), err


def test_config_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["variants", str(tmp_path), "--family", "x", "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, str(tmp_path))


def test_output_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cif = REPO / "tests" / "data" / "felix_reference" / "GaAs_m110_930A_64px" / "felix.cif"
    (tmp_path / "out.tif").mkdir()
    assert main(["edd", str(cif), "--config", str(REPO / "config.yaml"), "--out", str(tmp_path / "out.tif")]) == 2
    _one_line_error(capsys, "out.tif", "folder")


def test_empty_variants_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "variants.csv"
    empty.write_text("")
    args = ["dataset", "--variants", str(empty), "--edd-root", str(tmp_path), "--lacbed-root", str(tmp_path), "--out", str(tmp_path / "d")]
    assert main(args) == 2
    _one_line_error(capsys, "variants.csv")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("content", ["", "{}", "[1, 2]"])
def test_metrics_summary_rejects_non_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    fake = tmp_path / "metrics.json"
    fake.write_text(content)
    assert main(["metrics-summary", str(fake), "--out", str(tmp_path / "summary.csv")]) == 2
    _one_line_error(capsys, "metrics.json")
    assert not (tmp_path / "summary.csv").exists()
