"""The cell parameters a space group leaves free, and the cell built from them.

The lattice system of a space group fixes some of the six cell parameters (a, b, c [Å],
α, β, γ [deg]) and leaves the others free (International Tables for Crystallography Vol. A,
2016, Table 2.1.1.1):

=======================  ================  ===========================================
system                   free parameters   fixed by symmetry
=======================  ================  ===========================================
cubic                    a                 b = c = a; α = β = γ = 90°
tetragonal               a, c              b = a; α = β = γ = 90°
hexagonal, trigonal (H)  a, c              b = a; α = β = 90°, γ = 120°
trigonal, rhombohedral   a, α              b = c = a; β = γ = α
orthorhombic             a, b, c           α = β = γ = 90°
monoclinic               a, b, c, angle    the two angles at the unique axis are 90°
triclinic                all six           none
=======================  ================  ===========================================

The monoclinic unique axis is read from gemmi's full Hermann–Mauguin symbol (``P 1 21/c 1``:
b unique, the free angle is β). Rhombohedral space groups in hexagonal axes (gemmi suffix ``:H``)
are hexagonal here; with ``:R`` rhombohedral.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import gemmi

#: The six cell parameters in CIF order: lengths [Å], then angles [deg].
CELL_KEYS = ("a", "b", "c", "alpha", "beta", "gamma")
LENGTHS = ("a", "b", "c")
ANGLES = ("alpha", "beta", "gamma")


def lattice_system(sg: gemmi.SpaceGroup) -> str:
    """``cubic``, ``tetragonal``, ``hexagonal``, ``rhombohedral``, ``orthorhombic``,
    ``monoclinic`` or ``triclinic`` (trigonal groups in hexagonal axes count as hexagonal)."""
    system = sg.crystal_system_str()
    if system == "trigonal":
        return "rhombohedral" if sg.ext == "R" else "hexagonal"
    return system


def _monoclinic_angle(sg: gemmi.SpaceGroup) -> str:
    """The free angle of a monoclinic group: the one at its unique axis (``P 1 21/c 1`` → beta)."""
    parts = sg.hm.split()
    for axis, part in enumerate(parts[1:4]):
        if part != "1":
            return ANGLES[axis]
    return "beta"


def free_parameters(sg: gemmi.SpaceGroup) -> tuple[str, ...]:
    """The cell parameters the lattice system of ``sg`` leaves free, in CIF order."""
    system = lattice_system(sg)
    if system == "cubic":
        return ("a",)
    if system in ("tetragonal", "hexagonal"):
        return ("a", "c")
    if system == "rhombohedral":
        return ("a", "alpha")
    if system == "orthorhombic":
        return ("a", "b", "c")
    if system == "monoclinic":
        return ("a", "b", "c", _monoclinic_angle(sg))
    return CELL_KEYS


def cell_from(sg: gemmi.SpaceGroup, free: Mapping[str, float]) -> tuple[float, float, float, float, float, float]:
    """The six cell parameters from the free ones (``free`` holds at least :func:`free_parameters`)."""
    system = lattice_system(sg)
    p = dict(free)
    a = p["a"]
    if system == "cubic":
        return (a, a, a, 90.0, 90.0, 90.0)
    if system == "tetragonal":
        return (a, a, p["c"], 90.0, 90.0, 90.0)
    if system == "hexagonal":
        return (a, a, p["c"], 90.0, 90.0, 120.0)
    if system == "rhombohedral":
        return (a, a, a, p["alpha"], p["alpha"], p["alpha"])
    if system == "orthorhombic":
        return (a, p["b"], p["c"], 90.0, 90.0, 90.0)
    if system == "monoclinic":
        angles = {key: 90.0 for key in ANGLES} | {_monoclinic_angle(sg): p[_monoclinic_angle(sg)]}
        return (a, p["b"], p["c"], angles["alpha"], angles["beta"], angles["gamma"])
    return (a, p["b"], p["c"], p["alpha"], p["beta"], p["gamma"])


def describe_constraints(sg: gemmi.SpaceGroup) -> str:
    """Human-readable statement of what the lattice system fixes (for error messages)."""
    system = lattice_system(sg)
    fixed = {
        "cubic": "b = c = a, α = β = γ = 90°",
        "tetragonal": "b = a, α = β = γ = 90°",
        "hexagonal": "b = a, α = β = 90°, γ = 120°",
        "rhombohedral": "b = c = a, β = γ = α",
        "orthorhombic": "α = β = γ = 90°",
        "triclinic": "nothing",
    }
    if system == "monoclinic":
        free = _monoclinic_angle(sg)
        return f"the angles other than {free} are 90°"
    return fixed[system]


def _cos_deg(angle: float) -> float:
    """cos of an angle [deg], exact for 90° and 120° (cubic cells keep V = a³ to the last bit)."""
    exact = {90.0: 0.0, 120.0: -0.5, 60.0: 0.5}
    return exact[angle] if angle in exact else math.cos(math.radians(angle))


def cell_volume(cell: tuple[float, float, float, float, float, float]) -> float:
    """Cell volume [Å³]: V = abc·√(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ)."""
    a, b, c, alpha, beta, gamma = cell
    ca, cb, cg = _cos_deg(alpha), _cos_deg(beta), _cos_deg(gamma)
    return a * b * c * math.sqrt(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg)
