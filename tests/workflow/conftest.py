"""The session fixture: one real end-to-end Snakemake run of the workflow on a tiny config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.workflow import BROKEN, snakemake, tiny_config


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Run the whole workflow once; one crystal's CIF is broken after the variants rule."""
    work = tmp_path_factory.mktemp("e2e")
    config = work / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config()))
    snakemake(work, "--cores", "2", "results/variants/F-43m_zincblende/variants.csv", config=config)
    (work / "results" / "variants" / "F-43m_zincblende" / f"{BROKEN}.cif").write_text("data_broken\n_cell_length_a 5.6\n")
    snakemake(work, "--cores", "2", "--keep-going", config=config)
    return work, config
