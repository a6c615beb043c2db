"""Is a built dataset still the one its ``dataset.json`` describes?

A build records, per image stack, its file size and the sha256 of its pixels (little-endian
float32, stack order), the ``dataset_hash`` of ``manifest.csv`` (without its wall-time columns) and
the sha256 of every split file. Two checks use these records:

* :func:`dataset_problems` with ``deep=False`` is cheap (a stat per file): missing or resized
  (truncated) stacks. The workflow runs it before every run and rebuilds a damaged dataset;
  files changed *after* dataset.json was written are checked deeply there too.
* :func:`verify_dataset` (training, evaluation) recomputes the checksums: a stack overwritten to
  the same size, an edited manifest or split is refused with one line saying how to rebuild,
  instead of training on data that dataset.json (and every metrics.json) does not describe.

Cost: hashing runs at the disk's or sha256's speed (measured in ``benchmarks/dataset_integrity.py``);
the paper-scale stacks (3 × 5 000 × 128² float32, 1 GB) take about 2 s on one core here (sha256 at
≈ 500 MB/s, three times one plain read of the stack), against hours of training.
Datasets built before these records existed are not checked.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

#: images hashed per step (bounded memory for any stack size)
CHUNK_BYTES = 64 * 2**20
#: what to run when a dataset is damaged
REBUILD = "rebuild it (snakemake --force <results>/dataset/dataset.json, or rerun `lacbed-bridge dataset`)"


def stack_pixel_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a stack's pixels (little-endian float32, row-major, image after image), read
    through a memory map in chunks of :data:`CHUNK_BYTES`; a single image counts as a stack of one."""
    import tifffile

    stack = tifffile.memmap(path, mode="r")
    digest = hashlib.sha256()
    if stack.ndim == 2:
        stack = stack.reshape(1, *stack.shape)
    per_image = max(1, int(np.prod(stack.shape[1:])) * 4)
    step = max(1, CHUNK_BYTES // per_image)
    for start in range(0, stack.shape[0], step):
        digest.update(np.ascontiguousarray(stack[start : start + step], dtype="<f4").tobytes())
    del stack
    return digest.hexdigest()


def _info(root: Path) -> dict[str, Any] | None:
    from ..io import read_json

    path = root / "dataset.json"
    if not path.is_file():
        return None
    info = read_json(path)
    return info if isinstance(info, dict) else None


def dataset_problems(dataset_dir: str | os.PathLike[str], *, deep: bool = False, changed_after: float | None = None,
                     split: str | None = None) -> list[str]:
    """What no longer matches the records of ``dataset.json``, one line each (empty: intact, or no
    dataset.json, or a dataset built without records).

    deep: recompute every checksum (stacks, manifest, the split files — only ``split`` when given).
    changed_after: without ``deep``, recompute the checksums of the files modified after this time
        (seconds since the epoch; the workflow passes dataset.json's own mtime).
    """
    from .builder import manifest_data_hash

    root = Path(dataset_dir)
    info = _info(root)
    if info is None or "stacks" not in info:
        return []
    problems = []

    def check_deeply(path: Path) -> bool:
        return deep or (changed_after is not None and path.stat().st_mtime > changed_after)

    for kind, record in sorted(info["stacks"].items()):
        path = root / str(record.get("file", f"{kind}.tif"))
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        size = path.stat().st_size
        if size != record.get("bytes"):
            problems.append(f"{path}: {size} bytes, {record.get('bytes')} when the dataset was built (truncated or replaced)")
            continue
        if check_deeply(path):
            try:
                digest = stack_pixel_sha256(path)
            except Exception as exc:  # noqa: BLE001 - an unreadable stack is one problem
                problems.append(f"{path}: unreadable ({exc})")
                continue
            if digest != record.get("pixel_sha256"):
                problems.append(f"{path}: its pixels differ from those recorded in dataset.json (changed after the build)")
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        problems.append(f"{manifest}: missing")
    elif check_deeply(manifest) and manifest_data_hash(manifest.read_text()) != info.get("dataset_hash"):
        problems.append(f"{manifest}: its content differs from the dataset_hash of dataset.json (edited after the build)")
    for name, record in sorted((info.get("splits") or {}).items()):
        if split is not None and name != split or "sha256" not in record:
            continue
        path = root / "splits" / f"{name}.csv"
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif check_deeply(path) and hashlib.sha256(path.read_bytes()).hexdigest() != record["sha256"]:
            problems.append(f"{path}: differs from the split recorded in dataset.json (edited or damaged after the build)")
    return problems


def verify_dataset(dataset_dir: str | os.PathLike[str], *, split: str | None = None) -> None:
    """Recompute the dataset's checksums (stacks, manifest, and ``split``'s file or every split) and
    raise :class:`InputError` naming the damaged file and how to rebuild when one differs."""
    problems = dataset_problems(dataset_dir, deep=True, split=split)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{problems[0]}{more}; the dataset is damaged: {REBUILD}", field="dataset")
