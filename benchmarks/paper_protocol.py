"""Benchmark: the paper-shaped CPU protocol (issue #27 item 4), measured in one run.

Webb, Beanland & Römer (arXiv 2503.02852) train pix2pix between the projected density and the
(000) LACBED disc of cubic crystals and report the test MSE and SSIM per space group, on a random
split and with one space group left out of training at a time (loso). ``configs/paper_cpu.yaml``
has that shape at a size for 2 CPU cores: the GaAs-like [-1 1 0] geometry with Bird–King
absorption, five cubic space groups, converged 64² discs, pix2pix in both directions, 3 seeds.

Steps (each resumable: a finished model or evaluation is kept):
  1. the Snakemake workflow up to ``metrics/summary.csv``: crystals, converged discs, EDD images,
     the dataset with its random and loso splits, and the models of ``train.split`` (random_0);
  2. for every ``loso_<group>`` split of the dataset, each direction and seed: ``lacbed-bridge
     train --split loso_<group>`` and ``lacbed-bridge evaluate`` on that split's test subset (the
     held-out group), under ``<results>/loso/<split>/``, ``--cores`` jobs at a time, one thread each;
  3. the tables: per split, direction and space group, the mean ± std over seeds of the test MSE
     and SSIM, and the charge metrics (charge-effect r and RMS ratio, EDD → LACBED; δ RMS error,
     LACBED → EDD), written to ``<results>/metrics/paper_protocol.csv`` and ``.json`` and printed as
     Markdown tables (the form of docs/paper.md).

The times printed and written are this invocation's: a rerun that finds everything done reports
seconds, not the protocol's cost.

``--quick`` shrinks the protocol to minutes (4 crystals per family, 32², 2 epochs, tiny networks)
to check the plumbing, not the accuracy. The LAST printed line is one JSON object.
The paper's scale, 128² on a GPU: ``--device cuda --pixel-count 64`` (benchmarks/device_check.sh runs
it at ``--quick`` size where the device machine has Snakemake).
Usage: python benchmarks/paper_protocol.py [--quick] [--workdir DIR] [--cores N] [--config FILE]
       [--device cpu|cuda] [--pixel-count N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from lacbed_bridge.io import write_text_atomic  # noqa: E402
from lacbed_bridge.layout import ResultsLayout  # noqa: E402
from workflow_run import run_workflow, tool_env  # noqa: E402  (benchmarks/workflow_run.py)

PAPER_MSE = 0.02  # the paper's quoted bound on the test MSE (docs/paper.md, *quoted*)


def quick_config(config: dict[str, Any]) -> dict[str, Any]:
    """The protocol at plumbing scale: 4 crystals per family, 32² discs, 2 epochs, tiny networks."""
    for family in config["families"]:
        family["n_variants"] = 4 if family.get("charge_states", 1) == 1 else 2 * family["charge_states"]
    config["simulation"].update(pixel_count=16, min_reflection_pool=40, min_strong_beams=15)
    config["simulation"]["convergence"].update(target_rms=0.05, max_strong_beams=40)
    config["train"].update(epochs=2, ngf=8, ndf=8, seeds=[0, 1])
    config["workflow"]["batch_size"] = 4
    return config


@dataclass(frozen=True)
class LosoRun:
    """One model of a loso split: its training and its evaluation on the held-out group."""

    split: str
    direction: str
    seed: int

    def _layout(self, results: Path) -> ResultsLayout:
        """The results layout of this split's models, under ``<results>/loso/<split>/``."""
        return ResultsLayout(str(results / "loso" / self.split))

    def model_dir(self, results: Path, model: str) -> Path:
        return Path(self._layout(results).model_dir(self.direction, model, self.seed))

    def metrics_dir(self, results: Path, model: str) -> Path:
        return Path(self._layout(results).metrics_dir(self.direction, model, self.seed))


def _run(command: list[str], log: Path, env: dict[str, str]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} … failed ({done.returncode}); see {log}")


#: beside each loso model: what it was trained from (the train settings and the dataset's hash)
STAMP = "protocol_stamp.json"


