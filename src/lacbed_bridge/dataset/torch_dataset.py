"""A PyTorch ``Dataset`` of (input, target) image pairs from a built dataset folder.

The stacks ``edd.tif`` and ``lacbed.tif`` are memory-mapped (``tifffile.memmap``), opened lazily
in each process (so a ``DataLoader`` worker opens its own map), and every item is normalised with
the dataset-wide constants of ``dataset.json`` (see :mod:`.builder`): ``(x − offset) / scale``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import tifffile
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .builder import load_dataset_info
from .splits import read_split, subset_indices

Direction = Literal["edd2lacbed", "lacbed2edd"]
#: direction → (input kind, target kind)
from . import DIRECTIONS  # noqa: E402  (direction → (input kind, target kind))


def direction_kinds(direction: str) -> tuple[str, str]:
    """(input kind, target kind) of ``direction``; a clear error for an unknown one."""
    if direction not in DIRECTIONS:
        raise InputError(f"unknown direction {direction!r}; expected one of {sorted(DIRECTIONS)}", field="direction")
    return DIRECTIONS[direction]


def normalise(image: np.ndarray | torch.Tensor, constants: dict[str, float]) -> Any:
    """Raw physical values → the dataset's [0, 1] scale: ``(x − offset) / scale``."""
    return (image - constants["offset"]) / constants["scale"]


def denormalise(image: np.ndarray | torch.Tensor, constants: dict[str, float]) -> Any:
    """The [0, 1] scale → raw physical values: ``x · scale + offset``."""
    return image * constants["scale"] + constants["offset"]


class PairedImageDataset(Dataset):
    """Normalised (input, target) pairs of one subset of one split.

    Parameters
    ----------
    dataset_dir: a folder written by :func:`~lacbed_bridge.dataset.builder.build_dataset`.
    direction: ``edd2lacbed`` (input EDD → target LACBED) or ``lacbed2edd``.
    split: split name (``random_0``, ``loso_F-43m``, ...); ``None`` = every sample.
    subset: ``train``, ``val`` or ``test`` (ignored when ``split`` is ``None``).

    Items are ``(x, y)``, each a float32 tensor of shape (1, side, side) on the [0, 1] scale.
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike[str],
        *,
        direction: str = "edd2lacbed",
        split: str | None = "random_0",
        subset: str = "train",
    ) -> None:
        self.root = Path(dataset_dir)
        self.info = load_dataset_info(self.root)
        self.direction = direction
        self.input_kind, self.target_kind = direction_kinds(direction)
        self.side = int(self.info["side"])
        self.manifest = pd.read_csv(self.root / "manifest.csv", dtype={"sample_id": str})
        if split is None:
            self.indices = np.arange(len(self.manifest), dtype=np.int64)
        else:
            frame = read_split(self.root / "splits" / f"{split}.csv")
            self.indices = subset_indices(frame, subset)
        self.split, self.subset = split, subset
        self._maps: dict[str, np.ndarray] = {}

    @property
    def normalisation(self) -> dict[str, dict[str, float]]:
        """Per image kind: offset, scale (and the raw min/max)."""
        return self.info["normalisation"]

    @property
    def sample_ids(self) -> list[str]:
        """Sample ids of the items, in item order."""
        return self.manifest["sample_id"].to_numpy()[self.indices].tolist()

    def rows(self) -> pd.DataFrame:
        """The manifest rows of the items, in item order."""
        return self.manifest.iloc[self.indices].reset_index(drop=True)

    def _stack(self, kind: str) -> np.ndarray:
        if kind not in self._maps:
            path = self.root / f"{kind}.tif"
            try:
                stack = tifffile.memmap(path, mode="r")
            except FileNotFoundError:
                raise InputError("dataset stack missing", path=path) from None
            if stack.ndim == 2 and stack.shape == (self.side, self.side):
                stack = stack.reshape(1, self.side, self.side)  # tifffile squeezes a stack of one image
            if stack.shape[1:] != (self.side, self.side) or stack.shape[0] != len(self.manifest):
                raise InputError(
                    f"stack shape {stack.shape} does not match the manifest ({len(self.manifest)} × {self.side}²)", path=path
                )
            self._maps[kind] = stack
        return self._maps[kind]

    def __getstate__(self) -> dict[str, Any]:  # memory maps are reopened in each worker
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state

    def __len__(self) -> int:
        return len(self.indices)

    def _item(self, kind: str, row: int) -> torch.Tensor:
        raw = np.array(self._stack(kind)[row], dtype=np.float32)
        return torch.from_numpy(normalise(raw, self.normalisation[kind]).astype(np.float32, copy=False)).unsqueeze(0)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = int(self.indices[item])
        return self._item(self.input_kind, row), self._item(self.target_kind, row)
