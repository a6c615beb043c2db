"""Inference with a trained surrogate: raw physical image(s) in, raw physical image(s) out.

The checkpoint carries the dataset's normalisation constants, so an input in physical units
(EDD [e/Å²] or LACBED intensity per unit beam) is mapped to [0, 1], passed through the generator
(``eval()``: deterministic, no dropout) and mapped back to the physical units of the target kind.
Outputs are float32 TIFFs (``write_tiff``) whose metadata names the model, the direction and the
source. A CIF input (``edd2lacbed`` models only) is first turned into its EDD image (and its
deformation density, for a model that takes it), which needs the EDD stage
(``lacbed_bridge.edd.projection.project_density``) with the EDD settings of a config.

Channels: a model takes and gives one image kind per channel (``input_kinds``/``target_kinds`` of
its checkpoint, e.g. ``["edd", "deformation"]``). A one-channel image is side × side; a
two-channel one is a stack C × side × side in that kind order (a TIFF stack whose metadata
``kinds`` lists them), as input and as output.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..version import __version__
from ..dataset.torch_dataset import denormalise, normalise
from ..errors import InputError
from ..io import read_tiff, write_tiff
from .checkpoint import checkpoint_json, generator_from_checkpoint, load_checkpoint
from ..device import resolve_device

if TYPE_CHECKING:
    from ..edd.settings import EddSettings

INPUT_SUFFIXES = (".tif", ".tiff", ".cif")


def model_kinds(data_desc: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(input kinds, target kinds) of a checkpoint's data description, one per channel."""
    return (list(data_desc.get("input_kinds") or [data_desc["input_kind"]]),
            list(data_desc.get("target_kinds") or [data_desc["target_kind"]]))


def check_input_shape(shape: Sequence[int], data_desc: Mapping[str, Any], path: Path | None = None) -> None:
    """An input of a model must be side × side (one channel) or C × side × side (C input kinds)."""
    inputs, _ = model_kinds(data_desc)
    side = int(data_desc["side"])
    wanted = (side, side) if len(inputs) == 1 else (len(inputs), side, side)
    if tuple(shape) != wanted:
        raise InputError(f"image shape {tuple(shape)} does not match the model's {' × '.join(map(str, wanted))} "
                         f"(channels {inputs})", path=path, field="shape")


