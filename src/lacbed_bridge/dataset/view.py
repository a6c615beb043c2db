"""The stacked dataset as figures, the refine study and notebooks read it (no torch).

:func:`open_dataset` opens a dataset folder (``results/dataset``) (``dataset.json``, ``manifest.csv`` and the raw
stacks, memory-mapped) and checks what every reader relies on: normalisation constants per image
kind, the image side, one stack row per manifest row. :func:`normalise` / :func:`denormalise`
are the dataset-wide normalisation ``x_norm = (x − offset) / scale`` (one pair per image kind,
``dataset.json``), shared with the training data (:mod:`.torch_dataset`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile

from ..errors import InputError
from .builder import load_dataset_info


def normalise(image: Any, constants: dict[str, float]) -> Any:
    """Raw physical values → the dataset's [0, 1] scale: ``(x − offset) / scale`` (NumPy or torch)."""
    return (image - constants["offset"]) / constants["scale"]


def denormalise(image: Any, constants: dict[str, float]) -> Any:
    """The [0, 1] scale → raw physical values: ``x · scale + offset`` (NumPy or torch)."""
    return image * constants["scale"] + constants["offset"]


@dataclass
class DatasetView:
    """The dataset folder of ``results/``: description, manifest and the raw stacks (memory-mapped).

    Attributes
    ----------
    root: ``results/dataset``.
    info: ``dataset.json`` (normalisation constants per kind, splits, side, ...).
    manifest: ``manifest.csv`` (one row per stack index).
    stacks: kind → N × side × side float32 raw images (EDD [e/Å²], LACBED intensity per unit beam).
    """

    root: Path
    info: dict[str, Any]
    manifest: pd.DataFrame
    stacks: dict[str, np.ndarray]

    @property
    def normalisation(self) -> dict[str, dict[str, float]]:
        """Per kind: offset, scale (and the raw min/max) of ``dataset.json``."""
        return self.info["normalisation"]

    @property
    def side(self) -> int:
        """Image side [px]."""
        return int(self.info["side"])

    def split(self, name: str) -> pd.DataFrame | None:
        """The split table ``splits/<name>.csv`` (None when absent)."""
        path = self.root / "splits" / f"{name}.csv"
        if not path.is_file():
            return None
        from .splits import read_split

        return read_split(path)


def open_dataset(folder: str | os.PathLike[str]) -> DatasetView:
    """Open ``results/dataset``; a missing or broken required file is an :class:`InputError` naming it."""
    root = Path(folder)
    info_path = root / "dataset.json"
    info = load_dataset_info(root)
    norm = info.get("normalisation") or {}
    for kind in ("edd", "lacbed"):
        if not all(k in norm.get(kind, {}) for k in ("offset", "scale")):
            raise InputError(f"no normalisation constants (offset, scale) for {kind!r}", path=info_path, field=f"normalisation.{kind}")
    if "side" not in info:
        raise InputError("no image side", path=info_path, field="side")
    manifest_path = root / "manifest.csv"
    if not manifest_path.is_file():
        raise InputError("dataset manifest missing", path=manifest_path)
    manifest = pd.read_csv(manifest_path, dtype={"sample_id": str})
    side = int(info["side"])
    stacks = {}
    optional = [k for k in ("deformation",) if k in norm and (root / f"{k}.tif").is_file()]
    for kind in ("edd", "lacbed", *optional):
        path = root / f"{kind}.tif"
        if not path.is_file():
            raise InputError("dataset stack missing", path=path)
        try:
            stack = tifffile.memmap(path, mode="r")
        except Exception as exc:  # tifffile raises several types for a broken file
            raise InputError(f"not a readable TIFF stack ({exc})", path=path) from None
        if stack.ndim == 2:
            stack = stack.reshape(1, *stack.shape)  # tifffile squeezes a stack of one image
        if stack.shape != (len(manifest), side, side):
            raise InputError(f"stack shape {stack.shape} does not match the manifest ({len(manifest)} × {side}²)", path=path)
        stacks[kind] = stack
    return DatasetView(root, info, manifest, stacks)
