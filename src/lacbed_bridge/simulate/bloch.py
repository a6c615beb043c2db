"""The builtin Bloch-wave simulator of LACBED discs (PyTorch), Felix's physics (docs/architecture.md §4).

Per pixel (incident wave vector k, docs/felix_physics.md §4), following Felix master 9034b2a:

1. excitation errors, exact-geometry form (bloch_mod.f90:119-131; docs/felix_physics.md §6):
   k₀ = (−|g|/2, 0, √(K² − |g|²/4)), k' = (k·ĝ, 0, √(K² − (k·ĝ)²)),
   s_g = −sgn(2k·g + |g|²)·(|g|/K)·√(2(K² − k₀·k')),  s₀₀₀ = 0           [1/Å, 2π convention]
2. strong beams (bloch_mod.f90:405-465): S = {|s_g| < R} ∪ {|Ũ_g|/|s_g| ≥ 0.5}, with
   R = 0.005, 0.010, … the first value giving |S| ≥ IMinStrongBeams; pool order kept (000 first);
3. structure matrix (Spence & Zuo 1992; bloch_mod.f90:215-256): A_gg = s_g,
   A_gh = (4π²/2K)·Ũ(g − h), then Ã_gh = A_gh/√((1 + g·n̂/k_n)(1 + h·n̂/k_n));
4. propagation (bloch_mod.f90:325-393): ψ(t) = M exp(iÃt) M⁻¹ e₀₀₀ with
   M = diag((1 + g·n̂/k_n)^{−½}). Felix diagonalises Ã (ZGEEV) and forms C e^{iγt} C⁻¹; the matrix
   exponential of the same matrix is identical and batches well (docs/architecture.md §4), so we use
   ``torch.linalg.matrix_exp`` on all pixels of a chunk at once; a thickness series reuses
   exp(iÃΔt) by repeated products (``solver: eigen`` diagonalises as Felix does, one
   decomposition for the whole series; ``chebyshev``, :mod:`.chebyshev`). A multiple of the identity is taken out of Ã first (a global
   phase, no effect on intensities) to keep the norm, hence the scaling-and-squaring cost, small.
5. I_g = |ψ_g|²; a reflection that is not strong at a pixel is 0 there (as in Felix).

Matrices of different sizes are padded with decoupled dummy beams (zero coupling), which do not
change ψ. Unsupported Felix settings are refused with an error naming the key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..version import __version__
from ..crystal.model import Crystal
from ..errors import InputError
from .device import default_complex_dtype, resolve_device
from .electron import wavenumber_from_voltage
from ..crystal.orientation import BeamGeometry, MicroscopeFrame, microscope_frame
from .geometry import pixel_wavevectors
from .pool import reflection_pool
from .potential import StructureFactors, pool_matrix
from .result import LacbedResult, PoolData
from .symmetry import disc_symmetry, pixel_orbits
from .settings import FELIX_NAMES, BeamSelection, BuiltinOptions, LacbedSettings, PoolMode, PotentialSettings, Solver

Hkl = tuple[int, int, int]
#: how exp(iÃt)e₀ is computed: batched matrix exponentials, a Chebyshev series on pixel blocks, or
#: one eigendecomposition per pixel for the whole thickness series (``auto``: docs/performance.md)
SOLVERS: tuple[str, ...] = ("auto", "expm", "chebyshev", "eigen")
#: the refinement's model (refine/model.py) takes the eigendecomposition for a thickness scan of this
#: many thicknesses or more (its own propagator, measured for it)
EIGEN_FROM_THICKNESSES = 112
#: on a CPU ``auto`` takes one eigendecomposition per pixel for a thickness series of at least
#: SERIES_EIGEN_THICKNESSES thicknesses reaching SERIES_EIGEN_DEPTH [Å] or more; else the Chebyshev
#: series. Measured (GaAs [001], proportional absorption, 8² px, one thread, 2026-12-07;
#: docs/performance.md "Solvers"): eigen/Chebyshev time at 101 / 200 strong beams is 3.6 / 5.8 at
#: one thickness, 2.6 / 3.3 for 100–1050 Å, 1.6 / 2.5 for 100–2000 Å (191 thicknesses) and
#: 0.61 / 0.87 for 100–5000 Å (491): the series' cost grows with the largest thickness (its
#: order ≈ r·t), the decomposition's with the beams alone.
SERIES_EIGEN_THICKNESSES = 200
SERIES_EIGEN_DEPTH = 3500.0


def resolve_solver(solver: str, device: torch.device, thicknesses: Sequence[float] = (0.0,)) -> str:
    """``expm``, ``chebyshev`` or ``eigen`` for ``solver`` on ``device`` and the thickness series
    [Å] (``auto``: on a CPU the Chebyshev series — 5.2× faster than the exponential on the demo's
    disc — unless the series is long and deep (:data:`SERIES_EIGEN_THICKNESSES`,
    :data:`SERIES_EIGEN_DEPTH`), then one eigendecomposition per pixel; the batched exponential on
    a GPU, where it was measured; docs/performance.md)."""
    if solver not in SOLVERS:
        raise InputError(f"expected one of {list(SOLVERS)}, got {solver!r}", field="simulation.solver")
    if solver == "auto":
        if device.type != "cpu":
            return "expm"
        series = list(thicknesses)
        deep = len(series) >= SERIES_EIGEN_THICKNESSES and max(series) >= SERIES_EIGEN_DEPTH
        return "eigen" if deep else "chebyshev"
    return solver

STRONG_SG_STEP = 0.005  # [1/Å] RMaxSg start and increment (bloch_mod.f90:440-449)
STRONG_PERTURBATION = 0.0025 / 0.005  # RMinPertStrong, fixed (its update is commented out in Felix)
REANCHOR_STEPS = 16  # thickness steps between fresh exponentials in a series


def check_supported(settings: LacbedSettings, *, path: str | None = None) -> None:
    """Refuse settings the builtin backend does not implement (no silent differences)."""
    unsupported = {
        "scatter_factor_method_flag": (0, "only 0 (Kirkland) is implemented"),
        "holz_flag": (0, "only 0 (the ZOLZ matrix branch) is implemented"),
        "min_weak_beams": (0, "the weak-beam perturbation is not implemented (it is dimensionally inconsistent in Felix, "
                              "docs/felix_physics.md §6)"),
        "acceptance_angle": (0.0, "only 0 (no acceptance cut) is implemented"),
        "refine_mode_flag": ("S", "only simulation mode S is implemented"),
    }
    for key, (allowed, why) in unsupported.items():
        value = getattr(settings, key)
        if value != allowed:
            raise InputError(f"value {value!r} is not supported by the builtin backend: {why}", path=path, field=FELIX_NAMES[key])
    settings.validate(path=path)


def excitation_errors(k: torch.Tensor, g: torch.Tensor, g_mag: torch.Tensor, wavenumber: float) -> torch.Tensor:
    """s_g [1/Å] for incident vectors k (P, 3) and pool vectors g (n, 3), exact-geometry form
    (bloch_mod.f90:119-131). Returns (P, n); s = 0 where |g| = 0."""
    safe = torch.where(g_mag > 0, g_mag, torch.ones_like(g_mag))
    kg = k @ g.T  # (P, n) k·g
    k_par = kg / safe  # k·ĝ
    k0x = -safe / 2.0
    k0z = torch.sqrt(wavenumber**2 - k0x**2)
    kpz = torch.sqrt(torch.clamp(wavenumber**2 - k_par**2, min=0.0))
    dot = k0x * k_par + k0z * kpz
    # the floor (not 0) keeps derivatives finite where rounding puts a beam exactly at the Bragg
    # condition: autograd's d√u = du/(2√u) is 0/0 = NaN at u = 0 (refine/optics.py differentiates s
    # with respect to the beam tilt); √1e-300 = 1e-150 Å⁻¹ changes no excitation error that matters
    s = -torch.sign(2.0 * kg + safe**2) * safe / wavenumber * torch.sqrt(torch.clamp(2.0 * (wavenumber**2 - dot), min=1e-300))
    return torch.where(g_mag > 0, s, torch.zeros_like(s))


def strong_beam_mask(s: torch.Tensor, u0_abs: torch.Tensor, min_strong: int) -> torch.Tensor:
    """Felix's strong-beam set per pixel (bloch_mod.f90:405-465), (P, n) bool.

    A beam enters at the first threshold R_m (0.005, 0.010, … accumulated in floating point as
    Felix does) with |s_g| < R_m, or at once if its perturbation strength |Ũ_g|/|s_g| ≥ 0.5;
    R grows until at least ``min_strong`` beams are strong.
    """
    abs_s = s.abs()
    pert = u0_abs[None, :] / abs_s
    pert[:, 0] = 1000.0
    n_thresh = int(float(abs_s.max()) / STRONG_SG_STEP) + 3
    thresholds = np.empty(n_thresh)
    acc = STRONG_SG_STEP
    for i in range(n_thresh):
        thresholds[i] = acc
        acc += STRONG_SG_STEP
    t = torch.as_tensor(thresholds, dtype=abs_s.dtype, device=abs_s.device)
    entry = torch.searchsorted(t, abs_s.contiguous(), right=True)  # first m with |s| < t[m]
    entry = torch.where(pert >= STRONG_PERTURBATION, torch.zeros_like(entry), entry)
    kth = torch.kthvalue(entry, min_strong, dim=1).values  # iterations Felix needs
    return entry <= kth[:, None]


def _blur(image: np.ndarray, radius: float) -> np.ndarray:
    """Felix's post-processing blur (refinementcontrol_mod.f90:787-865): separable Gaussian of σ =
    RBlurRadius pixels, half-width NINT(3σ), normalised, edges replicated, then rescaled to the
    unblurred image's min and max."""
    half = int(math.floor(3.0 * radius + 0.5))
    x = np.arange(-half, half + 1, dtype=float)
    kernel = np.exp(-(x**2) / (2.0 * radius**2))
    kernel /= kernel.sum()
    padded = np.pad(image, half, mode="edge")
    rows = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 1, padded)
    both = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, rows)
    lo, hi, blo, bhi = image.min(), image.max(), both.min(), both.max()
    if bhi - blo <= 0:
        return both
    return (both - blo) / (bhi - blo) * (hi - lo) + lo


