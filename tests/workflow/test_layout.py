"""One results layout (lacbed_bridge/layout.py): the rules, the figures, the dataset command and the
refine study spell no path under results/ themselves; every file a run writes lies at a layout
path; the figures rule declares every file the figures read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from lacbed_bridge.layout import DATASET_FILES, EVALUATION_FILES, FIGURE_FORMATS, FIGURE_NAMES, MODEL_FILES, ResultsLayout
from support.workflow import REPO, snakemake, tiny_config

#: The folders directly under results/ (the layout's first path components).
TREE = {"variants", "lacbed", "edd", "deformation", "dataset", "models", "metrics", "benchmarks", "figures", "refine"}
READERS = [*sorted((REPO / "src" / "lacbed_bridge" / "figures").glob("*.py")),
           REPO / "src" / "lacbed_bridge" / "refine" / "study.py", REPO / "src" / "lacbed_bridge" / "dataset" / "cli.py"]


def test_no_rule_spells_a_results_path() -> None:
    for rules in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = rules.read_text()
        assert not re.search(r"\{R\}/|\{R:q\}/", text), f"{rules.name} builds a path under results/ itself"


@pytest.mark.parametrize("path", READERS, ids=lambda p: p.name)
def test_no_reader_spells_a_results_path(path: Path) -> None:
    """`x / "metrics"` or a literal 'metrics/…/seed' path: the layout's job."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant):
            assert node.right.value not in TREE, f"{path.name}:{node.lineno} joins {node.right.value!r} itself"
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "glob" and node.args \
                and isinstance(node.args[0], ast.Constant):
            assert "seed" not in str(node.args[0].value), f"{path.name}:{node.lineno} globs the models' folders itself"


def test_layout_paths() -> None:
    res = ResultsLayout("out/res")
    assert res.checkpoint() == "out/res/models/{direction}/{model}/seed{seed}/model.pt"
    assert res.evaluation_file("per_group.csv", "lacbed2edd", "unet", 3) == "out/res/metrics/lacbed2edd/unet/seed3/per_group.csv"
    assert res.batch_manifest("lacbed", "fam", "0001") == "out/res/lacbed/fam/batch_0001.csv"
    assert res.split_table("random_0") == "out/res/dataset/splits/random_0.csv"
    assert ResultsLayout("out/res/").estimator_metrics(0) == "out/res/metrics/estimator/seed0/metrics.json"
    with pytest.raises(ValueError, match="not a dataset file"):
        res.dataset_file("lacbed.tiff")
    with pytest.raises(ValueError, match="not an evaluation file"):
        res.evaluation_file("summary.csv")


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_figures_rule_declares_what_the_figures_read(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config()))
    done = snakemake(tmp_path, "-n", "--cores", "1", config=config)
    text = done.stdout + done.stderr
    job = re.search(r"rule figures:\n\s+input: ([^\n]+)", text)
    assert job, text[-3000:]
    inputs = set(job.group(1).split(", "))
    res = ResultsLayout("results")
    for direction in ("edd2lacbed", "lacbed2edd"):
        for model in ("pix2pix", "unet"):
            for name in ("metrics.json", "per_sample.csv", "per_group.csv", "predictions.tif"):
                assert res.evaluation_file(name, direction, model, 0) in inputs
    assert res.dataset_file("dataset.json") in inputs  # written last by the dataset job: it stands for its files
    assert res.batch_manifest("lacbed", "F-43m_zincblende", "0000") in inputs  # figure (d): the discs' timings


def _patterns(res: ResultsLayout) -> list[re.Pattern[str]]:
    """Every file a run may write, as regular expressions from the layout's own methods."""
    spelled = [res.variants(), res.batch_manifest(), *(res.model_file(name) for name in MODEL_FILES),
               *(res.estimator_file(name) for name in MODEL_FILES), *(res.estimator_evaluation_file(name) for name in EVALUATION_FILES[:3]),
               res.metrics_summary(), res.metrics_summary_seeds(), res.benchmark("{name}"),
               *(res.dataset_file(name) for name in DATASET_FILES), res.split_table("{split}"),
               *(res.evaluation_file(name) for name in EVALUATION_FILES),
               *(res.figure(name, ext) for name in FIGURE_NAMES for ext in FIGURE_FORMATS),
               res.refine_file("{name}")]
    # beside them: a family's CIFs, each sample's image or failure marker, the dataset's excluded
    # samples, a training's resumable state and an evaluation's log
    spelled += [res.cif(), res.stage_dir("{stage}") + "/{sample}.tif",
                res.stage_dir("{stage}") + "/{sample}.failed", res.dataset_dir() + "/excluded.csv"]
    return [re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(p)) + "$") for p in spelled]


@pytest.mark.slow
def test_every_file_a_run_writes_is_at_a_layout_path(e2e: tuple[Path, Path]) -> None:
    work, _ = e2e
    patterns = _patterns(ResultsLayout("results"))
    written = [p.relative_to(work).as_posix() for p in (work / "results").rglob("*") if p.is_file()]
    assert len(written) > 50
    strays = [path for path in written if not any(p.match(path) for p in patterns)]
    assert not strays, f"files outside the layout: {strays[:10]}"
