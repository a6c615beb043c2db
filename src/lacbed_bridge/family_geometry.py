"""Per-family microscope geometry: beam, image x axis and surface normal (config ``families[].geometry``).

A family may set its own ``incident_beam_direction`` [uvw] (direct lattice), ``x_direction`` (hkl,
reciprocal lattice: the image x axis is the in-plane direction of h·a* + k·b* + l·c*, as Felix's
IXDirection) and ``normal_direction`` [uvw]; what it leaves out comes from ``simulation``. So a
cubic [001] family and a hexagonal [0001] family share one run.

Hexagonal cells (P6₃mc, R-3c in hexagonal axes, ...) also take four-index Miller–Bravais
notation, converted to the three-index form every stage uses (International Tables Vol. A, §1.3;
e.g. De Graef & McHenry, *Structure of Materials*, 2nd ed., 2012, §9.3):

* a direction [u v t w] with u + v + t = 0 is [U V W] = [u − t, v − t, w] (``[2 -1 -1 0]`` →
  [3 0 0] ∥ a₁; ``[0 0 0 1]`` → [0 0 1] ∥ c);
* a plane normal (h k i l) with i = −(h + k) is (h k l) (``(1 0 -1 0)`` → (1 0 0)).

Results are divided by their greatest common divisor. Whether four indices suit the family's
cell (a hexagonal lattice) is checked by :func:`~lacbed_bridge.simulate.run.check_config`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from typing import Any

from .errors import ConfigError

#: Geometry keys a family may set (names of ``simulation``), and whether each is a direct-lattice
#: direction (True) or a reciprocal-lattice vector (False).
GEOMETRY_KEYS = {"incident_beam_direction": True, "x_direction": False, "normal_direction": True}


def _reduce(vector: Sequence[int]) -> tuple[int, ...]:
    divisor = reduce(math.gcd, (abs(v) for v in vector)) or 1
    return tuple(int(v) // divisor for v in vector)


def three_index(vector: Sequence[int], *, direct: bool, field: str) -> tuple[int, ...]:
    """A three-index vector from three or four (Miller–Bravais) integers (see the module docstring)."""
    values = [int(v) for v in vector]
    if len(values) == 3:
        return tuple(values)
    if len(values) != 4:
        raise ConfigError(f"expected three indices, or four (Miller–Bravais) for a hexagonal cell, got {list(vector)}", field=field)
    u, v, t, w = values
    if u + v + t != 0:
        kind = "u + v + t" if direct else "h + k + i"
        raise ConfigError(f"four-index {list(vector)}: the third index must make {kind} = 0", field=field)
    if not any(values):
        raise ConfigError("the vector must not be zero", field=field)
    return _reduce((u - t, v - t, w) if direct else (u, v, w))


def is_four_index(family: dict[str, Any]) -> list[str]:
    """The family's geometry keys given with four indices."""
    geometry = family.get("geometry") or {}
    return [key for key in GEOMETRY_KEYS if len(geometry.get(key) or ()) == 4]


def family_geometry(config: dict[str, Any], family: str | dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The directions a family sets for itself (``families[].geometry``), three-index, by their
    ``simulation`` key names: what replaces the config's beam, x direction and surface normal for
    this family (an empty mapping: the family uses the config's).

    ``family``: the family's name or its ``families`` item.
    """
    if isinstance(family, str):
        from .crystal.variants import find_family

        family = find_family(config, family)
    geometry = family.get("geometry") or {}
    name = family.get("name", "?")
    return {key: three_index(geometry[key], direct=direct, field=f"families[{name}].geometry.{key}")
            for key, direct in GEOMETRY_KEYS.items() if key in geometry}
