"""A failed dataset job keeps the previous dataset.

Snakemake deletes a job's declared outputs before the job runs and again after it fails, so a
dataset rebuild that fails (a crash, memory, no usable sample) would leave no dataset at all —
the models, metrics and figures made from it would lose their data. The workflow therefore
links the current dataset's files into a side folder before a run that rebuilds it
(:func:`keep`, Snakemake's ``onstart``) and puts them back when that run ends without a new
``dataset.json`` (:func:`restore`, ``onerror``), with dataset.json's time stamp set to the epoch, so
that the next run still sees it as out of date and tries the rebuild again. A successful run drops
the side folder (:func:`discard`). Links cost no copying (a copy is made only where the side folder
is on another file system).

Inside the job the build itself writes into a staging folder and moves the finished files into
place at the end (:mod:`.builder`), so a failure never mixes old and new files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

#: the dataset files the workflow's dataset rule declares or writes beside them
MARKER = "dataset.json"


def _files(folder: Path) -> list[Path]:
    """Regular files under ``folder``, relative, without hidden ones (a build's staging folder)."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: a copy (keeps the time stamps)
        shutil.copy2(source, target)


#: the side folder's own record: which dataset folder it was kept from (restored only there)
SOURCE = ".source"


def keep(dataset_dir: str | os.PathLike[str], store: str | os.PathLike[str]) -> int:
    """Link every file of a complete dataset (one with dataset.json) into ``store``, replacing what
    was kept before, dataset.json and the record of its folder last (a copy cut short is never
    taken for a whole one); returns the number of files kept (0: no complete dataset — then a side
    folder kept from another folder is dropped, one from this folder stays)."""
    root, side = Path(dataset_dir), Path(store)
    if not (root / MARKER).is_file():
        if _source(side) != str(root.resolve()):
            discard(side)
        return 0
    discard(side)
    files = [f for f in _files(root) if f != Path(MARKER)] + [Path(MARKER)]
    for relative in files:
        _link_or_copy(root / relative, side / relative)
    (side / SOURCE).write_text(str(root.resolve()))
    return len(files)


def _source(store: Path) -> str | None:
    try:
        return (store / SOURCE).read_text()
    except OSError:
        return None


def restore(dataset_dir: str | os.PathLike[str], store: str | os.PathLike[str]) -> int:
    """Put the kept dataset back when the folder has no dataset.json (the rebuild failed or was cut
    short): every kept file replaces what the failed job left, files it left that the kept dataset
    does not have are removed, and dataset.json is marked out of date (mtime = epoch) so the next
    run tries the rebuild again. Returns the number of files restored (0: nothing to do)."""
    root, side = Path(dataset_dir), Path(store)
    if (root / MARKER).is_file() or not (side / MARKER).is_file() or _source(side) != str(root.resolve()):
        return 0
    kept = _files(side)
    if root.is_dir():
        for relative in set(_files(root)) - set(kept):
            (root / relative).unlink()
    for relative in kept:
        if relative.name != MARKER:
            _link_or_copy(side / relative, root / relative)
    _link_or_copy(side / MARKER, root / MARKER)  # last: the dataset is whole again only now
    os.utime(root / MARKER, (0, 0))
    discard(side)
    return len(kept)


def discard(store: str | os.PathLike[str]) -> None:
    """Remove the side folder (after a successful run, or before keeping a newer dataset)."""
    shutil.rmtree(store, ignore_errors=True)
