"""File helpers: atomic writes and float32 TIFF images with JSON metadata (docs/architecture.md §6).

Every file the package writes goes through :func:`atomic_write` (temporary file in the target
folder, then ``os.replace``), so an interrupted run never leaves a half-written file that Snakemake
would take as done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import tifffile
import yaml

from .errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError("is a folder; expected a file path to write", path=target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:  # a read-only or missing folder: name the target, not the hidden temp file
        raise InputError(f"cannot write here ({exc.strerror or exc})", path=target) from None
    os.close(fd)  # reopen by name: tifffile needs a handle whose .name is a path, not a descriptor
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
    try:
        with open(tmp, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise InputError(f"cannot write here ({exc.strerror or exc})", path=target) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


#: metadata key of an image's pixel checksum (:func:`pixel_sha256`), written by :func:`write_tiff`
PIXEL_SHA256 = "pixel_sha256"


def pixel_sha256(image: np.ndarray) -> str:
    """sha256 of an image's little-endian float32 pixel bytes (row-major), independent of the TIFF
    layout and metadata: the checksum :func:`write_tiff` records and :func:`read_tiff` verifies."""
    return hashlib.sha256(np.ascontiguousarray(image, dtype="<f4").tobytes()).hexdigest()


def write_tiff(path: str | os.PathLike[str], image: np.ndarray, metadata: dict[str, Any]) -> None:
    """Write a float32 image (side × side, or a stack N × side × side) with JSON metadata.

    The metadata dict is stored as JSON in the TIFF ImageDescription tag, so any TIFF reader sees
    it and :func:`read_tiff` returns it unchanged. Values are written as float32 without scaling
    or clipping (raw physical units: e/Å² for EDD, intensity per unit incident beam for LACBED).
    The metadata also records the pixels' checksum (``pixel_sha256``), so that a file whose pixels
    were changed afterwards — even to the same size — is refused by :func:`read_tiff`.
    """
    array = np.ascontiguousarray(image, dtype=np.float32)
    metadata = {**metadata, PIXEL_SHA256: pixel_sha256(array)}
    description = json.dumps(metadata, sort_keys=True, default=_json_default)
    with atomic_write(path, "wb") as handle:
        tifffile.imwrite(handle, array, description=description, metadata=None, photometric="minisblack")


class _Truncated(Exception):
    pass


@contextlib.contextmanager
def _tifffile_problems() -> Iterator[list[str]]:
    """The warnings tifffile logs while reading (it logs, not raises, a page offset past the end)."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = _Collect(level=logging.WARNING)
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def read_tiff(path: str | os.PathLike[str], *, verify: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Read an image written by :func:`write_tiff`; returns (float32 array, metadata dict).

    With ``verify`` (the default) an image whose metadata records a pixel checksum must match it:
    pixels changed after writing (same-size corruption, an overwrite by another program) raise an
    :class:`InputError` instead of being used. Files without a checksum (other writers, older
    versions) are read as they are."""
    p = Path(path)
    try:
        with _tifffile_problems() as problems, tifffile.TiffFile(p) as tif:
            size = tif.filehandle.size
            pages = list(tif.pages)  # follows the chain of page headers (a stack's lie after its data)
            end = max((offset + count for page in pages
                       for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False)), default=0)
            if end > size:
                raise _Truncated(f"truncated TIFF: its image data runs to byte {end}, the file has {size} bytes")
            if any("offset" in message for message in problems):
                raise _Truncated(f"truncated TIFF: a page header lies past the end of the file ({size} bytes)")
            array = tif.asarray()
            description = tif.pages[0].description
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except _Truncated as exc:
        raise InputError(str(exc), path=p) from None
    except Exception as exc:  # tifffile raises several types for a file that is not a TIFF
        raise InputError(f"not a readable TIFF image ({exc})", path=p) from None
    try:
        metadata = json.loads(description) if description else {}
    except json.JSONDecodeError:
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    image = np.asarray(array, dtype=np.float32)
    recorded = metadata.get(PIXEL_SHA256)
    if verify and recorded is not None and pixel_sha256(image) != recorded:
        raise InputError(f"its pixels differ from the checksum recorded when it was written ({PIXEL_SHA256} "
                         f"{str(recorded)[:12]}…): the file was changed afterwards; remake it", path=p)
    return image, metadata


def read_json(path: str | os.PathLike[str], *, missing: str = "file not found") -> Any:
    """Parse a JSON file; a missing or invalid file is an :class:`InputError` naming it."""
    p = Path(path)
    if not p.is_file():
        raise InputError(missing, path=p)
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", path=p) from None


#: limits of a YAML file read as config or table (a hand-written file is far smaller)
MAX_YAML_BYTES = 4 * 2**20
MAX_YAML_ALIASES = 100


def read_yaml(path: str | os.PathLike[str], *, missing: str = "file not found", error: type[InputError] = InputError) -> Any:
    """Parse a YAML file (safe loader); a missing or invalid file raises ``error`` naming it."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_YAML_BYTES:
            raise error(f"{size} bytes: a config or table this large is not a hand-written file; at most {MAX_YAML_BYTES}", path=p)
        with open(p) as handle:
            text = handle.read()
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > MAX_YAML_ALIASES:
            # each alias may repeat a whole tree: a handful nested is a "billion laughs" that fills memory when
            # the config is hashed or written out
            raise error(f"{aliases} YAML aliases (*name); at most {MAX_YAML_ALIASES}", path=p)
        return yaml.safe_load(text)
    except FileNotFoundError:
        raise error(missing, path=p) from None
    except yaml.YAMLError as exc:
        raise error(yaml_problem(exc), path=p) from None


def yaml_problem(exc: Exception) -> str:
    """One line for a YAML syntax error: where (line and column, 1-based) and what."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"not valid YAML at {where}{problem}" + (f" ({context})" if context else "")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
