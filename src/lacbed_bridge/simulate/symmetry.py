"""The symmetry of the (000) LACBED disc, from the space group and the beam direction.

A point-group operation R of the crystal that leaves the beam direction and the surface normal
unchanged maps the whole Bloch-wave problem onto itself: the reflection g goes to Rg with
|Ũ_Rg| = |Ũ_g| (the translation part of a screw or glide only multiplies Ũ by a phase, a gauge
change of the beams), the excitation errors and the surface-normal factors are unchanged
(s_g(k) and g·n̂ depend only on |g|, k·g and g·n̂), so I_000(R k) = I_000(k) for every incident
direction k. Restricted to the plane of the disc these operations form a 2D point group: the
"bright-field symmetry" of Buxton, Eades, Steeds & Rimmer, Phil. Trans. R. Soc. A 281 (1976)
171, without the extra operations that need reciprocity (those invert the beam: a 2-fold axis
perpendicular to it, a mirror perpendicular to it, the inversion; Felix's model does not keep
reciprocity exactly, so they are not claimed here).

The operations are taken from gemmi's space-group tables (``gemmi.SpaceGroup.operations``) and
expressed in the microscope frame of :mod:`.geometry` (rows X̂, Ŷ, Ẑ; the beam along +Ẑ).

Operations whose 2D matrix has entries 0 or ±1 map the square pixel grid onto itself (the
subgroups of 4mm with mirrors along x, y or the diagonals); :func:`pixel_orbits` uses them to
compute one pixel per orbit and fill in the others (1/8 of the disc for 4mm). A 3-, 6-fold axis
or a mirror at 30° keeps the disc symmetric but does not permute pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass
import gemmi
import numpy as np

from ..crystal.model import Crystal
from ..crystal.orientation import MicroscopeFrame, direct_basis

#: tolerance of "maps the beam onto itself" and of "entry is 0 or ±1" (orthogonal matrices)
_TOL = 1e-8


@dataclass(frozen=True)
class DiscSymmetry:
    """The 2D point group of the (000) disc.

    Attributes
    ----------
    operations: (m, 2, 2) orthogonal matrices acting on (k_x, k_y), identity first.
    lab_operations: the same operations as (m, 3, 3) matrices in the microscope frame.
    pixel_operations: the subset that permutes the pixel grid (entries 0, ±1).
    name: a short name of the group (``1``, ``2``, ``m``, ``2mm``, ``3``, ``3m``, ``4``, ``4mm``,
        ``6``, ``6mm``).
    """

    operations: np.ndarray
    lab_operations: np.ndarray
    pixel_operations: np.ndarray
    name: str

    @property
    def order(self) -> int:
        return int(len(self.operations))


def _point_group_rotations(crystal: Crystal) -> list[tuple[int, ...]]:
    """Distinct rotation parts of the crystal's symmetry operations (the CIF's symops, else
    gemmi's table of its space group), as integers in gemmi's units (DEN = 24)."""
    rots = {tuple(v for row in op.rot for v in row) for op in crystal.operations()}
    return sorted(rots)


def _group_name(ops: np.ndarray) -> str:
    n = len(ops)
    mirrors = sum(1 for op in ops if np.linalg.det(op) < 0)
    rotations = n - mirrors
    if mirrors == 0:
        return str(rotations)
    if rotations == 1:
        return "m"
    return f"{rotations}mm" if rotations in (2, 4, 6) else f"{rotations}m"


def disc_symmetry(crystal: Crystal, frame: MicroscopeFrame) -> DiscSymmetry:
    """The operations of the crystal's point group that fix the beam (+Ẑ) and the surface normal,
    as 2D matrices on (k_x, k_y) in the microscope frame."""
    direct = direct_basis(crystal.cell)  # rows a, b, c in the orthogonal crystal frame
    to_cart = direct.T  # fractional column → Cartesian column
    from_cart = np.linalg.inv(to_cart)
    rotation = frame.rotation
    normal = frame.normal
    ops: list[np.ndarray] = []
    labs: list[np.ndarray] = []
    for flat in _point_group_rotations(crystal):
        r_frac = np.array(flat, dtype=float).reshape(3, 3) / gemmi.Op.DEN
        lab = rotation @ to_cart @ r_frac @ from_cart @ rotation.T
        if abs(lab[2, 2] - 1.0) > _TOL or np.linalg.norm(lab @ normal - normal) > _TOL:
            continue
        op2 = lab[:2, :2]
        if not any(np.allclose(op2, o, atol=_TOL) for o in ops):
            ops.append(op2)
            labs.append(lab)
    order = sorted(range(len(ops)), key=lambda i: (not np.allclose(ops[i], np.eye(2), atol=_TOL), np.linalg.det(ops[i]) < 0))
    ops = [ops[i] for i in order]
    stack = np.array(ops)
    on_grid = [o for o in ops if np.all(np.minimum(np.abs(o), np.abs(np.abs(o) - 1.0)) < _TOL)]
    pixel_ops = np.rint(np.array(on_grid))
    return DiscSymmetry(operations=stack, lab_operations=np.array([labs[i] for i in order]), pixel_operations=pixel_ops,
                        name=_group_name(stack))


def pixel_orbits(side: int, pixel_operations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orbits of the pixels of a side × side disc under grid-permuting operations.

    Pixel (r, c) has centre (x, y) = (c − N + ½, r − N + ½) in units of Δk (N = side/2), so an
    operation with entries 0, ±1 maps centres onto centres. Returns ``(representatives, source)``:
    the flat indices of one pixel per orbit (the smallest), and for every flat pixel index the
    representative whose value it takes.
    """
    n = side / 2.0
    r, c = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    xy = np.stack([c.ravel() - n + 0.5, r.ravel() - n + 0.5])  # (2, P)
    flat = np.arange(side * side)
    source = flat.copy()
    for op in pixel_operations:
        x2, y2 = op @ xy
        image = np.rint(y2 + n - 0.5).astype(int) * side + np.rint(x2 + n - 0.5).astype(int)
        source = np.minimum(source, image)
    # the minimum over one application of each operation is already the orbit minimum, because
    # the operations form a group (the orbit of p is {op p})
    reps = np.unique(source)
    return reps, source
