"""The package as a user installs it: a wheel in a fresh venv, the CLI run from another folder.

Everything the package reads (config schema, prototypes, form-factor tables) must ship inside
the wheel. The fresh venv borrows only the third-party dependencies of the test venv (a ``.pth``
line naming its site-packages, whose own ``.pth`` files, the editable install among them, are not
processed), so ``lacbed_bridge`` can only come from the installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the bin folder of a fresh venv with only that wheel of lacbed_bridge)."""
    root = tmp_path_factory.mktemp("wheel")
    build = root / "src"
    # build from a copy so that no build/ or egg-info folder lands in the checkout
    shutil.copytree(REPO_ROOT, build, ignore=shutil.ignore_patterns(".venv", ".git", "results*", "logs*", ".snakemake",
                                                                        "build", "dist", "*.egg-info", "__pycache__", "tests"))
    dist = root / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(build)],
                   check=True, capture_output=True)
    wheel = next(dist.glob("lacbed_bridge-*.whl"))
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    target = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip())
    (target / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True)
    return wheel, env_dir / "bin"


def test_wheel_holds_the_package_data(wheel_env: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(wheel_env[0]).namelist())
    for member in ("lacbed_bridge/schemas/config.schema.yaml", "lacbed_bridge/crystal/data/prototypes.yaml",
                   "lacbed_bridge/crystal/data/clementi_exponents.csv", "lacbed_bridge/crystal/data/kirkland.txt"):
        assert member in names, member


def test_installed_cli_runs_from_another_folder(wheel_env: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir = wheel_env[1]
    work = tmp_path / "elsewhere"
    work.mkdir()
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    config["simulation"].update(pixel_count=4, min_reflection_pool=30, min_strong_beams=10)
    (work / "my.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    def run(*args: str) -> str:
        proc = subprocess.run(["lacbed-bridge", *args], cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    where = subprocess.run([str(bin_dir / "python"), "-c", "import lacbed_bridge; print(lacbed_bridge.__file__)"],
                           cwd=work, env=env, check=True, capture_output=True, text=True).stdout
    assert str(bin_dir.parent) in where and str(REPO_ROOT / "src") not in where
    assert "variants" in run("--help")
    run("variants", "my.yaml", "--family", "F-43m_zincblende", "--out", "v")
    cif = sorted((work / "v").glob("*.cif"))[0]
    run("edd", str(cif), "--config", "my.yaml", "--out", "edd.tif")
    run("simulate", str(cif), "--config", "my.yaml", "--out", "lacbed.tif", "--device", "cpu")
    for name in ("edd.tif", "lacbed.tif"):
        image = tifffile.imread(work / name)
        assert image.shape == (8, 8) and np.all(np.isfinite(image)) and image.std() > 0


def test_installed_cli_runs_the_whole_pipeline(wheel_env: tuple[Path, Path], tmp_path: Path) -> None:
    """Every stage's command from the installed wheel, outside the repository, as the workflow calls
    them: config check, batches, dataset, training, evaluation, summary, prediction, figures and a
    refinement (issue #12: "a wheel installed outside the repository runs the whole CLI")."""
    bin_dir = wheel_env[1]
    work = tmp_path / "elsewhere"
    work.mkdir()
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    config["families"] = [{"name": "F-43m_zincblende", "prototype": "zincblende", "n_variants": 4, "delta": [0.0, 1.0],
                           "charge_states": 2}]
    config["simulation"].update(pixel_count=16, min_reflection_pool=30, min_strong_beams=10, device="cpu")
    config["simulation"].pop("convergence", None)
    config["train"].update(epochs=1, ngf=8, ndf=8, batch_size=4, seeds=[0], device="cpu")
    config["workflow"] = {"batch_size": 50}
    (work / "my.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    def run(*args: str) -> str:
        proc = subprocess.run(["lacbed-bridge", *args], cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{args[0]}: {proc.stderr[-2000:]}"
        return proc.stdout

    family = "F-43m_zincblende"
    assert "ok" in run("check-config", "my.yaml")
    run("variants", "my.yaml", "--family", family, "--out", f"r/variants/{family}")
    for stage in ("lacbed", "edd", "deformation"):
        run("batch", stage, "--config", "my.yaml", "--family", family, "--batch", "0", "--cif-dir", f"r/variants/{family}",
            "--out-dir", f"r/{stage}/{family}", "--manifest", f"r/{stage}/{family}/batch_0000.csv")
    run("dataset", "--variants", f"r/variants/{family}/variants.csv", "--edd-root", "r/edd", "--lacbed-root", "r/lacbed",
        "--deformation-root", "r/deformation", "--out", "r/dataset", "--config", "my.yaml")
    model = "r/models/lacbed2edd/pix2pix/seed0"
    run("train", "--dataset", "r/dataset", "--direction", "lacbed2edd", "--seed", "0", "--out", model, "--config", "my.yaml")
    run("evaluate", "--model", f"{model}/model.pt", "--dataset", "r/dataset", "--split", "random_0",
        "--out", "r/metrics/lacbed2edd/pix2pix/seed0", "--config", "my.yaml")
    run("metrics-summary", "r/metrics/lacbed2edd/pix2pix/seed0/metrics.json", "--out", "r/metrics/summary.csv")
    disc = sorted((work / "r" / "lacbed" / family).glob("*.tif"))[0]
    run("predict", f"{model}/model.pt", str(disc), "--out", "pred.tif", "--config", "my.yaml")
    assert tifffile.imread(work / "pred.tif").shape[-2:] == (32, 32)  # EDD side: total (+ deformation) density
    run("figures", "--results", "r", "--config", "my.yaml", "--out", "figs", "--only", "c_training_curves", "e_metrics")
    assert (work / "figs" / "e_metrics.png").is_file()
    cif = work / "r" / "variants" / family / f"{disc.stem}.cif"
    run("refine", str(cif), str(disc), "--config", "my.yaml", "--free", "thickness", "--out", "fit")
    assert (work / "fit" / "report.json").is_file()
