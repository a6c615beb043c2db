"""The settings of the EDD stage: one frozen object, built once from the config, for the image and
for the workflow's reuse hash (docs/architecture.md §5). Light to import: the projection loads where an image is made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from ..config import config_hash, section_settings
from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from ..crystal.model import Crystal
    from .projection import ProjectionInfo


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
        from .projection import projection_info_and_image

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


def edd_settings(config: Mapping[str, Any], *, family: str | Mapping[str, Any] | None = None) -> EddSettings:
    """The EDD settings of a config: side = 2 × simulation.pixel_count; beam and x directions and
    the Debye–Waller constant from ``simulation`` (``family``: a family's name or ``families`` item,
    whose own beam and x directions, ``families[].geometry``, replace the config's); the rest from
    ``edd`` (absent keys: the schema's defaults). The values' types and ranges are the schema's to
    check (:func:`~lacbed_bridge.config.load_config`)."""
    sim = config.get("simulation") if isinstance(config, Mapping) else None
    if not isinstance(sim, Mapping):
        raise ConfigError("missing section 'simulation' (a mapping)", field="simulation")
    missing = [k for k in ("pixel_count", "incident_beam_direction", "x_direction") if k not in sim]
    if missing:
        raise ConfigError(f"missing key(s) {missing} needed for the EDD image", field="simulation")
    edd = section_settings(config, "edd")
    fov = edd["field_of_view"]
    beam, x_axis = sim["incident_beam_direction"], sim["x_direction"]
    if family is not None:
        from ..family_geometry import family_geometry

        own = family_geometry(dict(config), family)  # type: ignore[arg-type]
        beam, x_axis = own.get("incident_beam_direction", beam), own.get("x_direction", x_axis)
    return EddSettings(
        side=2 * int(sim["pixel_count"]),
        beam_direction=tuple(int(v) for v in beam),
        x_direction=tuple(int(v) for v in x_axis),
        field_of_view=None if fov == "lattice" else float(fov),
        s_max=edd["s_max"],
        pixel_value=edd["pixel_value"],
        tolerance=float(edd["tolerance"]),
        debye_waller_constant=float(section_settings(config, "simulation")["debye_waller_constant"]),
    )
