"""The crystal stage's sub-commands: ``variants`` and ``cif-check`` (exit codes, messages)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lacbed_bridge.cli import main
from lacbed_bridge.crystal.cif import read_cif

REPO_ROOT = Path(__file__).resolve().parents[2]


def _small_config(tmp_path: Path) -> Path:
    with open(REPO_ROOT / "config.yaml") as handle:
        config = yaml.safe_load(handle)
    config["families"] = [{"name": "Fm-3m_fluorite", "prototype": "fluorite", "n_variants": 3, "seed": 5}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_variants_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["variants", str(_small_config(tmp_path)), "--family", "Fm-3m_fluorite", "--out", str(out)]) == 0
    assert "wrote 3 variants" in capsys.readouterr().out
    cifs = sorted(out.glob("*.cif"))
    assert [p.name for p in cifs] == [f"Fm-3m_fluorite_{i:06d}.cif" for i in range(3)]
    assert (out / "variants.csv").is_file()
    crystal = read_cif(cifs[0])
    assert crystal.spacegroup == "F m -3 m" and len(crystal.unit_cell_atoms()) == 12
    assert main(["cif-check", str(cifs[0])]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "kappa model" in line and "F8" in line


def test_variants_unknown_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["variants", str(_small_config(tmp_path)), "--family", "nope", "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown family 'nope'" in err[0] and "Fm-3m_fluorite" in err[0]
    assert not (tmp_path / "o").exists()


def test_variants_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _small_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["families"][0]["prototype"] = "quasicrystal"
    path.write_text(yaml.safe_dump(config))
    assert main(["variants", str(path), "--family", "Fm-3m_fluorite", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown prototype 'quasicrystal'" in err and "zincblende" in err and "Traceback" not in err
    assert main(["variants", str(tmp_path / "absent.yaml"), "--family", "x", "--out", str(tmp_path / "o")]) == 2


def test_cif_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cif-check", str(tmp_path / "absent.cif")]) == 2
    assert "CIF file not found" in capsys.readouterr().err
