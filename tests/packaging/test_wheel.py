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
                   "lacbed_bridge/crystal/data/clementi_exponents.csv", "lacbed_bridge/simulate/data/kirkland.txt"):
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
