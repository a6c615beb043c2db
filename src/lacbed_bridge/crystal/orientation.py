"""The crystal in the microscope: lattice bases and the microscope frame — the one orientation
module, shared by the LACBED simulator (``simulate/``) and the EDD projection (``edd/``), so that
an EDD image and a LACBED disc share their frame (docs/architecture.md §4, docs/conventions.md).

Conventions (Felix, docs/felix_physics.md §4; crystallography_mod.f90:134-223, bloch_mod.f90:105-112):
- orthogonal crystal frame: a ∥ x, b in the x–y plane (the same Cartesian frame as gemmi's
  ``UnitCell.orth``, to rounding);
- reciprocal vectors **include 2π** (a* = 2π b×c / V), so |g| = 2π/d [1/Å];
- microscope frame: X̂ ∥ IXDirection read as reciprocal-lattice (hkl) components, Ẑ ∥
  IIncidentBeamDirection read as direct-lattice [uvw], Ŷ = Ẑ × X̂; the beam travels along +Ẑ.
  In the images (the LACBED disc and the EDD image alike) column c runs along X̂ and row r along Ŷ.

Which pixel of the disc has which incident wave vector, and which reflections a lattice centring
allows, are the simulator's own (``simulate/geometry.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .model import Crystal

Vector = tuple[int, int, int]

#: smallest accepted n̂·ẑ (surface normal vs beam); below it the normal correction (1 + g·n̂/k_n)
#: of bloch_mod.f90:248-256 loses its meaning (k_n → 0)
MIN_NORMAL_COSINE = 0.1


@dataclass(frozen=True)
class BeamGeometry:
    """The directions that fix the microscope frame: the beam [uvw] (direct lattice), the image x
    axis (hkl, reciprocal lattice) and the specimen's surface normal [uvw] (Felix's
    IIncidentBeamDirection, IXDirection, INormalDirection)."""

    incident_beam_direction: Vector
    x_direction: Vector
    normal_direction: Vector


def direct_basis(cell: tuple[float, float, float, float, float, float]) -> np.ndarray:
    """Rows a, b, c [Å] in the orthogonal crystal frame (a ∥ x, b in the x–y plane)."""
    a, b, c, alpha, beta, gamma = cell
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    sg = math.sin(math.radians(gamma))
    cz = math.sqrt(max(0.0, 1.0 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg)) / sg
    return np.array(
        [
            [a, 0.0, 0.0],
            [b * cg, b * sg, 0.0],
            [c * cb, c * (ca - cb * cg) / sg, c * cz],
        ]
    )


def reciprocal_basis(direct: np.ndarray) -> np.ndarray:
    """Rows a*, b*, c* [1/Å] **with 2π**: a* = 2π (b × c)/V."""
    a, b, c = direct
    volume = float(np.dot(a, np.cross(b, c)))
    return 2.0 * math.pi * np.array([np.cross(b, c), np.cross(c, a), np.cross(a, b)]) / volume


@dataclass(frozen=True)
class MicroscopeFrame:
    """The microscope frame of a crystal orientation.

    Attributes
    ----------
    rotation: 3×3, rows X̂, Ŷ, Ẑ in crystal-frame coordinates (v_lab = rotation @ v_crystal).
    reciprocal: rows a*, b*, c* in the microscope frame [1/Å, with 2π].
    normal: unit surface normal n̂ in the microscope frame.
    """

    rotation: np.ndarray
    reciprocal: np.ndarray
    normal: np.ndarray

    def g_vectors(self, hkl: np.ndarray) -> np.ndarray:
        """g = h a* + k b* + l c* in the microscope frame [1/Å, with 2π] for an (n, 3) array."""
        return np.asarray(hkl, dtype=float) @ self.reciprocal


def microscope_frame(crystal: Crystal, geometry: BeamGeometry, *, path: str | None = None) -> MicroscopeFrame:
    """Build the frame of ``crystal`` for the beam, x and normal directions of ``geometry``
    (:attr:`LacbedSettings.geometry <lacbed_bridge.simulate.settings.LacbedSettings.geometry>`);
    raise :class:`InputError` if they are not usable."""
    direct = direct_basis(crystal.cell)
    recip = reciprocal_basis(direct)
    beam = np.asarray(geometry.incident_beam_direction, dtype=float)
    xdir = np.asarray(geometry.x_direction, dtype=float)
    normal = np.asarray(geometry.normal_direction, dtype=float)
    if not np.any(beam):
        raise InputError("the incident beam direction [uvw] must not be zero", path=path, field="IIncidentBeamDirection")
    if not np.any(xdir):
        raise InputError("the x direction (hkl) must not be zero", path=path, field="IXDirection")
    z = beam @ direct
    x = xdir @ recip
    z /= np.linalg.norm(z)
    x /= np.linalg.norm(x)
    if abs(float(np.dot(x, z))) > 1e-6:
        raise InputError(
            f"IXDirection {list(geometry.x_direction)} is not perpendicular to IIncidentBeamDirection "
            f"{list(geometry.incident_beam_direction)} (need h·u + k·v + l·w = 0 for the zone axis)",
            path=path,
            field="IXDirection",
        )
    y = np.cross(z, x)
    rotation = np.array([x, y, z])
    n = normal @ direct
    if not np.any(n):
        raise InputError("the surface normal [uvw] must not be zero", path=path, field="INormalDirection")
    n_lab = rotation @ (n / np.linalg.norm(n))
    if n_lab[2] < MIN_NORMAL_COSINE:
        raise InputError(
            f"the surface normal {list(geometry.normal_direction)} must point along the beam "
            f"{list(geometry.incident_beam_direction)} (n̂·ẑ = {n_lab[2]:.3f}; need > {MIN_NORMAL_COSINE}: a specimen "
            "tilted by less than ~84°), otherwise k·n̂ vanishes in the surface-normal correction",
            path=path,
            field="INormalDirection",
        )
    return MicroscopeFrame(rotation=rotation, reciprocal=recip @ rotation.T, normal=n_lab)


__all__ = ["BeamGeometry", "MIN_NORMAL_COSINE", "MicroscopeFrame", "direct_basis", "microscope_frame", "reciprocal_basis"]
