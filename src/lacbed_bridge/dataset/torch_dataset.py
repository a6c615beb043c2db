"""A PyTorch ``Dataset`` of (input, target) image pairs from a built dataset folder.

The stacks ``edd.tif``, ``lacbed.tif`` (and ``deformation.tif``) are memory-mapped (``tifffile.memmap``), opened lazily
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
from .view import denormalise, normalise  # noqa: F401  (re-exported: training and prediction use them)
from . import channel_kinds, direction_kinds  # noqa: F401  (direction_kinds re-exported)
from .builder import load_dataset_info
from .splits import read_split, split_hash, subset_indices

Direction = Literal["edd2lacbed", "lacbed2edd"]


class PairedImageDataset(Dataset):
    """Normalised (input, target) pairs of one subset of one split.

    Parameters
    ----------
    dataset_dir: a folder written by :func:`~lacbed_bridge.dataset.builder.build_dataset`.
    direction: ``edd2lacbed`` (input EDD → target LACBED) or ``lacbed2edd``.
    split: split name (``random_0``, ``loso_F-43m``, ...); ``None`` = every sample.
    subset: ``train``, ``val`` or ``test`` (ignored when ``split`` is ``None``).
    input, target: channels of the EDD side when it is the input / the target (``edd``,
        ``deformation`` or ``both``; :func:`lacbed_bridge.dataset.channel_kinds`).
    with_group: items also carry the index of their base crystal (:attr:`groups`), so a batch
        knows which of its samples are charge states of one crystal.

    Items are ``(x, y)`` (or ``(x, y, group)``), float32 tensors of shape (C, side, side) on the
    [0, 1] scale, one channel per image kind (:attr:`input_kinds`, :attr:`target_kinds`), each
    normalised with its own dataset-wide constants.
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike[str],
        *,
        direction: str = "edd2lacbed",
        split: str | None = "random_0",
        subset: str = "train",
        input: str = "edd",
        target: str = "edd",
        with_group: bool = False,
    ) -> None:
        self.root = Path(dataset_dir)
        self.info = load_dataset_info(self.root)
        self.direction = direction
        self.input_kinds, self.target_kinds = channel_kinds(direction, input, target)
        self.input_kind, self.target_kind = self.input_kinds[0], self.target_kinds[0]
        self.with_group = with_group
        missing = [k for k in (*self.input_kinds, *self.target_kinds) if k not in self.info["normalisation"]]
        if missing:
            raise InputError(f"the dataset has no {missing} images (build it with --deformation-root for the deformation "
                             "density)", path=self.root / "dataset.json", field="normalisation")
        self.side = int(self.info["side"])
        self.manifest = pd.read_csv(self.root / "manifest.csv", dtype={"sample_id": str})
        #: sha256 of the split's sample → subset assignment (None without a split)
        self.split_hash: str | None = None
        if split is None:
            self.indices = np.arange(len(self.manifest), dtype=np.int64)
        else:
            frame = read_split(self.root / "splits" / f"{split}.csv")
            self.indices = subset_indices(frame, subset)
            self.split_hash = split_hash(frame)
        self.split, self.subset = split, subset
        self._maps: dict[str, np.ndarray] = {}
        bases = self.manifest["base_id"].astype(str) if "base_id" in self.manifest else self.manifest["sample_id"]
        codes, _ = pd.factorize(bases)
        #: per item, the index of its base crystal (all charge states of one crystal share it)
        self.groups = codes[self.indices].astype(np.int64)

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

    def _item(self, kinds: tuple[str, ...], row: int) -> torch.Tensor:
        planes = [normalise(np.array(self._stack(k)[row], dtype=np.float32), self.normalisation[k]) for k in kinds]
        return torch.from_numpy(np.stack(planes).astype(np.float32, copy=False))

    def __getitem__(self, item: int) -> tuple[torch.Tensor, ...]:
        row = int(self.indices[item])
        pair = (self._item(self.input_kinds, row), self._item(self.target_kinds, row))
        return (*pair, torch.tensor(int(self.groups[item]))) if self.with_group else pair
