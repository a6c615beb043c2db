"""Dataset building: files, hashes, exclusion reporting, dataset-wide normalisation, determinism."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from lacbed_bridge.cli import main
from lacbed_bridge.dataset.builder import build_dataset, image_sha256, sample_refs_from_variants
from lacbed_bridge.dataset.torch_dataset import PairedImageDataset
from lacbed_bridge.errors import InputError
from lacbed_bridge.io import read_tiff, write_tiff


def _refs(root: Path, csvs: list[Path]):
    return sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed")


def test_stacks_manifest_and_hashes(results, tmp_path):
    root, csvs = results
    refs = _refs(root, csvs)
    info = build_dataset(refs, tmp_path / "ds", seed=3)
    assert info.n == 14 and info.side == 32 and info.excluded == []
    manifest = pd.read_csv(tmp_path / "ds" / "manifest.csv")
    assert manifest["sample_id"].tolist() == sorted(r.sample_id for r in refs)
    for kind in ("edd", "lacbed"):
        stack = tifffile.memmap(tmp_path / "ds" / f"{kind}.tif", mode="r")
        assert stack.shape == (14, 32, 32) and stack.dtype == np.float32
        for i, row in manifest.iterrows():
            ref = next(r for r in refs if r.sample_id == row["sample_id"])
            raw, _ = read_tiff(ref.path(kind))
            np.testing.assert_array_equal(stack[i], raw)  # raw values, not rescaled
            assert row[f"{kind}_sha256"] == image_sha256(raw)
    assert {"spacegroup", "formula", "a", "delta", "kappa", "u_iso", "backend", "sim_seconds"} <= set(manifest.columns)
    assert (manifest["sim_seconds"] == 2.5).all() and (manifest["backend"] == "builtin").all()
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["counts"] == {"requested": 14, "included": 14, "excluded": 0}
    assert meta["dataset_hash"] == info.dataset_hash and len(info.dataset_hash) == 64


def test_exclusions_are_listed_counted_and_logged(results, tmp_path, caplog):
    root, csvs = results
    fam = "F-43m_zincblende"
    lac = root / "lacbed" / fam
    (lac / f"{fam}_000000.tif").unlink()  # missing file
    write_tiff(lac / f"{fam}_000001.tif", np.ones((16, 16), np.float32), {"sample_id": f"{fam}_000001"})  # wrong side
    bad = np.ones((32, 32), np.float32)
    bad[3, 4] = np.nan
    write_tiff(lac / f"{fam}_000002.tif", bad, {"sample_id": f"{fam}_000002"})  # NaN
    write_tiff(lac / f"{fam}_000003.tif", np.ones((32, 32), np.float32), {"sample_id": f"{fam}_000003", "status": "failed"})
    (lac / f"{fam}_000004.tif").unlink()
    (lac / f"{fam}_000004.failed").write_text("felix timed out\n")  # failed-simulation marker
    write_tiff(root / "edd" / fam / f"{fam}_000005.tif", np.ones((32, 32), np.float32), {"sample_id": "someone_else"})
    # an image cut short (a full disk, a killed copy), which tifffile alone would still read
    cut = sorted(p for p in root.glob("lacbed/*/*.tif") if not p.name.startswith(fam))[0]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="lacbed_bridge.dataset.builder"):
        info = build_dataset(_refs(root, csvs), tmp_path / "ds", seed=0)
    reasons = {e["sample_id"]: e["reason"] for e in info.excluded}
    assert set(reasons) == {f"{fam}_{i:06d}" for i in range(6)} | {cut.stem}
    assert "missing" in reasons[f"{fam}_000000"]
    assert "side 16" in reasons[f"{fam}_000001"]
    assert "non-finite" in reasons[f"{fam}_000002"]
    assert "status" in reasons[f"{fam}_000003"]
    assert "failed" in reasons[f"{fam}_000004"]
    assert "someone_else" in reasons[f"{fam}_000005"]
    assert "truncated TIFF" in reasons[cut.stem]
    assert info.n == 7
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["counts"] == {"requested": 14, "included": 7, "excluded": 7}
    assert {e["sample_id"] for e in meta["excluded"]} == set(reasons)
    assert set(pd.read_csv(tmp_path / "ds" / "excluded.csv")["sample_id"]) == set(reasons)
    assert sum("excluding" in r.getMessage() for r in caplog.records) == 7
    assert not set(pd.read_csv(tmp_path / "ds" / "manifest.csv")["sample_id"]) & set(reasons)


def test_no_usable_sample_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no usable sample"):
        build_dataset([], tmp_path / "ds", seed=0)


def test_normalisation_is_dataset_wide(tmp_path):
    """Two samples whose images differ by a factor 2 keep that ratio after normalisation."""
    csv_rows, base = [], np.linspace(0.1, 1.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    for i, factor in enumerate((1.0, 2.0)):
        sid = f"fam_{i:06d}"
        for kind in ("edd", "lacbed"):
            write_tiff(tmp_path / kind / "fam" / f"{sid}.tif", base * factor, {"sample_id": sid})
        csv_rows.append({"sample_id": sid, "family": "fam", "spacegroup": "P 1"})
    csv = tmp_path / "variants" / "fam" / "variants.csv"
    csv.parent.mkdir(parents=True)
    pd.DataFrame(csv_rows).to_csv(csv, index=False)
    info = build_dataset(_refs(tmp_path, [csv]), tmp_path / "ds", seed=0)
    assert info.normalisation["edd"]["scale"] == pytest.approx(2.0)  # the global max
    assert info.normalisation["edd"]["offset"] == 0.0
    data = PairedImageDataset(tmp_path / "ds", split=None, direction="edd2lacbed")
    (x0, y0), (x1, y1) = data[0], data[1]
    assert float(x1.max()) == pytest.approx(1.0) and float(x0.max()) == pytest.approx(0.5)
    np.testing.assert_allclose(x1.numpy(), 2 * x0.numpy(), rtol=1e-6)
    np.testing.assert_allclose(y1.numpy(), 2 * y0.numpy(), rtol=1e-6)


def test_negative_values_shift_by_one_dataset_offset(tmp_path):
    sid = "fam_000000"
    img = np.linspace(-0.5, 1.5, 32 * 32, dtype=np.float32).reshape(32, 32)
    for kind in ("edd", "lacbed"):
        write_tiff(tmp_path / kind / "fam" / f"{sid}.tif", img, {"sample_id": sid})
    csv = tmp_path / "v.csv"
    pd.DataFrame([{"sample_id": sid, "family": "fam"}]).to_csv(csv, index=False)
    info = build_dataset(_refs(tmp_path, [csv]), tmp_path / "ds", seed=0)
    assert info.normalisation["edd"]["offset"] == pytest.approx(-0.5)
    x, _ = PairedImageDataset(tmp_path / "ds", split=None)[0]
    assert float(x.min()) == pytest.approx(0.0, abs=1e-7) and float(x.max()) == pytest.approx(1.0)


def test_same_inputs_give_identical_bytes(results, tmp_path):
    root, csvs = results
    refs = _refs(root, csvs)
    build_dataset(refs, tmp_path / "a", seed=11, n_random_splits=2)
    build_dataset(list(reversed(refs)), tmp_path / "b", seed=11, n_random_splits=2)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) >= 8
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert not list((tmp_path / "a").rglob("*.tmp"))


def test_cli_builds_from_results_and_reports_bad_input(results, tmp_path, capsys):
    root, _ = results
    assert main(["dataset", "--results", str(root), "--out", str(tmp_path / "ds"), "--seed", "1"]) == 0
    assert (tmp_path / "ds" / "splits" / "loso_F-43m.csv").is_file()
    assert main(["dataset", "--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "no variants" in capsys.readouterr().err


def test_splits_keep_the_charge_states_of_a_base_crystal_together(results, tmp_path):
    """With base_id in variants.csv (charge series), no base crystal is in two subsets of any
    split, random or leave-one-space-group-out."""
    root, csvs = results
    for csv in csvs:  # pairs of consecutive samples form one base crystal
        table = pd.read_csv(csv)
        table["base_id"] = [table["sample_id"].iloc[i - i % 2] for i in range(len(table))]
        table.to_csv(csv, index=False)
    build_dataset(_refs(root, csvs), tmp_path / "ds", seed=5, n_random_splits=3, split_fractions=(0.5, 0.25, 0.25))
    manifest = pd.read_csv(tmp_path / "ds" / "manifest.csv")
    splits = sorted((tmp_path / "ds" / "splits").glob("*.csv"))
    assert len(splits) == 3 + 3  # random_0..2 and one loso per space group
    for path in splits:
        split = pd.read_csv(path).merge(manifest[["sample_id", "base_id"]], on="sample_id")
        assert (split.groupby("base_id")["subset"].nunique() == 1).all(), path.name


def test_deformation_images_are_a_third_stack_with_their_own_normalisation(results, tmp_path):
    """Signed deformation images join as deformation.tif (one dataset-wide affine map, offset at the
    most negative value); a missing one excludes its sample with the reason."""
    root, csvs = results
    rng = np.random.default_rng(0)
    refs = _refs(root, csvs)
    for ref in refs:
        family = ref.metadata["family"]
        image = (rng.normal(size=(32, 32)) * 0.05).astype(np.float32)
        write_tiff(root / "deformation" / family / f"{ref.sample_id}.tif", image, {"sample_id": ref.sample_id, "kind": "deformation"})
    missing = refs[0].sample_id
    (root / "deformation" / refs[0].metadata["family"] / f"{missing}.tif").unlink()
    refs = sample_refs_from_variants(csvs, edd_root=root / "edd", lacbed_root=root / "lacbed", deformation_root=root / "deformation")
    info = build_dataset(refs, tmp_path / "ds", seed=0)
    assert info.n == 13 and [e["sample_id"] for e in info.excluded] == [missing]
    assert "deformation image missing" in info.excluded[0]["reason"]
    stack = tifffile.imread(tmp_path / "ds" / "deformation.tif")
    manifest = pd.read_csv(tmp_path / "ds" / "manifest.csv")
    assert stack.shape == (13, 32, 32) and "deformation_sha256" in manifest.columns
    norm = info.normalisation["deformation"]
    assert norm["offset"] == pytest.approx(float(stack.min())) and norm["offset"] < 0
    assert norm["scale"] == pytest.approx(float(stack.max() - stack.min()))
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["kinds"] == ["edd", "lacbed", "deformation"]
    # the edd and lacbed stacks are those of a dataset without deformation images
    plain = build_dataset([r for r in _refs(root, csvs) if r.sample_id != missing], tmp_path / "plain", seed=0)
    assert plain.normalisation["edd"] == info.normalisation["edd"] and not (tmp_path / "plain" / "deformation.tif").exists()


def test_read_tiff_refuses_a_cut_stack(tmp_path):
    """A stack's page headers follow its data: cut inside them, tifffile alone would return fewer
    pages without an error (issue #11 item 6)."""
    path = tmp_path / "stack.tif"
    write_tiff(path, np.arange(6 * 16 * 16, dtype=np.float32).reshape(6, 16, 16), {"kind": "test"})
    assert read_tiff(path)[0].shape == (6, 16, 16)
    data = path.read_bytes()
    for cut in (len(data) // 2, 6000):
        path.write_bytes(data[:cut])
        with pytest.raises(InputError, match="truncated TIFF"):
            read_tiff(path)
