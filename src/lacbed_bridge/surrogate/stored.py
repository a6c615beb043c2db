"""The predictions an evaluation stores beside its metrics (``predictions.tif``), so that figures
show them without loading a model (numpy and TIFF only: nothing here imports torch).

File: n × C float32 images (C target kinds per sample, in raw physical units: EDD e/Å², LACBED
intensity per unit incident beam), the metadata naming ``sample_ids`` (row order),
``target_kinds``, ``channels``, ``dataset_hash``, ``checkpoint_sha256``, ``split`` and ``subset``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import read_tiff, write_tiff

PREDICTIONS = "predictions.tif"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (ties stored predictions to the checkpoint that made them)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_predictions(out_dir: str | os.PathLike[str], predictions: np.ndarray, sample_ids: Sequence[str],
                      summary: Mapping[str, Any]) -> Path:
    """Write ``predictions`` (n, C, side, side) of ``sample_ids`` with the evaluation's
    ``target_kinds``, ``dataset_hash``, ``split`` and ``subset`` (from ``summary``); atomic."""
    n, channels = predictions.shape[:2]
    if n != len(sample_ids):
        raise ValueError(f"{n} predictions for {len(sample_ids)} sample ids")
    meta = {"sample_ids": list(sample_ids), "target_kinds": list(summary.get("target_kinds", [])), "channels": int(channels),
            "units": "raw physical units of each target kind (EDD e/Å², LACBED intensity)",
            "dataset_hash": summary.get("dataset_hash"), "checkpoint_sha256": summary.get("checkpoint_sha256"),
            "split": summary.get("split"), "subset": summary.get("subset")}
    path = Path(out_dir) / PREDICTIONS
    write_tiff(path, predictions.reshape(n * channels, *predictions.shape[-2:]), meta)
    return path


def read_predictions(out_dir: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """``predictions.tif`` of an evaluation folder: (n, C, side, side) float32 and its metadata."""
    path = Path(out_dir) / PREDICTIONS
    stack, meta = read_tiff(path)
    channels = int(meta.get("channels", 1))
    if stack.ndim == 2:
        stack = stack[None]
    ids = meta.get("sample_ids")
    if not isinstance(ids, list) or len(ids) * channels != len(stack):
        raise InputError(f"holds {len(stack)} images, its metadata {len(ids or [])} samples × {channels} channels", path=path)
    return stack.reshape(len(ids), channels, *stack.shape[-2:]), meta
