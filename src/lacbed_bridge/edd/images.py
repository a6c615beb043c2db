"""EDD image files: one CIF + the EDD settings -> one float32 TIFF of projected density [e/Å²] (docs/architecture.md §5, §6)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..version import __version__
from ..crystal.cif import read_cif
from ..crystal.model import Crystal
from ..errors import ConfigError
from ..io import write_tiff
from .settings import EddSettings

log = logging.getLogger(__name__)

#: edge_amplitude above which the band-limit cut visibly rings; logged as a warning.
RINGING_WARNING = 1e-2


#: image kinds of the EDD stage: the total projected density and the deformation density
EDD_KINDS = ("edd", "deformation")


def write_edd(cif_path: str | os.PathLike[str], settings: EddSettings, out_path: str | os.PathLike[str],
              kind: str = "edd") -> Path:
    """Compute the EDD image (``kind`` "edd": the total projected density; "deformation": ρ − ρ_IAM,
    :meth:`~.settings.EddSettings.deformation`) of the crystal in ``cif_path`` and write it as a float32 TIFF.

    The TIFF carries JSON metadata: sample_id (the CIF block name), kind, units "e/A^2",
    side, field_of_view [Å], pixel_size [Å], beam/x directions, s_max [1/Å], pixel_value,
    edge_amplitude, f000 [e], seconds, package version. Written atomically. Returns ``out_path``.
    """
    if kind not in EDD_KINDS:  # the kind before the CIF is read
        raise ConfigError(f"expected one of {list(EDD_KINDS)}, got {kind!r}", field="kind")
    image, metadata = edd_image(read_cif(cif_path), settings, kind, source=str(cif_path))
    out = Path(out_path)
    write_tiff(out, np.asarray(image, dtype=np.float32), metadata)
    return out


def edd_image(crystal: Crystal, settings: EddSettings, kind: str = "edd", *,
              source: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The in-memory half of :func:`write_edd` (which the command line and the workflow call, and so
    does the Python API, ``lacbed_bridge.api.project_edd``): the image [e/Å², float64, side × side]
    of ``kind`` ("edd" or "deformation") of ``crystal`` with the EDD ``settings``, and the
    metadata :func:`write_edd` writes with it (``source``: what its ``cif`` entry names)."""
    if kind not in EDD_KINDS:
        raise ConfigError(f"expected one of {list(EDD_KINDS)}, got {kind!r}", field="kind")
    start = time.perf_counter()
    image, info = settings.image(crystal) if kind == "edd" else settings.deformation(crystal)
    seconds = time.perf_counter() - start
    if info.edge_amplitude > RINGING_WARNING:
        log.warning(
            "%s: EDD band limit s_max = %.3g 1/Å cuts terms of %.2g × F(000): expect ringing "
            "(raise edd.s_max or use s_max: auto)",
            source or crystal.name,
            info.s_max,
            info.edge_amplitude,
        )
    metadata = {
        "sample_id": crystal.name,
        "kind": kind,
        "units": "e/A^2",
        "side": settings.side,
        "beam_direction": list(settings.beam_direction),
        "x_direction": list(settings.x_direction),
        "origin": "crystal origin at the image centre",
        "cif": source,
        "seconds": seconds,
        "version": __version__,
        **info.as_dict(),
    }
    return image, metadata
