"""Everything a job would discover late is found by `check-config`, which is the workflow's own
check (issue #25 item 5): one line naming the file and the key, no traceback, before any job."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lacbed_bridge.cli import main
from lacbed_bridge.pipeline.config_check import available_splits
from lacbed_bridge.config import validate_config

from support.workflow import snakemake, tiny_config

NAN, INF = float("nan"), float("inf")

CASES = {
    "unknown element symbol": (lambda c: c["families"][0].update(elements={"A": ["Xx"]}), "families[0].elements.A"),
    "unknown site label": (lambda c: c["families"][0].update(elements={"Q": ["Ga"]}), "families[0].elements"),
    "reversed delta": (lambda c: c["families"][0].update(delta=[1.0, 0.0]), "families[0].delta"),
    "reversed kappa": (lambda c: c["families"][0].update(kappa=[1.2, 0.9]), "families[0].kappa"),
    "reversed lattice_scale": (lambda c: c["families"][0].update(lattice_scale=[1.03, 0.97]), "families[0].lattice_scale"),
    "reversed u_iso": (lambda c: c["families"][0].update(u_iso=[0.01, 0.003]), "families[0].u_iso"),
    "charge_states above n_variants": (lambda c: c["families"][0].update(charge_states=7), "families[0].n_variants"),
    "charge_states not dividing": (lambda c: c["families"][0].update(charge_states=4), "families[0].n_variants"),
    "split fractions not summing to 1": (lambda c: c.setdefault("dataset", {}).update(split_fractions=[0.5, 0.5, 0.5]),
                                         "dataset.split_fractions"),
    "held-out group no family has": (lambda c: c.setdefault("dataset", {}).update(loso_groups=["P 1"]), "dataset.loso_groups[0]"),
    "empty seeds": (lambda c: c["train"].update(seeds=[]), "train.seeds"),
    "empty directions": (lambda c: c["train"].update(directions=[]), "train.directions"),
    "repeated seeds": (lambda c: c["train"].update(seeds=[0, 0]), "train.seeds"),
    "NaN voltage": (lambda c: c["simulation"].update(accelerating_voltage=NAN), "simulation.accelerating_voltage"),
    "infinite thickness": (lambda c: c["simulation"].update(final_thickness=INF), "simulation.final_thickness"),
    "NaN in a range": (lambda c: c["families"][0].update(lattice_scale=[NAN, 1.0]), "families[0].lattice_scale[0]"),
    "NaN learning rate": (lambda c: c["train"].update(lr=NAN), "train.lr"),
    "infinite counts": (lambda c: c.setdefault("refine", {}).update(counts=INF), "refine.counts"),
    "pixel_count the U-Nets cannot take": (lambda c: c["simulation"].update(pixel_count=8), "simulation.pixel_count"),
    "a split the dataset will not have": (lambda c: c["train"].update(split="random_3"), "train.split"),
    "thickness_index outside the series": (lambda c: c["simulation"].update(thickness_index=5), "simulation.thickness_index"),
    "a held-out split of a group no family has": (lambda c: c["train"].update(split="loso_P1"), "train.split"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_found_before_any_job_in_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    change, key = CASES[case]
    config = tiny_config()
    change(config)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{path}: {key}" in err, err
    assert "simulation.simulation" not in err and err.count(key) == 1, err  # the key once, not repeated


def test_available_splits_follow_the_config() -> None:
    config = validate_config(tiny_config())
    assert available_splits(config) == ["random_0", "loso_F-43m", "loso_Fm-3m"]
    config["dataset"]["random_splits"] = 2
    config["dataset"]["loso_groups"] = []
    assert available_splits(config) == ["random_0", "random_1"]


@pytest.mark.slow
def test_the_workflow_stops_on_the_same_line(tmp_path: Path) -> None:
    """`pixel_count: 8` passed check-config and stopped the workflow (the issue): now both say it."""
    config = tiny_config()
    config["simulation"]["pixel_count"] = 8
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "-n", config=path, check=False)
    assert done.returncode != 0 and "simulation.pixel_count" in done.stdout + done.stderr
    config["simulation"]["pixel_count"] = 16
    config["families"][0]["delta"] = [1.0, 0.0]
    path.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "-n", config=path, check=False)
    assert done.returncode != 0 and "families[0].delta" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


BOUNDED = {
    "a million thicknesses": (lambda c: c["simulation"].update(initial_thickness=100.0, final_thickness=1e6, delta_thickness=0.001),
                              "simulation.delta_thickness", "thicknesses"),
    "a pool of 1e8 reflections": (lambda c: c["simulation"].update(min_reflection_pool=100_000_000), "simulation.min_reflection_pool",
                                  "GiB"),
    "ten thousand strong beams": (lambda c: c["simulation"].update(min_reflection_pool=20_000, min_strong_beams=10_000),
                                  "simulation.min_strong_beams", "at most"),
}


@pytest.mark.parametrize("case", sorted(BOUNDED))
def test_work_past_the_limits_is_refused_at_once(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """issue #25 item 6: these took check-config to 22 GB and the OOM killer, or a 9 GiB allocation."""
    import resource

    change, key, words = BOUNDED[case]
    config = tiny_config()
    change(config)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert key in err and words in err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB: nothing was allocated


def test_a_yaml_alias_bomb_and_a_huge_file_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 12)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n" + yaml.safe_dump(tiny_config()))
    assert main(["check-config", str(bomb)]) == 2
    assert "110 YAML aliases" in capsys.readouterr().err
    huge = tmp_path / "huge.yaml"
    huge.write_text(yaml.safe_dump(tiny_config()) + "# " + "x" * (5 * 2**20) + "\n")
    assert main(["check-config", str(huge)]) == 2
    assert "bytes" in capsys.readouterr().err
