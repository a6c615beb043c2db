"""Relativistic electron kinematics.

Two sets of constants (``constants=``):

- ``"codata"`` (default): CODATA 2018 values;
- ``"felix"``: the values hard-coded in Felix (smodules.f90:136-143; docs/felix_physics.md §1, §9.4),
  including its typo c = 2.99762458e8 m/s. They change λ by 1.6e-5 and γ by 6e-5 (relative) —
  physically negligible, but needed to reproduce Felix's output to ~1e-6 (the Felix drop-in mode
  uses them).

Felix computes the same quantities (felixrefine.f90:157-167).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

ANGSTROM = 1e-10  # [m]


class Constants(NamedTuple):
    """h [J s], m₀ [kg], e [C], c [m/s]."""

    planck: float
    electron_mass: float
    elementary_charge: float
    speed_of_light: float


CODATA = Constants(6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0)
FELIX = Constants(6.62606957e-34, 9.10938291e-31, 1.602176565e-19, 2.99762458e8)
ConstantsName = Literal["codata", "felix"]

# module-level names kept for callers that need plain CODATA values
PLANCK, ELECTRON_MASS, ELEMENTARY_CHARGE, SPEED_OF_LIGHT = CODATA


def constants_by_name(name: str = "codata") -> Constants:
    """The constant set ``codata`` or ``felix``."""
    if name == "codata":
        return CODATA
    if name == "felix":
        return FELIX
    raise ValueError(f"unknown constants {name!r}: expected 'codata' or 'felix'")


def wavelength_from_voltage(voltage_kv: float, constants: str = "codata") -> float:
    """Relativistic electron wavelength λ [Å]: λ = h / √(2m₀eE(1 + eE/(2m₀c²)))."""
    h, m0, q, c = constants_by_name(constants)
    e = q * voltage_kv * 1e3
    p = math.sqrt(2.0 * m0 * e * (1.0 + e / (2.0 * m0 * c**2)))
    return h / p / ANGSTROM


def lorentz_factor(voltage_kv: float, constants: str = "codata") -> float:
    """γ = 1 + eE/(m₀c²) [dimensionless]."""
    h, m0, q, c = constants_by_name(constants)
    return 1.0 + q * voltage_kv * 1e3 / (m0 * c**2)


def velocity_from_voltage(voltage_kv: float, constants: str = "codata") -> float:
    """Electron speed v = c√(1 − 1/γ²) [m/s]."""
    c = constants_by_name(constants).speed_of_light
    g = lorentz_factor(voltage_kv, constants)
    return c * math.sqrt(1.0 - 1.0 / g**2)


def wavenumber_from_voltage(voltage_kv: float, constants: str = "codata") -> float:
    """K = 2π/λ [1/Å], the 2π convention of Felix (felixrefine.f90:165-166). No mean inner
    potential is added (Felix leaves it out; ug_matrix_mod.f90:549-553)."""
    return 2.0 * math.pi / wavelength_from_voltage(voltage_kv, constants)


def absorption_prefactor(voltage_kv: float, constants: str = "codata") -> float:
    """2h/(m₀v) [Å], the Bird–King prefactor with the rest mass (ug_matrix_mod.f90:718)."""
    h, m0, _, _ = constants_by_name(constants)
    return 2.0 * h / (m0 * velocity_from_voltage(voltage_kv, constants)) / ANGSTROM
