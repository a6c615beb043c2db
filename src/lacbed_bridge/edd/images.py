"""EDD image files: one CIF + the config -> one float32 TIFF of projected density [e/Å²] (DESIGN §5, §6)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..config import config_hash
from ..crystal.cif import read_cif
from ..crystal.model import Crystal
from ..errors import ConfigError
from ..io import write_tiff
from .projection import ProjectionInfo, projection_info_and_image

log = logging.getLogger(__name__)

#: edge_amplitude above which the band-limit cut visibly rings; logged as a warning.
RINGING_WARNING = 1e-2


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key) if isinstance(config, Mapping) else None
    if not isinstance(value, Mapping):
        raise ConfigError(f"missing section {key!r} (a mapping)", field=key)
    return value


@dataclass(frozen=True)
class EddSettings:
    """Everything an EDD image depends on besides the crystal (one source for the image and for
    the workflow's reuse hash).

    side [px]; beam_direction [uvw]; x_direction (hkl); field_of_view [Å] (None: the lattice
    parameter a); s_max ("auto", "nyquist" or sinθ/λ [1/Å]); pixel_value ("area" or "point");
    tolerance (relative size of the largest omitted term for s_max "auto");
    debye_waller_constant: B [Å²] used where a site has none, the simulator's rule
    (:func:`~lacbed_bridge.crystal.model.effective_b_iso`), so EDD and LACBED see the same atoms.
    """

    side: int
    beam_direction: tuple[int, ...]
    x_direction: tuple[int, ...]
    field_of_view: float | None
    s_max: str | float
    pixel_value: str
    tolerance: float
    debye_waller_constant: float

    def projection_args(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~lacbed_bridge.edd.projection.projection_info_and_image`."""
        return {"side": self.side, "beam_direction": list(self.beam_direction), "x_direction": list(self.x_direction),
                "field_of_view": self.field_of_view, "s_max": self.s_max, "pixel_value": self.pixel_value,
                "tolerance": self.tolerance}

    def image(self, crystal: Crystal) -> tuple[np.ndarray, ProjectionInfo]:
        """The projected density [e/Å²] of ``crystal`` and what the projection used."""
        return projection_info_and_image(crystal.with_debye_waller_default(self.debye_waller_constant), **self.projection_args())

    def deformation(self, crystal: Crystal) -> tuple[np.ndarray, ProjectionInfo]:
        """The projected deformation density Δρ = ρ − ρ_IAM [e/Å²] and the projection used.

        ρ_IAM is the same crystal made of neutral spherical atoms (P_v of the neutral atom, κ = 1;
        the independent-atom model of charge-density studies, e.g. Coppens, X-ray Charge
        Densities and Chemical Bonding, 1997, ch. 5), projected with the same reflections, band
        limit and pixel window, so Δρ carries only the charge model: it is 0 for a neutral,
        κ = 1 crystal, and its pixels sum to the net charge moved within the field of view
        (0 for one projected cell of a neutral crystal).
        """
        total, info = self.image(crystal)
        neutral = crystal.with_sites(tuple(replace(s, pv=None, kappa=1.0) for s in crystal.sites))
        fixed = replace(self, s_max=info.s_max)  # the same band limit for both (s_max "auto" depends on P_v, κ)
        iam, _ = fixed.image(neutral)
        return total - iam, info

    def reuse_hash(self) -> str:
        """sha256 of every setting: an image is reused only when this and its CIF bytes match."""
        return config_hash(asdict(self))


def edd_settings(config: Mapping[str, Any]) -> EddSettings:
    """The EDD settings of a validated config: side = 2 × simulation.pixel_count; beam and x
    directions and the Debye–Waller constant from ``simulation``; the rest from ``edd`` (defaults
    as in the schema when a key is absent)."""
    sim = _section(config, "simulation")
    edd = config.get("edd") or {}
    missing = [k for k in ("pixel_count", "incident_beam_direction", "x_direction") if k not in sim]
    if missing:
        raise ConfigError(f"missing key(s) {missing} needed for the EDD image", field="simulation")
    pixel_count = sim["pixel_count"]
    if not isinstance(pixel_count, int) or isinstance(pixel_count, bool) or pixel_count < 1:
        raise ConfigError(f"expected a positive integer, got {pixel_count!r}", field="simulation.pixel_count")
    fov = edd.get("field_of_view", "lattice")
    if fov != "lattice" and not (isinstance(fov, (int, float)) and not isinstance(fov, bool) and fov > 0):
        raise ConfigError(f"expected 'lattice' or a positive length [Å], got {fov!r}", field="edd.field_of_view")
    return EddSettings(
        side=2 * pixel_count,
        beam_direction=tuple(int(v) for v in sim["incident_beam_direction"]),
        x_direction=tuple(int(v) for v in sim["x_direction"]),
        field_of_view=None if fov == "lattice" else float(fov),
        s_max=edd.get("s_max", "auto"),
        pixel_value=edd.get("pixel_value", "area"),
        tolerance=float(edd.get("tolerance", 1e-4)),
        debye_waller_constant=float(sim.get("debye_waller_constant", 0.0)),
    )


#: image kinds of the EDD stage: the total projected density and the deformation density
EDD_KINDS = ("edd", "deformation")


def write_edd(cif_path: str | os.PathLike[str], config: Mapping[str, Any], out_path: str | os.PathLike[str],
              kind: str = "edd") -> Path:
    """Compute the EDD image (``kind`` "edd": the total projected density; "deformation": ρ − ρ_IAM,
    :meth:`EddSettings.deformation`) of the crystal in ``cif_path`` and write it as a float32 TIFF.

    The TIFF carries JSON metadata: sample_id (the CIF block name), kind, units "e/A^2",
    side, field_of_view [Å], pixel_size [Å], beam/x directions, s_max [1/Å], pixel_value,
    edge_amplitude, f000 [e], seconds, package version. Written atomically. Returns ``out_path``.
    """
    if kind not in EDD_KINDS:
        raise ConfigError(f"expected one of {list(EDD_KINDS)}, got {kind!r}", field="kind")
    settings = edd_settings(config)
    crystal = read_cif(cif_path)
    start = time.perf_counter()
    image, info = settings.image(crystal) if kind == "edd" else settings.deformation(crystal)
    seconds = time.perf_counter() - start
    if info.edge_amplitude > RINGING_WARNING:
        log.warning(
            "%s: EDD band limit s_max = %.3g 1/Å cuts terms of %.2g × F(000): expect ringing "
            "(raise edd.s_max or use s_max: auto)",
            cif_path,
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
        "cif": str(cif_path),
        "seconds": seconds,
        "version": __version__,
        **info.as_dict(),
    }
    out = Path(out_path)
    write_tiff(out, np.asarray(image, dtype=np.float32), metadata)
    return out
