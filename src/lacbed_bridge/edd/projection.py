"""Projected electron density (EDD) images from zero-order-Laue-zone structure factors (docs/architecture.md §5).

The electron density of the crystal, ρ(r) = (1/V) Σ_g F(g) exp(−2πi g·r), projected along the
beam over one lattice repeat t (the shortest lattice translation along [uvw], centring included),
keeps only the reflections of the zero-order Laue zone (g·t = 0):

    ρ_p(r⊥) = ∫₀^|t| ρ(r⊥ + z ẑ) dz = (1/A) Σ_{g·t=0} F(g) exp(−2πi g·r⊥),   A = V/|t|  [e/Å²],

with the X-ray structure factor of the Hansen–Coppens model (``crystal.form_factors.kappa``;
summed by ``crystal.structure_factor``, the sum the simulator's U_g uses, here with the sign +),

    F(g) = Σ_atoms occ · f_x(s; P_v, κ) · exp(−B s²) · exp(+2πi h·x),   s = |g|/2, B = 8π²U_iso.

The sum is evaluated directly at the pixel centres, separably in x and y (two matrix products),
so any field of view works and no FFT periodicity is imposed. Conventions (same as the LACBED
image, docs/architecture.md §4): column c ↔ X along x̂ ∥ h·a* + k·b* + l·c* (``x_direction``), row r ↔ Y along
ŷ = ẑ × x̂, ẑ ∥ u·a + v·b + w·c (``beam_direction``) — the simulator's own microscope frame,
:func:`lacbed_bridge.crystal.orientation.microscope_frame`, not a second construction; pixel centres at X_c = (c + ½ − side/2)·Δ,
Y_r = (r + ½ − side/2)·Δ, Δ = field_of_view/side. **Origin:** the crystal's origin (0, 0, 0)
projects onto the image centre (the corner shared by the four central pixels).

Band limit (``s_max``): ``"auto"`` (default) sums every reflection up to the s beyond which each
omitted term is below ``tolerance`` × F(000): the bound Σ_atoms occ·|f_x(s)|·exp(−B s²) of |F(g)| is
evaluated on a 0.02 Å⁻¹ grid up to 8 Å⁻¹ (for U_iso = 0 the cap 8 Å⁻¹ applies and is reported).
``"nyquist"`` stops at the grid's Nyquist limit |g| = 1/(2Δ), s = side/(4·field_of_view); a number
is used as given. With ``pixel_value="area"`` (default) each pixel holds the mean density over its
square (each term times sinc(g_x Δ)·sinc(g_y Δ), exact), so the pixels sum to the exact number of
electrons in the field of view and reflections beyond Nyquist are averaged, not aliased;
``"point"`` gives the values at the pixel centres. A cut where the terms are still large makes
Gibbs ripples (negative density near atoms), so it is measured, never hidden:
:class:`ProjectionInfo` ``edge_amplitude`` = max |F(g)·window| / F(000) over 0.9 s_max < s ≤ s_max
(≲ 1e-3: negligible), recorded in the EDD metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..crystal.form_factors.kappa import xray_form_factor
from ..crystal.model import Crystal
from ..crystal.orientation import BeamGeometry, MicroscopeFrame, microscope_frame
from ..crystal.structure_factor import PHASE_BLOCK, atoms_by_site, structure_factor_sum
from ..errors import InputError

PixelValue = Literal["area", "point"]

#: Largest s_max [1/Å] that "auto" chooses (reached only for very small U_iso).
S_MAX_CAP = 8.0
#: Default relative size of the largest omitted term for s_max = "auto".
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ProjectionInfo:
    """What a projection used (recorded in the image metadata).

    field_of_view: side of the square field of view [Å]; pixel_size [Å];
    s_max: largest sinθ/λ summed [1/Å]; s_nyquist: the grid's Nyquist limit [1/Å];
    repeat_length: |t| [Å]; projected_cell_area: A = V/|t| [Å²];
    n_reflections: non-zero ZOLZ reflections summed (g = 0 included); f000: F(000) [e per cell];
    edge_amplitude: max |F·window|/F(000) for 0.9 s_max < s ≤ s_max [dimensionless];
    pixel_value: "area" or "point";
    cells_in_view: field_of_view² / A, the projected cells the square covers (1 for a cubic
        crystal along [001] with field_of_view = a; 2/√3 = 1.155 for a hexagonal one along [0001]);
    periodic: whether the square's sides are translations of the projected lattice (g_x·L and
        g_y·L integers for every reflection summed), so that the image tiles the plane and holds
        exactly cells_in_view × F(000) electrons; a hexagonal projection never is;
    electrons_in_view: Σ pixels × pixel_size² [e], the electrons the image holds (exact for
        pixel_value "area").
    """

    field_of_view: float
    pixel_size: float
    s_max: float
    s_nyquist: float
    repeat_length: float
    projected_cell_area: float
    n_reflections: int
    f000: float
    edge_amplitude: float
    pixel_value: str
    cells_in_view: float = float("nan")
    periodic: bool = False
    electrons_in_view: float = float("nan")

    def as_dict(self) -> dict[str, float | int | str]:
        return dict(self.__dict__)


# ----- lattice geometry ---------------------------------------------------------------------------


#: terms exp(2πi h·x) summed in all (time: ≈ 50 M terms/s); at once: PHASE_BLOCK (crystal.structure_factor)
MAX_TERMS = 5e9
#: candidate (h, k, l) of the zero-order Laue zone enumerated at once (16 B each, several arrays)
MAX_CANDIDATES = 5e7


def _integer_vector(vec: object, name: str) -> np.ndarray:
    try:
        arr = np.asarray(vec)
        ok = arr.shape == (3,) and all(float(x) == int(x) for x in arr)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"expected three integers, got {vec!r}", field=name)
    out = np.array([int(x) for x in arr], dtype=np.int64)
    if not out.any():
        raise InputError("the zero vector has no direction", field=name)
    return out


def centring_translations(crystal: Crystal) -> list[np.ndarray]:
    """Pure translations of the space group (fractional), (0, 0, 0) included."""
    out = []
    for op in crystal.operations():
        if op.rot == [[24, 0, 0], [0, 24, 0], [0, 0, 24]]:
            out.append(np.mod(np.array(op.tran, dtype=float) / 24.0, 1.0))
    if not out:
        out.append(np.zeros(3))
    return out


def lattice_repeat(crystal: Crystal, uvw: np.ndarray) -> np.ndarray:
    """Shortest lattice translation along [uvw], fractional (centring translations included).

    E.g. [−1 1 0] in F-43m gives ½[−1 1 0] (|t| = a/√2); [001] gives [001] (|t| = a).
    """
    base = uvw // math.gcd(*(int(abs(x)) for x in uvw))
    cens = centring_translations(crystal)
    for m in (12, 8, 6, 4, 3, 2):
        t = base / m
        for c in cens:
            d = t - c
            if np.allclose(d, np.round(d), atol=1e-9):
                return t
    return base.astype(float)


def zolz_indices(crystal: Crystal, uvw: np.ndarray, g_max: float) -> np.ndarray:
    """All (h, k, l) with h·u + k·v + l·w = 0 and |g| ≤ g_max [1/Å] (g = 0 included), shape (M, 3)."""
    cell = crystal.gemmi_cell()
    lengths = np.array(crystal.cell[:3])
    bounds = np.floor(g_max * lengths).astype(int) + 1  # |h| = |g·a| ≤ |g||a|
    solve = int(np.argmax(np.abs(uvw)))
    free = [i for i in range(3) if i != solve]
    r0 = np.arange(-bounds[free[0]], bounds[free[0]] + 1)
    r1 = np.arange(-bounds[free[1]], bounds[free[1]] + 1)
    if len(r0) * len(r1) > MAX_CANDIDATES:
        raise InputError(f"the zero-order Laue zone of this {lengths.max():.4g} Å cell up to |g| = {g_max:.3g} 1/Å has "
                         f"{len(r0) * len(r1):.3g} candidate reflections, past the limit of {MAX_CANDIDATES:.0e}: lower "
                         "edd.s_max (or raise edd.tolerance), or use a smaller cell", field="edd.s_max")
    a0, a1 = np.meshgrid(r0, r1, indexing="ij")
    a0, a1 = a0.ravel(), a1.ravel()
    num = -(uvw[free[0]] * a0 + uvw[free[1]] * a1)
    keep = num % uvw[solve] == 0
    hkl = np.zeros((int(keep.sum()), 3), dtype=np.int64)
    hkl[:, free[0]] = a0[keep]
    hkl[:, free[1]] = a1[keep]
    hkl[:, solve] = num[keep] // uvw[solve]
    frac = np.array(cell.frac.mat, dtype=float)  # Cartesian -> fractional
    g = hkl @ frac  # rows: g_cart = Fracᵀ h  [1/Å, no 2π]
    inside = np.einsum("ij,ij->i", g, g) <= g_max * g_max * (1 + 1e-12)
    return hkl[inside]


# ----- structure factors --------------------------------------------------------------------------


def structure_factors(crystal: Crystal, hkl: np.ndarray) -> np.ndarray:
    """X-ray structure factors F(hkl) [e per cell] with the Hansen–Coppens form factors,
    occupancies and isotropic Debye–Waller factors exp(−B s²); F = Σ f exp(+2πi h·x)
    (:func:`lacbed_bridge.crystal.structure_factor.structure_factor_sum`, sign +)."""
    cell = crystal.gemmi_cell()
    frac = np.array(cell.frac.mat, dtype=float)
    g = hkl @ frac
    s = 0.5 * np.sqrt(np.einsum("ij,ij->i", g, g))
    positions = atoms_by_site(crystal)
    n_atoms = sum(len(p) for p in positions)
    terms = len(hkl) * n_atoms
    if terms > MAX_TERMS:
        raise InputError(f"the projected density of this crystal sums {len(hkl)} reflections × {n_atoms} atoms = {terms:.3g} "
                         f"terms, past the limit of {MAX_TERMS:.0e} (about a minute): lower edd.s_max, raise edd.tolerance, or "
                         "use a smaller cell", field="edd.s_max")

    def amplitudes():
        # per site o·f_x(s)·exp(−B s²); the phases Σ exp(+2πi h·x) in blocks of at most PHASE_BLOCK terms
        for site, xyz in zip(crystal.sites, positions):
            f = xray_form_factor(site.element, s, pv=site.pv, kappa=site.kappa)
            yield site.occupancy * f * np.exp(-site.b_iso * s * s), xyz

    return structure_factor_sum(hkl, amplitudes(), sign=+1)


def auto_s_max(crystal: Crystal, tolerance: float = DEFAULT_TOLERANCE) -> float:
    """Smallest s [1/Å] (0.02 Å⁻¹ grid, ≤ :data:`S_MAX_CAP`) beyond which the bound
    Σ_atoms occ·|f_x(s)|·exp(−B s²) of every |F(g)| stays below ``tolerance`` · F(000)."""
    grid = np.arange(0.0, S_MAX_CAP + 1e-9, 0.02)
    counts: dict[int, int] = {}
    for index, _pos in crystal.unit_cell_atoms():
        counts[index] = counts.get(index, 0) + 1
    bound = np.zeros_like(grid)
    for index, n in counts.items():
        site = crystal.sites[index]
        f = xray_form_factor(site.element, grid, pv=site.pv, kappa=site.kappa)
        bound += n * site.occupancy * np.abs(f) * np.exp(-site.b_iso * grid * grid)
    above = np.nonzero(bound > tolerance * bound[0])[0]
    if len(above) == 0 or above[-1] + 1 >= len(grid):
        return S_MAX_CAP
    return float(grid[above[-1] + 1])


# ----- projection ---------------------------------------------------------------------------------


def _frame(crystal: Crystal, uvw: np.ndarray, hkl_x: np.ndarray) -> MicroscopeFrame:
    """The microscope frame of the image: the LACBED disc's own
    (:func:`~lacbed_bridge.crystal.orientation.microscope_frame`: x̂ ∥ (hkl), ẑ ∥ [uvw], ŷ = ẑ × x̂).
    A projection along the beam does not depend on the specimen's surface normal, so the beam
    stands in for it (n̂ = ẑ always passes the frame's normal check)."""
    if int(np.dot(uvw, hkl_x)) != 0:
        raise InputError(
            f"x_direction {hkl_x.tolist()} is not perpendicular to the beam direction {uvw.tolist()} "
            "(need h·u + k·v + l·w = 0)",
            field="simulation.x_direction",
        )
    beam = tuple(int(v) for v in uvw)
    return microscope_frame(crystal, BeamGeometry(beam, tuple(int(v) for v in hkl_x), beam))  # type: ignore[arg-type]


def projection_info_and_image(
    crystal: Crystal,
    *,
    side: int,
    beam_direction: object,
    x_direction: object,
    field_of_view: float | None = None,
    s_max: float | str = "auto",
    pixel_value: PixelValue = "area",
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[np.ndarray, ProjectionInfo]:
    """The projected density image [e/Å²] and what it used; see :func:`project_density`."""
    if not isinstance(side, (int, np.integer)) or side < 1:
        raise InputError(f"side must be a positive integer, got {side!r}", field="side")
    if pixel_value not in ("area", "point"):
        raise InputError(f"pixel_value must be 'area' or 'point', got {pixel_value!r}", field="edd.pixel_value")
    uvw = _integer_vector(beam_direction, "simulation.incident_beam_direction")
    hkl_x = _integer_vector(x_direction, "simulation.x_direction")
    fov = float(crystal.cell[0]) if field_of_view is None else float(field_of_view)
    if not math.isfinite(fov) or fov <= 0:
        raise InputError(f"field of view must be a positive length [Å], got {field_of_view!r}", field="edd.field_of_view")
    frame = _frame(crystal, uvw, hkl_x)
    delta = fov / side
    s_nyquist = 1.0 / (4.0 * delta)
    if s_max == "auto" or s_max is None:
        smax = auto_s_max(crystal, tolerance)
    elif s_max == "nyquist":
        smax = s_nyquist
    else:
        try:
            smax = float(s_max)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            smax = float("nan")
        if not math.isfinite(smax) or smax <= 0:
            raise InputError(
                f"s_max must be 'auto', 'nyquist' or a positive number [1/Å], got {s_max!r}", field="edd.s_max"
            )

    terms = _zolz_terms(crystal, uvw, frame, smax)
    gx, gy, s, f, area, repeat, f000 = terms.gx, terms.gy, terms.s, terms.f, terms.area, terms.repeat, terms.f000
    hkl = terms.hkl
    periodic = bool(np.all(np.abs(gx * fov - np.round(gx * fov)) < 1e-6) and np.all(np.abs(gy * fov - np.round(gy * fov)) < 1e-6))
    if pixel_value == "area":
        f = f * np.sinc(gx * delta) * np.sinc(gy * delta)
    edge = s > 0.9 * smax
    edge_amp = float(np.abs(f[edge]).max() / abs(f000)) if edge.any() and f000 else 0.0

    coords = (np.arange(side) + 0.5 - side / 2.0) * delta
    # ρ(x, y) = Σ_g F_g/A exp(−2πi(g_x x + g_y y)), in blocks of reflections (at most PHASE_BLOCK
    # terms of each (side, block) factor in memory: a 312 Å cell has millions of reflections)
    image = np.zeros((side, side))
    step = max(1, PHASE_BLOCK // side)
    for start in range(0, len(gx), step):
        ex = np.exp(-2j * np.pi * np.multiply.outer(coords, gx[start : start + step]))  # (side, block): columns
        ey = np.exp(-2j * np.pi * np.multiply.outer(coords, gy[start : start + step]))  # (side, block): rows
        image += ((ey * (f[start : start + step] / area)) @ ex.T).real
    info = ProjectionInfo(
        field_of_view=fov,
        pixel_size=delta,
        s_max=smax,
        s_nyquist=s_nyquist,
        repeat_length=repeat,
        projected_cell_area=area,
        n_reflections=int(len(hkl)),
        f000=f000,
        edge_amplitude=edge_amp,
        pixel_value=pixel_value,
        cells_in_view=fov * fov / area,
        periodic=periodic,
        electrons_in_view=float(image.sum() * delta * delta),
    )
    return np.ascontiguousarray(image, dtype=np.float64), info


@dataclass(frozen=True)
class _Terms:
    """The non-absent ZOLZ reflections of a projection: indices, in-plane components g_x, g_y
    [1/Å, no 2π], s = |g|/2, F(g) [e], and the projected cell (area A [Å²], repeat |t| [Å])."""

    hkl: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    s: np.ndarray
    f: np.ndarray
    area: float
    repeat: float
    f000: float


def _zolz_terms(crystal: Crystal, uvw: np.ndarray, frame: MicroscopeFrame, smax: float) -> _Terms:
    t_frac = lattice_repeat(crystal, uvw)
    orth = np.array(crystal.gemmi_cell().orth.mat, dtype=float)
    repeat = float(np.linalg.norm(orth @ t_frac))
    area = crystal.volume / repeat
    hkl = zolz_indices(crystal, uvw, 2.0 * smax)
    # g in the microscope frame, as the simulator has it (frame.g_vectors has the 2π; here no 2π)
    g = frame.g_vectors(hkl) / (2.0 * math.pi)
    gx, gy = g[:, 0], g[:, 1]
    f = structure_factors(crystal, hkl)
    zero = np.all(hkl == 0, axis=1)
    f000 = float(f[zero].real.sum())
    # systematic absences (exact zeros up to rounding) add nothing: drop them
    present = np.abs(f) > 1e-12 * max(abs(f000), 1.0)
    return _Terms(hkl[present], gx[present], gy[present], 0.5 * np.hypot(gx[present], gy[present]), f[present], area,
                  repeat, f000)


def projected_density_at(
    crystal: Crystal,
    xy: np.ndarray,
    *,
    beam_direction: object,
    x_direction: object,
    s_max: float | str = "auto",
    tolerance: float = DEFAULT_TOLERANCE,
) -> np.ndarray:
    """The projected density ρ_p [e/Å²] at points (X, Y) [Å] of the image frame (shape (P, 2)),
    the same band-limited sum as the image with ``pixel_value="point"`` but at any points, e.g.
    on a grid over one projected cell (its mean times A is F(000), the electrons per cell)."""
    uvw = _integer_vector(beam_direction, "simulation.incident_beam_direction")
    hkl_x = _integer_vector(x_direction, "simulation.x_direction")
    frame = _frame(crystal, uvw, hkl_x)
    smax = auto_s_max(crystal, tolerance) if s_max in ("auto", None) else float(s_max)  # type: ignore[arg-type]
    terms = _zolz_terms(crystal, uvw, frame, smax)
    points = np.asarray(xy, dtype=float).reshape(-1, 2)
    phase = np.exp(-2j * np.pi * (np.outer(points[:, 0], terms.gx) + np.outer(points[:, 1], terms.gy)))
    return (phase @ (terms.f / terms.area)).real


def project_density(
    crystal: Crystal,
    *,
    side: int,
    beam_direction: object,
    x_direction: object,
    field_of_view: float | None = None,
    s_max: float | str = "auto",
    pixel_value: PixelValue = "area",
    tolerance: float = DEFAULT_TOLERANCE,
) -> np.ndarray:
    """Electron density projected along the beam over one lattice repeat, side × side [e/Å²].

    Parameters
    ----------
    crystal: the structure (sites carry P_v, κ, occupancy, U_iso [Å²]).
    side: image side [pixels].
    beam_direction: incident beam [uvw], direct lattice (ẑ).
    x_direction: image x axis (hkl), reciprocal lattice; must satisfy h·u + k·v + l·w = 0.
    field_of_view: side of the square field of view [Å] (default: the lattice parameter a).
    s_max: band limit sinθ/λ [1/Å]: "auto" (default; omitted terms < tolerance·F(000)),
        "nyquist" (side/(4·field_of_view)) or a number.
    pixel_value: "area" (mean over each pixel, default) or "point" (value at the pixel centre).
    tolerance: relative size of the largest omitted term for s_max = "auto".

    Returns a float64 array indexed [row, column] = [y, x]; the crystal origin sits at the image
    centre (module docstring).
    """
    image, _ = projection_info_and_image(
        crystal,
        side=side,
        beam_direction=beam_direction,
        x_direction=x_direction,
        field_of_view=field_of_view,
        s_max=s_max,
        pixel_value=pixel_value,
        tolerance=tolerance,
    )
    return image


__all__ = [
    "ProjectionInfo",
    "auto_s_max",
    "centring_translations",
    "lattice_repeat",
    "project_density",
    "projection_info_and_image",
    "structure_factors",
    "zolz_indices",
]