def run_stamp(config: dict[str, Any], dataset: Path) -> str:
    """What a loso model depends on: the config's train block and the dataset (its hash)."""
    info = json.loads((dataset / "dataset.json").read_text())
    return json.dumps({"train": config["train"], "dataset_hash": info.get("dataset_hash")}, sort_keys=True)


def is_current(model_dir: Path, stamp: str) -> bool:
    """A finished model trained from these settings and this dataset (else it is trained again)."""
    path = model_dir / STAMP
    return (model_dir / "model.pt").is_file() and path.is_file() and path.read_text() == stamp


def run_loso(run: LosoRun, *, results: Path, dataset: Path, config_path: Path, model: str, logs: Path,
             env: dict[str, str], stamp: str) -> Path:
    """Train one loso model (unless a current one exists: :func:`is_current`) and evaluate it on
    the held-out group (unless its evaluation is newer than the model)."""
    lb = str(Path(sys.executable).parent / "lacbed-bridge")
    model_dir, metrics_dir = run.model_dir(results, model), run.metrics_dir(results, model)
    name = f"{run.split}_{run.direction}_{model}_seed{run.seed}"
    if not is_current(model_dir, stamp):
        _run([lb, "train", "--dataset", str(dataset), "--direction", run.direction, "--model", model,
              "--seed", str(run.seed), "--split", run.split, "--out", str(model_dir), "--config", str(config_path),
              "--resume-if-compatible"], logs / "train" / f"{name}.log", env)
        write_text_atomic(model_dir / STAMP, stamp)
    metrics = metrics_dir / "metrics.json"
    if not metrics.is_file() or metrics.stat().st_mtime < (model_dir / "model.pt").stat().st_mtime:
        _run([lb, "evaluate", "--model", str(model_dir / "model.pt"), "--dataset", str(dataset), "--split", run.split,
              "--out", str(metrics_dir), "--config", str(config_path)], logs / "evaluate" / f"{name}.log", env)
    return metrics_dir


def _per_group(metrics_dir: Path, split: str, direction: str, seed: int) -> pd.DataFrame:
    table = pd.read_csv(metrics_dir / "per_group.csv")
    summary = json.loads((metrics_dir / "metrics.json").read_text())
    table.insert(0, "seed", seed)
    table.insert(0, "direction", direction)
    table.insert(0, "split", split)
    for key in ("charge_r", "charge_rms_ratio", "delta_rmse"):
        table[key] = summary.get(key)
    return table


def collect(results: Path, model: str, directions: list[str], seeds: list[int], splits: list[str]) -> pd.DataFrame:
    """Every evaluation's per-space-group rows (one per split, direction, seed and group)."""
    layout = ResultsLayout(str(results))
    rows = []
    for split in splits:
        for direction in directions:
            for seed in seeds:
                if split.startswith("loso_"):
                    metrics_dir = LosoRun(split, direction, seed).metrics_dir(results, model)
                else:
                    metrics_dir = Path(layout.metrics_dir(direction, model, seed))
                rows.append(_per_group(metrics_dir, split, direction, seed))
    return pd.concat(rows, ignore_index=True)