def load_model(path: str | os.PathLike[str], device: str = "auto") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator of a checkpoint (``eval()``, on ``device``) and its data description."""
    ckpt = load_checkpoint(path)
    data_desc = checkpoint_json(ckpt, "data_json")
    data_desc["checkpoint"] = ckpt["path"]
    return generator_from_checkpoint(ckpt).to(resolve_device(device)), data_desc


@torch.no_grad()
def predict_arrays(model: torch.nn.Module, images: Sequence[np.ndarray], data_desc: Mapping[str, Any]) -> list[np.ndarray]:
    """Predict target images [physical units] from input images [physical units].

    Each input is side × side (one-channel model) or C × side × side (one plane per input kind);
    each output likewise (side × side for a one-channel target).
    """
    side = int(data_desc["side"])
    norm = data_desc["normalisation"]
    inputs, targets = model_kinds(data_desc)
    for image in images:
        check_input_shape(np.shape(image), data_desc)
    device = next(model.parameters()).device
    planes = [np.asarray(im, dtype=np.float32).reshape(len(inputs), side, side) for im in images]
    batch = np.stack([np.stack([normalise(p[c], norm[k]) for c, k in enumerate(inputs)]) for p in planes])
    out = model(torch.from_numpy(batch.astype(np.float32)).to(device)).float().clamp(0.0, 1.0).cpu().numpy()
    result = [np.stack([denormalise(o[c], norm[k]) for c, k in enumerate(targets)]).astype(np.float32) for o in out]
    return [r[0] for r in result] if len(targets) == 1 else result


#: normalised input values beyond these lie far outside what the model was trained on ([0, 1])
TRAINED_RANGE = (-0.5, 1.5)


def range_warning(image: np.ndarray, data_desc: Mapping[str, Any]) -> str | None:
    """One line when an input's values lie far outside the training data's (the dataset's
    normalisation maps the training images onto [0, 1]; beyond [−0.5, 1.5] the network extrapolates),
    else None."""
    inputs, _ = model_kinds(data_desc)
    side = int(data_desc["side"])
    planes = np.asarray(image, dtype=np.float64).reshape(len(inputs), side, side)
    for plane, kind in zip(planes, inputs, strict=True):
        norm = data_desc["normalisation"][kind]
        lo, hi = float(plane.min()), float(plane.max())
        n_lo, n_hi = (lo - norm["offset"]) / norm["scale"], (hi - norm["offset"]) / norm["scale"]
        if n_lo < TRAINED_RANGE[0] or n_hi > TRAINED_RANGE[1]:
            return (f"{kind} values {lo:.4g} … {hi:.4g} lie far outside the training data's {norm.get('min', norm['offset']):.4g} … "
                    f"{norm.get('max', norm['offset'] + norm['scale']):.4g} (normalised {n_lo:.3g} … {n_hi:.3g}; the model saw 0 … 1): "
                    "the prediction is an extrapolation — wrong units or another kind of image?")
    return None


def _edd_from_cif(path: Path, edd: EddSettings | None, side: int, kinds: Sequence[str] = ("edd",)) -> np.ndarray:
    from ..crystal.cif import read_cif

    if edd is None:
        raise InputError("CIF input needs --config (beam direction, x direction, field of view of the EDD image)", path=path)
    if edd.side != side:
        raise InputError(f"the config's image side {edd.side} differs from the model's {side}", path=path, field="simulation.pixel_count")
    return edd_input(read_cif(path), edd, side, kinds)


def edd_input(crystal: Any, settings: EddSettings, side: int, kinds: Sequence[str] = ("edd",)) -> np.ndarray:
    """The input of an ``edd2lacbed`` model for a crystal (what ``predict`` makes of a CIF, and the
    Python API of a :class:`~lacbed_bridge.crystal.model.Crystal`): its EDD image of each kind
    ("edd", "deformation") [e/Å², float32] with the EDD ``settings``, side × side for one kind,
    else a stack in ``kinds`` order."""
    if settings.side != side:
        raise InputError(f"the config's image side {settings.side} differs from the model's {side}", field="simulation.pixel_count")
    planes = [np.asarray((settings.image if kind == "edd" else settings.deformation)(crystal)[0], dtype=np.float32) for kind in kinds]
    return planes[0] if len(planes) == 1 else np.stack(planes)


def list_inputs(source: str | os.PathLike[str]) -> list[Path]:
    """A single input file, or the ``.tif``/``.tiff``/``.cif`` files of a folder (sorted)."""
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
        if not files:
            raise InputError(f"no input images ({', '.join(INPUT_SUFFIXES)}) in the folder", path=src)
        return files
    if not src.is_file():
        raise InputError("input not found", path=src)
    if src.suffix.lower() not in INPUT_SUFFIXES:
        raise InputError(f"unsupported input type {src.suffix!r}; expected one of {list(INPUT_SUFFIXES)}", path=src)
    return [src]


def predict_files(
    model_path: str | os.PathLike[str],
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    edd: EddSettings | None = None,
    device: str = "auto",
    batch_size: int = 32,
) -> list[Path]:
    """Predict for one input file or a folder; returns the written paths.

    ``out`` is a ``.tif`` path for a single input file, otherwise a folder receiving
    ``<input stem>.tif`` per input. ``edd``: the EDD settings a CIF input is projected with (an
    ``edd2lacbed`` model given CIFs).
    """
    model, desc = load_model(model_path, device)
    inputs = list_inputs(source)
    out_p = Path(out)
    single = len(inputs) == 1 and Path(source).is_file() and out_p.suffix.lower() in (".tif", ".tiff")
    written: list[Path] = []
    # check every input before writing anything: a bad file late in a folder leaves no partial output
    input_kinds, target_kinds = model_kinds(desc)
    for path in inputs:
        if path.suffix.lower() == ".cif":
            if desc["input_kind"] == "lacbed":
                raise InputError(f"a CIF gives an EDD image, but this model's input is {desc['input_kind']}", path=path)
        else:
            image, meta = read_tiff(path)
            kinds = meta.get("kinds") or ([meta["kind"]] if meta.get("kind") is not None else None)
            if kinds is not None and list(kinds) != input_kinds:
                raise InputError(f"image kind(s) {kinds}, but this model ({desc['direction']}) takes {input_kinds}", path=path, field="kind")
            check_input_shape(image.shape, desc, path)
            if not np.all(np.isfinite(image)):
                raise InputError(f"{int(np.size(image) - np.isfinite(image).sum())} non-finite value(s) (NaN or inf) in the image",
                                 path=path)
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        images, metas = [], []
        for path in chunk:
            if path.suffix.lower() == ".cif":
                images.append(_edd_from_cif(path, edd, int(desc["side"]), input_kinds))
                metas.append({"sample_id": path.stem})
            else:
                image, meta = read_tiff(path)
                images.append(image)
                metas.append(meta)
        notes = [range_warning(image, desc) for image in images]
        for path, note in zip(chunk, notes):
            if note:
                print(f"lacbed-bridge predict: warning: {path}: {note}", file=sys.stderr)
        t0 = time.perf_counter()
        preds = predict_arrays(model, images, desc)
        seconds = (time.perf_counter() - t0) / len(chunk)
        for path, meta, pred, note in zip(chunk, metas, preds, notes):
            target = out_p if single else out_p / f"{path.stem}.tif"
            write_tiff(
                target,
                pred,
                {
                    "sample_id": meta.get("sample_id", path.stem),
                    "kind": desc["target_kind"],
                    **({"kinds": target_kinds} if len(target_kinds) > 1 else {}),
                    "backend": "surrogate",
                    "direction": desc["direction"],
                    "model": str(desc["checkpoint"]),
                    "dataset_hash": desc["dataset_hash"],
                    "source": str(path),
                    "seconds": seconds,
                    "package_version": __version__,
                    **({"warning": note} if note else {}),
                },
            )
            written.append(target)
    return written