@dataclass(frozen=True)
class BlochStructure:
    """Everything about the crystal and the beam pool that does not depend on the pixel.

    pool: Miller indices (n, 3), 000 first. g_lab: g in the microscope frame [1/Å, with 2π].
    coupling: (4π²/2K)·Ũ(g − h) [1/Å] for every pair of pool beams, complex128, on the device.
    u0_abs: |Ũ(g)| [Å⁻²] of each pool beam (Felix's perturbation strength uses it).
    column: the structure factors U_g, U'_g of the pool reflections (StructureFactors.txt).
    mean_absorption: (4π²/2K)·U'(0) [1/Å] added to the diagonal (0: Felix's choice, left out).
    """

    pool: np.ndarray
    g_lab: np.ndarray
    normal: np.ndarray
    coupling: torch.Tensor
    u0_abs: torch.Tensor
    column: StructureFactors
    wavenumber: float
    device: torch.device
    mean_absorption: float = 0.0


def bloch_structure(
    crystal: Crystal,
    frame: MicroscopeFrame,
    wavenumber: float,
    *,
    potential: PotentialSettings,
    beams: BeamSelection,
    geometry: BeamGeometry | None = None,
    pool_mode: PoolMode = "felix",
    pool: np.ndarray | None = None,
    constants: str = "codata",
    device: torch.device,
    mean_absorption: bool = False,
) -> BlochStructure:
    """The reflection pool (Felix's rule, complete shells, or a given list) and its Ũ matrix;
    with ``mean_absorption`` the absorptive U'(0) joins the diagonal (Felix leaves it out).

    ``potential``: voltage, absorption and Debye–Waller constant of U_g; ``beams``: the pool size
    and strong-beam count; ``geometry``: the beam directions, needed by Felix's own pool rule
    (``pool_mode`` "felix"), which rebuilds Felix's frame from them."""
    if pool is None:
        felix_inputs = None if geometry is None else (geometry, potential.accelerating_voltage)
        pool = reflection_pool(crystal, frame, beams, wavenumber, pool_mode, constants, felix_inputs=felix_inputs)
    else:
        pool = np.asarray(pool, dtype=int).reshape(-1, 3)
        if np.any(pool[0] != 0):
            raise InputError("a given reflection pool must start with 000", field="pool")
        if len(pool) <= beams.min_strong_beams:
            raise InputError(
                f"a given pool of {len(pool)} reflections is not larger than IMinStrongBeams = {beams.min_strong_beams}",
                field="pool",
            )
    u_matrix, column = pool_matrix(crystal, potential, pool, frame.reciprocal, constants, str(device))
    strengths = np.abs(np.asarray(column.total))
    if len(strengths) > 1 and not strengths[1:].max() > 1e-9 * strengths[0]:
        # e.g. a large cell whose few nearest reflections are all extinct: every beam but 000
        # would be uncoupled and the disc uniform; say so instead of returning it
        raise InputError(
            f"all {len(pool) - 1} reflections of the beam pool have structure factor 0 (extinct): the disc would be "
            "uniform; raise the pool size", field="simulation.min_reflection_pool")
    u_t = torch.as_tensor(u_matrix, dtype=torch.complex128, device=device)
    coupling_factor = 2.0 * math.pi**2 / wavenumber  # 4π²/(2K)
    return BlochStructure(
        pool=pool,
        g_lab=frame.g_vectors(pool),
        normal=frame.normal,
        coupling=coupling_factor * u_t,  # 4π²/(2K)·Ũ [1/Å]
        u0_abs=torch.as_tensor(np.abs(column.total), dtype=torch.float64, device=device),
        column=column,
        wavenumber=wavenumber,
        device=device,
        mean_absorption=coupling_factor * float(u_matrix[0, 0].imag) if mean_absorption else 0.0,
    )