def over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per split, direction and space group (n: test discs per seed)."""
    grouped = table.groupby(["split", "direction", "spacegroup"], sort=False)
    out = grouped.agg(n=("n", "first"), seeds=("seed", "nunique"), mse_mean=("mse", "mean"), mse_std=("mse", "std"),
                      ssim_mean=("ssim", "mean"), ssim_std=("ssim", "std"), charge_r=("charge_r", "mean"),
                      charge_rms_ratio=("charge_rms_ratio", "mean"), delta_rmse=("delta_rmse", "mean"))
    return out.reset_index()


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values (JSON has no NaN)."""
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def _cell(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown(table: pd.DataFrame) -> str:
    """One Markdown table per direction: rows are splits × held-out/test space groups."""
    lines = []
    for direction, part in table.groupby("direction", sort=False):
        lines += [f"**{direction}** (pix2pix, mean ± std over seeds)", "",
                  "| split | test space group | test discs | MSE | SSIM |", "|---|---|---|---|---|"]
        for row in part.itertuples():
            lines.append(f"| {row.split} | {row.spacegroup} | {row.n} | {_cell(row.mse_mean, row.mse_std, 4)} | "
                         f"{_cell(row.ssim_mean, row.ssim_std, 3)} |")
        lines.append("")
    return "\n".join(lines)


def charge_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The charge metrics per split and direction (one value per seed, from metrics.json)."""
    per_seed = table.drop_duplicates(["split", "direction", "seed"])
    agg = per_seed.groupby(["split", "direction"], sort=False)[["charge_r", "charge_rms_ratio", "delta_rmse"]]
    return agg.agg(["mean", "std"]).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="plumbing scale (minutes)")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "paper_cpu.yaml")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--workdir", type=Path, help="where results go (default: a temporary folder)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="simulate, train and evaluate here")
    parser.add_argument("--pixel-count", type=int, help="override simulation.pixel_count (image side = 2 × this; 64 for 128²)")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    if args.quick:
        config = quick_config(config)
    for block in ("simulation", "train", "evaluate"):
        config[block]["device"] = args.device
    if args.pixel_count:
        config["simulation"]["pixel_count"] = args.pixel_count
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="paper-protocol-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "paper_protocol.effective-input.yaml"
    write_text_atomic(config_path, yaml.safe_dump(config))
    results, logs = workdir / config["output"]["results"], workdir / config["output"]["logs"]
    model = str(config["train"].get("model", "pix2pix"))
    directions, seeds = list(config["train"]["directions"]), [int(s) for s in config["train"]["seeds"]]
    env = tool_env()

    start = time.perf_counter()
    workflow_seconds = run_workflow(workdir, config_path, f"{config['output']['results']}/metrics/summary.csv", args.cores)
    print(f"workflow (simulate, EDD, dataset, {len(directions) * len(seeds)} random-split models): {workflow_seconds:.0f} s",
          flush=True)

    dataset = results / "dataset"
    info = json.loads((dataset / "dataset.json").read_text())
    loso = sorted(s for s in info["splits"] if s.startswith("loso_"))
    runs = [LosoRun(split, direction, seed) for split in loso for direction in directions for seed in seeds]
    stamp = run_stamp(config, dataset)
    # on a CPU: --cores trainings at a time, one thread each; on a GPU: one at a time
    one_thread = {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if args.device == "cpu" else env
    loso_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.cores) if args.device == "cpu" else 1) as pool:
        list(pool.map(lambda run: run_loso(run, results=results, dataset=dataset, config_path=config_path, model=model,
                                           logs=logs / "loso", env=one_thread, stamp=stamp), runs))
    loso_seconds = time.perf_counter() - loso_start
    print(f"loso ({len(loso)} splits, {len(runs)} models): {loso_seconds:.0f} s", flush=True)

    split = str(config["train"].get("split", "random_0"))
    table = collect(results, model, directions, seeds, [split, *loso])
    seeds_table = over_seeds(table)
    charges = charge_rows(table)
    out = results / "metrics" / "paper_protocol.csv"
    write_text_atomic(out, seeds_table.to_csv(index=False))
    counts = info["counts"]
    summary: dict[str, Any] = {
        "quick": args.quick, "config": str(args.config), "device": args.device, "samples": counts["included"], "excluded": counts.get("excluded"),
        "side": info["side"], "splits": [split, *loso], "seeds": seeds, "workflow_seconds": workflow_seconds,
        "loso_seconds": loso_seconds, "total_seconds": time.perf_counter() - start,
        "per_group": _records(seeds_table),
        "charge": _records(charges.set_axis(["_".join(c).rstrip("_") for c in charges.columns], axis=1)),
    }
    write_text_atomic(out.with_suffix(".json"), json.dumps(summary, indent=1, default=float))
    print(f"{counts['included']} discs at {info['side']}², splits {', '.join([split, *loso])}; "
          f"total {summary['total_seconds']:.0f} s on {args.cores} cores -> {out}")
    print(markdown(seeds_table))
    print("charge metrics (mean ± std over seeds):")
    print(charges.to_string(index=False))
    print(f"paper: test MSE < {PAPER_MSE} (quoted)")
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
