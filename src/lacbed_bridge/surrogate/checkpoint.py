"""Self-describing, resumable checkpoints of the surrogate (docs/architecture.md §7).

One ``torch.save`` file holding only tensors, numbers and strings, so it loads with
``torch.load(..., weights_only=True)`` (no pickled code). Everything that is not a tensor is
stored as JSON text:

* ``model_json``: the generator's and discriminator's constructor arguments (``describe()``);
* ``train_json``: the :class:`~.config.TrainConfig`;
* ``data_json``: dataset folder, dataset hash, direction, split, side and the normalisation
  constants (so ``predict`` can map raw physical images in and out);
* ``rng_json``: Python ``random`` and NumPy global RNG states;
* tensors: ``generator``/``discriminator`` state dicts, the optimiser and scheduler state dicts,
  ``torch_rng`` (CPU generator) and ``cuda_rng`` (one per device).

``epoch`` counts the completed epochs; resuming continues with the next one.
"""

from __future__ import annotations

import json
import pickle
import zipfile
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..version import __version__
from ..errors import InputError
from ..io import atomic_write
from .models import Describable, model_from_description

FORMAT = "lacbed-bridge-surrogate"
CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """The global RNG states: JSON text for Python/NumPy, tensors for torch."""
    py = random.getstate()
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "rng_json": json.dumps(
            {
                "python": [py[0], list(py[1]), py[2]],
                "numpy": {"name": name, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
            }
        ),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(ckpt: dict[str, Any]) -> None:
    """Restore the global RNG states saved by :func:`rng_state`."""
    state = json.loads(ckpt["rng_json"])
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = state["numpy"]
    np.random.set_state((n["name"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(ckpt["torch_rng"])
    if ckpt.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["cuda_rng"])


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically (adds the format marker and versions)."""
    full = {"format": FORMAT, "_version": CHECKPOINT_VERSION, "package_version": __version__, **payload}
    with atomic_write(path, "wb") as handle:
        torch.save(full, handle)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a clear error for anything else."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise InputError("checkpoint not found", path=p)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message suggests weights_only=False, which would run code from the file: never
        raise InputError("holds Python objects besides tensors and plain data (not a lacbed-bridge checkpoint, or "
                         "altered); refused: loading it would run code from the file", path=p) from None
    except Exception as exc:  # torch raises several types for a file that is not a checkpoint
        if not zipfile.is_zipfile(p):
            raise InputError(f"not a readable checkpoint: a damaged or truncated file ({p.stat().st_size} bytes, not a "
                             "complete torch archive); train the model again", path=p) from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # torch's messages run to many lines
        raise InputError(f"not a readable checkpoint ({first})", path=p) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} checkpoint", path=p, field="format")
    if int(ckpt.get("_version", -1)) != CHECKPOINT_VERSION:
        raise InputError(f"checkpoint version {ckpt.get('_version')} (expected {CHECKPOINT_VERSION})", path=p, field="_version")
    ckpt["path"] = str(p)
    return ckpt


def checkpoint_json(ckpt: dict[str, Any], key: str) -> dict[str, Any]:
    """One of the JSON sections (``model_json``, ``train_json``, ``data_json``) as a dict."""
    return json.loads(ckpt[key])


def generator_from_checkpoint(ckpt: dict[str, Any]) -> Describable:
    """Rebuild the generator from a checkpoint alone, weights loaded, in ``eval()`` mode."""
    model = model_from_description(checkpoint_json(ckpt, "model_json")["generator"])
    model.load_state_dict(ckpt["generator"])
    return model.eval()