def pixel_beams(structure: BlochStructure, k: torch.Tensor, min_strong: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The excitation errors s_g (P, n) [1/Å] of every pool beam for incident vectors k (P, 3)
    [1/Å, with 2π] and Felix's strong-beam set of each (P, n) bool (step 2 above)."""
    g = torch.as_tensor(structure.g_lab, dtype=torch.float64, device=structure.device)
    s = excitation_errors(k, g, torch.linalg.norm(g, dim=1), structure.wavenumber)
    return s, strong_beam_mask(s, structure.u0_abs, min_strong)


def normal_correction(structure: BlochStructure, k: torch.Tensor, beams: torch.Tensor) -> torch.Tensor:
    """(1 + g·n̂/k_n)^½ for the pool beams ``beams`` at incident vectors k (P, 3), k_n = k·n̂: the
    entries of M⁻¹, Felix's surface-normal correction (step 3 above). ``beams``: (P, m) indices per
    direction, or (m,) shared by all; returns (P, m) float64."""
    gdn = torch.as_tensor(structure.g_lab @ structure.normal, dtype=torch.float64, device=structure.device)[beams]
    kn = k @ torch.as_tensor(structure.normal, dtype=torch.float64, device=structure.device)
    return torch.sqrt(1.0 + gdn / kn[:, None])


@dataclass
class Propagation:
    """Intensities of the requested beams at the given incident directions.

    intensities: (n_out, n_thickness, P) float64. beams: strong beams per direction (P,).
    largest_chunk: the most directions solved in one batch.
    """

    intensities: np.ndarray
    beams: np.ndarray
    largest_chunk: int


def structure_matrix(
    structure: BlochStructure, k: torch.Tensor, s: torch.Tensor, strong: torch.Tensor, n_beams: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The per-direction structure matrices Ã of the strong beams (steps 2-3 above).

    Returns (Ã (P, m, m) complex128 with a global phase removed, beam indices (P, m) into the
    pool, valid (P, m) bool, M⁻¹ diagonal (P, m)); padded beams are decoupled dummies."""
    dev = structure.device
    n_pool = s.shape[1]
    # strong beams of each pixel in pool order, padded with index n_pool (a dummy)
    arange = torch.arange(n_pool, device=dev)[None, :]
    order = torch.sort(torch.where(strong, arange, n_pool + arange), dim=1).values[:, :n_beams]
    valid = order < n_pool
    idx = torch.where(valid, order, torch.zeros_like(order))
    norm = normal_correction(structure, k, idx)  # (P, m) = M⁻¹ entries
    norm = torch.where(valid, norm, torch.ones_like(norm))
    a = structure.coupling[idx[:, :, None], idx[:, None, :]]  # (P, m, m)
    diag_s = torch.gather(s, 1, idx)
    eye = torch.eye(n_beams, dtype=torch.bool, device=dev)
    # Felix puts s_g alone on the diagonal: the mean absorption U'(0) is left out (docs/felix_physics.md §6),
    # so the absorptive matrix has zero trace and some pixels gain intensity (I > 1). With
    # mean_absorption it is kept: the absorptive potential V(r) ≥ 0 then gives a positive
    # semi-definite V(g − h) (Bochner), the wave's norm can only fall and I ≤ 1.
    diagonal = diag_s[:, :, None].to(a.dtype) + 1j * structure.mean_absorption
    a = torch.where(eye, diagonal, a)
    a = a / (norm[:, :, None] * norm[:, None, :])
    pair_valid = valid[:, :, None] & valid[:, None, :]
    a = torch.where(pair_valid, a, torch.zeros_like(a))
    # remove a global phase: centre the real diagonal (no effect on |ψ|²)
    d_max = torch.where(valid, diag_s, torch.full_like(diag_s, -math.inf)).max(dim=1).values
    d_min = torch.where(valid, diag_s, torch.full_like(diag_s, math.inf)).min(dim=1).values
    shift = 0.5 * (d_max + d_min)
    a = a - torch.where(eye & pair_valid, shift[:, None, None].to(a.dtype), torch.zeros_like(a))
    return a, idx, valid, norm


def _exact_waves(a: torch.Tensor, thicknesses: Sequence[float]) -> Iterator[torch.Tensor]:
    """ψ(t) = exp(iÃt) e₀₀₀ for each thickness: the exact solution of Felix's equations (step 4)."""
    psi = torch.linalg.matrix_exp((1j * thicknesses[0]) * a)[:, :, 0]  # exp(iÃt₀) e₀
    step = None
    if len(thicknesses) > 1:
        step = torch.linalg.matrix_exp((1j * (thicknesses[1] - thicknesses[0])) * a)
    for it in range(len(thicknesses)):
        if it > 0 and it % REANCHOR_STEPS == 0:
            # a fresh exponential now and then keeps single-precision round-off from
            # accumulating along long series (complex64 on GPU)
            psi = torch.linalg.matrix_exp((1j * thicknesses[it]) * a)[:, :, 0]
        elif it > 0:
            psi = torch.bmm(step, psi[:, :, None])[:, :, 0]  # type: ignore[arg-type]
        yield psi


def eigen_waves(a: torch.Tensor, thicknesses: Sequence[float]) -> torch.Tensor:
    """ψ(t) = exp(iÃt) e₀₀₀ for every pixel and thickness from one eigendecomposition per pixel,
    Ã = V Λ V⁻¹, ψ(t) = V (e^{iΛt} ∘ V⁻¹e₀) — Felix's own route (ZGEEV, bloch_mod.f90:325-393;
    Spence & Zuo 1992, Electron Microdiffraction, §2). Ã is not Hermitian with absorption, so the
    general decomposition. ``a``: (P, n, n) complex; returns (T, P, n). A series of T thicknesses
    costs one O(n³) decomposition and T products O(n²) per pixel (the Chebyshev series grows with
    the largest thickness, the exponential with each)."""
    lam, vectors = torch.linalg.eig(a)
    e0 = torch.zeros(a.shape[:2], dtype=vectors.dtype, device=a.device)
    e0[:, 0] = 1.0
    c = torch.linalg.solve(vectors, e0)  # V⁻¹ e₀
    t = torch.as_tensor(np.asarray(list(thicknesses), dtype=float), device=a.device).to(lam.dtype)
    phases = torch.exp(1j * t[:, None, None] * lam[None])  # (T, P, n)
    return torch.einsum("pij,tpj->tpi", vectors, phases * c[None])


def propagate(
    structure: BlochStructure,
    k_all: np.ndarray,
    thicknesses: Sequence[float],
    min_strong: int,
    out_idx: Sequence[int],
    *,
    cdtype: torch.dtype,
    pixel_chunk: int = 1024,
    max_memory_gb: float = 4.0,
    progress: Callable[[int, int], None] | None = None,
    solver: Solver = "expm",
) -> Propagation:
    """Intensities of the pool beams ``out_idx`` for incident wave vectors ``k_all`` (P, 3)
    [1/Å, with 2π] over a thickness series [Å] (steps 1-5 above), in batches of directions.

    ``solver``: ``expm`` (batched matrix exponentials, step 4), ``eigen`` (one eigendecomposition
    per pixel for the whole series, :func:`eigen_waves`) or ``chebyshev`` (the same exp(iÃt)e₀ by a
    Chebyshev series on blocks of neighbouring pixels, :mod:`.chebyshev`)."""
    solver = resolve_solver(solver, structure.device, thicknesses)  # type: ignore[assignment]
    if solver == "chebyshev":
        from .chebyshev import propagate_blocks

        return propagate_blocks(structure, k_all, thicknesses, min_strong, out_idx, cdtype=cdtype, progress=progress)
    n_pix = k_all.shape[0]
    images = np.zeros((len(out_idx), len(thicknesses), n_pix))
    beams_per_pixel = np.zeros(n_pix, dtype=np.int32)
    largest_chunk = 0
    bytes_per_element = 16  # the gathers and the normal correction run in complex128 before the cast
    done = 0
    while done < n_pix:
        chunk = min(pixel_chunk, n_pix - done)
        k = torch.as_tensor(k_all[done : done + chunk], dtype=torch.float64, device=structure.device)
        s, strong = pixel_beams(structure, k, min_strong)
        counts = strong.sum(dim=1)
        n_beams = int(counts.max())
        # memory bound: ~10 matrices of n_beams² per pixel live inside matrix_exp (eigen: and three
        # (thicknesses × n_beams) arrays of phases and waves)
        per_pixel = (10 * n_beams * n_beams + (3 * len(thicknesses) * n_beams if solver == "eigen" else 0)) * bytes_per_element
        limit = max(1, int(max_memory_gb * 2**30 // per_pixel))
        if chunk > limit:
            chunk = limit
            k, s, strong, counts = k[:chunk], s[:chunk], strong[:chunk], counts[:chunk]
            n_beams = int(counts.max())
        a, idx, valid, norm = structure_matrix(structure, k, s, strong, n_beams)
        m_diag = (1.0 / norm).to(cdtype)  # M = diag((1 + g·n̂/k_n)^(-1/2))
        waves = eigen_waves(a.to(cdtype), thicknesses) if solver == "eigen" else _exact_waves(a.to(cdtype), thicknesses)
        for it, psi in enumerate(waves):
            amp = m_diag * psi
            intensity = (amp.real**2 + amp.imag**2).to(torch.float64)
            for j, gi in enumerate(out_idx):
                match = (idx == gi) & valid
                val = torch.where(match, intensity, torch.zeros_like(intensity)).sum(dim=1)
                images[j, it, done : done + chunk] = val.cpu().numpy()
        beams_per_pixel[done : done + chunk] = counts.cpu().numpy()
        largest_chunk = max(largest_chunk, chunk)
        done += chunk
        if progress is not None:
            progress(done, n_pix)
    return Propagation(intensities=images, beams=beams_per_pixel, largest_chunk=largest_chunk)


def requested_beams(hkl: Sequence[Hkl], pool: np.ndarray) -> tuple[list[Hkl], list[Hkl]]:
    """The requested discs split into (those in the pool, those not): Felix skips a reflection
    outside its pool, and so do we (listed in the result's ``missing_hkl``)."""
    wanted: list[Hkl] = [(int(h[0]), int(h[1]), int(h[2])) for h in hkl]
    in_pool = {(int(r[0]), int(r[1]), int(r[2])) for r in pool}
    return [h for h in wanted if h in in_pool], [h for h in wanted if h not in in_pool]


def extract_discs(solved: Propagation, position: np.ndarray, present: Sequence[Hkl], side: int,
                  blur_radius: float) -> tuple[dict[Hkl, np.ndarray], np.ndarray]:
    """The last step of the chain: the solved pixels' intensities spread over the whole disc
    (``position`` maps each of the side² pixels to its solved column, e.g. its symmetry orbit's
    representative), one (n_thickness, side, side) stack per requested beam, blurred as Felix does
    where RBlurRadius > 0; and the strong-beam count of every pixel."""
    images = solved.intensities[:, :, position]
    discs: dict[Hkl, np.ndarray] = {}
    for j, h in enumerate(present):
        stack = images[j].reshape(images.shape[1], side, side)
        if blur_radius > 1e-9:
            stack = np.stack([_blur(img, blur_radius) for img in stack])
        discs[h] = stack
    return discs, solved.beams[position]


def simulate_builtin(
    crystal: Crystal,
    settings: LacbedSettings,
    options: BuiltinOptions | None = None,
    *,
    hkl: Sequence[Hkl] = ((0, 0, 0),),
    device: str | None = None,
    pixel_chunk: int = 1024,
    max_memory_gb: float = 4.0,
    progress: Callable[[int, int], None] | None = None,
    pool: np.ndarray | None = None,
) -> LacbedResult:
    """Simulate LACBED discs of ``crystal`` with one beam set (no convergence control: that is
    :func:`.convergence.simulate_converged`).

    Parameters
    ----------
    crystal: the crystal (kappa charge parameters are honoured through the Mott–Bethe correction).
    settings: the experiment and its beams (thicknesses [Å], voltage [kV], geometry, pool size,
        strong beams, absorption; Felix's names).
    options: how the disc is computed (pool rule, symmetry, mean absorption, complex dtype, solver,
        constants; :class:`~.settings.BuiltinOptions`, default: the schema's — complete shells
        with symmetry). ``BuiltinOptions.as_felix()`` is Felix's pool without symmetry.
    hkl: the discs to return (Felix's felix.hkl); reflections not in the pool are skipped
        (listed in ``info["missing_hkl"]``), as Felix does. Symmetry is used only for the (000)
        disc alone and a pool of complete shells (otherwise the disc is not symmetric).
    device: ``cpu``, ``cuda`` or ``auto``/None.
    pixel_chunk: most pixels per batched matrix exponential.
    max_memory_gb: memory bound [GiB] of one chunk's matrices (the chunk shrinks to respect it;
        measured peak ≈ 0.5 GiB + max_memory_gb on CPU, so the default 4 keeps a 256² pattern with
        300 beams under 8 GiB).
    progress: optional callback(done_pixels, total_pixels).
    pool: optional Miller indices (n, 3) of the reflection pool, 000 first, instead of a rule
        (e.g. the pool listed in a Felix StructureFactors.txt).
    """
    options = BuiltinOptions() if options is None else options
    pool_mode, use_symmetry, mean_absorption = options.pool_mode, options.use_symmetry, options.mean_absorption
    constants = options.constants
    start = time.perf_counter()
    check_supported(settings)
    dev = resolve_device(device)
    cdtype = options.dtype or default_complex_dtype(dev)
    solver = resolve_solver(options.solver, dev, settings.thicknesses)
    wavenumber = wavenumber_from_voltage(settings.accelerating_voltage, constants)
    frame = microscope_frame(crystal, settings.geometry)
    structure = bloch_structure(crystal, frame, wavenumber, potential=settings.potential, beams=settings.beam_selection,
                                geometry=settings.geometry, pool_mode=pool_mode, pool=pool, constants=constants, device=dev,
                                mean_absorption=mean_absorption)
    t_setup = time.perf_counter() - start

    present, missing = requested_beams(hkl, structure.pool)
    thicknesses = settings.thicknesses
    k_all = pixel_wavevectors(settings.pixel_count, settings.outer_convergence_angle, wavenumber).reshape(-1, 3)
    symmetry = disc_symmetry(crystal, frame)
    symmetric = use_symmetry and pool is None and pool_mode == "shells" and present == [(0, 0, 0)]
    reps, source = pixel_orbits(settings.side, symmetry.pixel_operations) if symmetric else (np.arange(len(k_all)),) * 2
    pool_index = {tuple(int(v) for v in row): i for i, row in enumerate(structure.pool)}
    solved = propagate(structure, k_all[reps], thicknesses, settings.min_strong_beams,
                       [pool_index[h] for h in present], cdtype=cdtype, pixel_chunk=pixel_chunk,
                       max_memory_gb=max_memory_gb, progress=progress, solver=solver)
    discs, beams_per_pixel = extract_discs(solved, np.searchsorted(reps, source), present, settings.side, settings.blur_radius)
    seconds = time.perf_counter() - start
    info = {
        "device": str(dev),
        "dtype": str(cdtype).replace("torch.", ""),
        "pool_mode": "given" if pool is not None else pool_mode,
        "solver": solver,
        "mean_absorption": bool(mean_absorption),
        "pool_size": int(len(structure.pool)),
        "beams_min": int(beams_per_pixel.min()),
        "beams_max": int(beams_per_pixel.max()),
        "beams_mean": float(beams_per_pixel.mean()),
        "symmetry": symmetry.name,
        "pixels_solved": int(len(reps)),
        "setup_seconds": t_setup,
        "largest_chunk": solved.largest_chunk,
        "missing_hkl": [list(h) for h in missing],
        "wavenumber": wavenumber,
        "constants": constants,
        "version": __version__,
    }
    return LacbedResult(discs=discs, thicknesses=list(thicknesses), settings=settings, backend="builtin", seconds=seconds,
                        info=info, pool=PoolData(hkl=structure.pool, g_lab=structure.g_lab, structure_factors=structure.column))
