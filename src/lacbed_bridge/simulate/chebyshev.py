"""ψ(t) = exp(iÃt)e₀₀₀ for a block of pixels by a Chebyshev expansion, with matrix–matrix products.

The structure matrix of pixel p (:func:`~.bloch.structure_matrix`) is

    Ã_p = N_p⁻¹ (D_p + P_p C P_p) N_p⁻¹,

with C the coupling (4π²/2K)·Ũ(g − h) of the pool (the same for every pixel; its diagonal is
replaced by D), D_p = diag(s_g(p) + i·mean absorption) the excitation errors, P_p the projector on
the pixel's strong beams and N_p = diag((1 + g·n̂/k_n)^½) the surface-normal correction. On the
union U of the strong beams of a block of neighbouring pixels, with w_p = P_p N_p⁻¹ (zero off the
pixel's own beams),

    Ã_p x = (d_p ∘ x) + w_p ∘ (C_U (w_p ∘ x)),     d_p = (s_g(p) + i·U'₀)/(1 + g·n̂/k_n),

so the block's products Ã_p x_p are ONE product of C_U with the (|U| × P) matrix of the w_p ∘ x_p:
a BLAS-3 product instead of P matrix–vector products, and the beams outside a pixel's own set
stay exactly 0 (they start at 0 and w_p cuts them off). Each pixel still sees exactly Felix's
matrix of its own strong beams (bloch_mod.f90:405-465): nothing is approximated by the block.

The propagator is the Chebyshev series of exp(iλt) on an interval [c − r, c + r] that holds the
spectrum (Tal-Ezer & Kosloff 1984, J. Chem. Phys. 81, 3967):

    exp(iÃt) e₀ = e^{ict} Σ_k (2 − δ_k0) i^k J_k(rt) T_k(Â) e₀,    Â = (Ã − c)/r,

T_k by the three-term recurrence T_{k+1} = 2ÂT_k − T_{k−1}. c and r come from the Gershgorin
discs of the real part, one interval for the whole block; the mean imaginary diagonal (the mean
absorption) is taken out as a damping e^{−μt}. The rest of the absorptive (anti-Hermitian) part
puts eigenvalues off the real axis, where ‖T_k(Â)e₀‖ grows geometrically; the series is summed
until the terms' size |J_k(rt)|·‖T_k(Â)e₀‖ stays below ``tol`` for every pixel and thickness, so
the result is the exponential to ~``tol`` (measured against ``matrix_exp``:
tests/simulate/test_sim_chebyshev.py). The growth costs precision by cancellation, ≈ e^{t·max|Im λ|}
times the unit round-off: negligible in complex128, up to 7e-4 in complex64 for a heavy, strongly
absorbing crystal (docs/performance.md). All thicknesses of a series reuse the same vectors
T_k(Â)e₀ (only the coefficients depend on t).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import jv

from .bloch import BlochStructure, Propagation, normal_correction, pixel_beams, propagate

#: stop when this many consecutive terms are all below the tolerance (a single small Bessel
#: value near a zero of J_k, or a small ‖T_k(Â)e₀‖, must not end the series)
QUIET_TERMS = 4
#: a block whose series has not converged within this many times the first estimate of its
#: length is computed by the matrix exponential instead (:class:`SeriesDivergence`)
MAX_GROWTH = 8
#: orders whose coefficients are built at a time (bounds the memory for long thickness series)
CHUNK_ORDERS = 64


class SeriesDivergence(RuntimeError):
    """The Chebyshev series did not reach its tolerance (strongly non-normal matrices with gain,
    e.g. heavy absorption in Felix's zero-trace model at large thickness)."""


def series_length(x: float) -> int:
    """An order past which J_k(x) < 1e-16 (x ≥ 0): the transition region of J_k(x) around k ≈ x
    has the width (x/2)^⅓ (J_{x+m}(x) ≈ (2/x)^⅓ Ai(m (2/x)^⅓), Abramowitz & Stegun 9.3.23), and
    Ai(z) < 1e-16 for z > 14.6 (A&S 10.4.59), so x + 16 (x/2)^⅓ + 20 orders suffice."""
    return int(math.ceil(x + 16.0 * (0.5 * x) ** (1.0 / 3.0) + 20.0))


def bessel_table(x: np.ndarray, order: int) -> np.ndarray:
    """J_k(x) for k = 0 … ``order`` and every x ≥ 0 of the 1-D array ``x``, shape (order + 1, len(x)),
    to ~1e-13 absolute and ~1e-12 relative in the tail (measured against ``scipy.special.jv``).

    Few values: scipy's ``jv``. Many (a thickness series): Miller's backward recurrence
    J_{k−1}(x) = (2k/x) J_k(x) − J_{k+1}(x) (A&S 9.1.27), started where J is negligible and
    normalised by J_0 + 2 Σ_k J_2k = 1 (A&S 9.1.46): one pass for all orders, ~50× faster than
    ``jv`` order by order for 200 thicknesses. Values are rescaled on the way down before they
    overflow; x < 0.01 always goes to ``jv`` (2k/x would overflow)."""
    x = np.asarray(x, dtype=float).reshape(-1)
    orders = np.arange(order + 1)
    if x.size <= 4:
        return jv(orders[:, None], x[None, :])
    out = np.empty((order + 1, x.size))
    small = x < 1e-2
    out[:, small] = jv(orders[:, None], x[small][None, :])
    xs = x[~small]
    if xs.size:
        top = max(order, series_length(float(xs.max()))) + 30 + int(math.sqrt(40.0 * max(order, 1)))
        table = np.zeros((order + 1, xs.size))
        above = np.zeros_like(xs)  # J_{k+1}
        current = np.full_like(xs, 1e-280)  # J_k, up to a common factor
        norm = np.zeros_like(xs)
        two_over_x = 2.0 / xs
        for k in range(top, 0, -1):
            above, current = current, k * two_over_x * current - above  # now J_{k−1}
            if k - 1 <= order:
                table[k - 1] = current
            if (k - 1) % 2 == 0:
                norm += current if k == 1 else 2.0 * current
            huge = np.abs(current) > 1e250
            if huge.any():
                factor = np.where(huge, 1e-250, 1.0)
                current *= factor
                above *= factor
                norm *= factor
                if k - 1 <= order:
                    table[k - 1 :] *= factor
        out[:, ~small] = table / norm
    return out


@dataclass(frozen=True)
class ScaledBlock:
    """A block's matrices prepared for the series (:func:`scaled_block`)."""

    coupling: torch.Tensor  # C with its diagonal set to 0
    weight: torch.Tensor  # w_p, real
    valid: torch.Tensor  # w_p > 0: the pixel's own beams
    d: torch.Tensor  # d_p − iμ_p
    mu: torch.Tensor  # μ_p, the mean imaginary diagonal, taken out as a damping e^{−μt}
    centre: float  # c: the centre of the interval that holds every pixel's spectrum
    half: float  # r: its half width
    d2: torch.Tensor  # 2(d − c)/r on the pixel's beams
    s2: torch.Tensor  # S_p² = 2w²/r


def scaled_block(coupling: torch.Tensor, diagonal: torch.Tensor, weight: torch.Tensor) -> ScaledBlock:
    """The interval [c − r, c + r] of the series and the scaled diagonal and weights of a block
    (:func:`block_waves`; refine/propagator.py differentiates the same series).

    The mean imaginary diagonal (the mean absorption) is taken out as a damping e^{−μt}: the
    eigenvalues lie closer to the real axis, so T_k(Â)e₀ grows less and the series ends sooner.
    The interval comes from the Gershgorin discs of each pixel's matrix — centre Re d_g, radius
    w_g Σ_h |C_gh| w_h — ONE for the block (its pixels' intervals differ little, and the series runs
    to the largest r·t anyway), so one row of Bessel values serves every pixel. (A tighter interval
    from Lanczos steps saved under 10 % of the terms and cost accuracy: eigenvalues close to its
    ends, pushed off the axis by the absorption, made T_k grow; the Gershgorin interval keeps the
    series at ~1e-13.)"""
    dtype = coupling.dtype
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    c_off = coupling.clone()
    c_off.fill_diagonal_(0)
    w = weight.to(real)
    valid = w > 0
    d = diagonal.to(dtype)
    mu = torch.where(valid, d.imag, torch.zeros_like(d.imag)).sum(dim=1) / valid.sum(dim=1).clamp(min=1)
    d = d - 1j * mu[:, None].to(dtype)
    radius = w * (w @ c_off.abs().to(real).T)
    lo = float(torch.where(valid, d.real - radius, torch.full_like(radius, math.inf)).min())
    hi = float(torch.where(valid, d.real + radius, torch.full_like(radius, -math.inf)).max())
    centre = 0.5 * (hi + lo)
    half = max(0.5 * (hi - lo), 1e-12)
    d2 = torch.where(valid, 2.0 * (d - centre) / half, torch.zeros_like(d))
    s2 = (w**2 * (2.0 / half)).to(dtype)
    return ScaledBlock(c_off, w, valid, d, mu, centre, half, d2, s2)


class _Coefficients:
    """The series' coefficients i^k (2 − δ_k0) J_k(r t) · (r/2)^½ e^{ict} e^{−μ_p t} for every order k,
    thickness t [Å] and pixel p of a block (:func:`block_waves`): the Bessel values J_k(r t) up to
    :attr:`n_max` (doubled when the series needs more orders), the coefficients themselves built
    :data:`CHUNK_ORDERS` orders at a time (bounds the memory for long thickness series)."""

    def __init__(self, series: ScaledBlock, thicknesses: Sequence[float], dtype: torch.dtype) -> None:
        t = np.asarray(list(thicknesses), dtype=float)
        self.x = series.half * t  # r·t per thickness
        #: the largest r·t: past this order |J_k| falls super-exponentially
        self.start = float(self.x.max())
        # (r/2)^½ (amplitude per unit of y), e^{ict} from the centre and e^{−μ_p t} from the mean
        # absorption, per thickness and pixel, (T, P)
        shift = math.sqrt(0.5 * series.half) * np.exp(1j * series.centre * t[:, None]
                                                      - series.mu.to(torch.float64).cpu().numpy()[None, :] * t[:, None])
        self.shift_size = float(np.abs(shift).max())
        self.dtype, self.device = dtype, series.d.device
        self.shift_t = torch.as_tensor(shift, dtype=dtype, device=self.device)
        self.n_max = series_length(self.start)
        self.bessel, self.size_bound = self._orders_up_to(self.n_max)
        self.first, self.chunk = 0, self._chunk(0)

    def _orders_up_to(self, order: int) -> tuple[np.ndarray, np.ndarray]:
        """2J_k(r t) (J_0 once) for every order and thickness, (K, T), and the largest |coefficient|
        of each order, which bounds its term (the tail needs relative accuracy: ‖y_k‖ may have grown)."""
        table = bessel_table(self.x, order)
        table[1:] *= 2.0
        return table, np.abs(table).max(axis=1) * self.shift_size

    def _chunk(self, first: int) -> torch.Tensor:
        """The orders first … first + CHUNK_ORDERS − 1 as (orders, T, P, 1): i^k 2J_k(r t) · shift."""
        orders = np.arange(first, min(first + CHUNK_ORDERS, self.n_max + 1))
        values = torch.as_tensor((1j ** (orders % 4))[:, None] * self.bessel[orders], dtype=self.dtype, device=self.device)
        return (values[:, :, None] * self.shift_t[None])[..., None].contiguous()

    def order(self, k: int, limit: int, tol: float) -> torch.Tensor:
        """The coefficient of order ``k`` (T, P, 1), asked for in increasing k: past :attr:`n_max` the
        orders are doubled, up to ``limit`` (then :class:`SeriesDivergence`: the series did not
        reach ``tol``)."""
        if k > self.n_max:  # not converged within the first estimate: more orders
            if 2 * self.n_max > limit:
                raise SeriesDivergence(f"the Chebyshev series did not reach {tol:g} in {self.n_max} terms")
            self.n_max *= 2
            self.bessel, self.size_bound = self._orders_up_to(self.n_max)
            self.first, self.chunk = k, self._chunk(k)
        elif k >= self.first + CHUNK_ORDERS:
            self.first, self.chunk = k, self._chunk(k)
        return self.chunk[k - self.first]

    def largest_term(self, k: int, y: torch.Tensor, y_prev: torch.Tensor) -> float:
        """A bound on the size of the terms k and k − 1 over all pixels and thicknesses:
        max |coefficient| · max_p ‖y‖ of each."""
        return max(self.size_bound[k] * float(torch.linalg.vector_norm(y, dim=1).max()),
                   self.size_bound[k - 1] * float(torch.linalg.vector_norm(y_prev, dim=1).max()))


def _first_vectors(series: ScaledBlock, c_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y_0 = S e₀ (w = 1 on 000) and y_1 = Â y_0 = ½(d2 ∘ y_0 + S²(C y_0)), each (P, n)."""
    p, n = series.d.shape
    y_prev = torch.zeros((p, n), dtype=c_t.dtype, device=series.d.device)
    y_prev[:, 0] = torch.sqrt(series.s2[:, 0])  # S e₀ (w = 1 on 000)
    y = 0.5 * (series.d2 * y_prev + series.s2 * (y_prev @ c_t))
    return y_prev, y


def _next_vectors(y_prev: torch.Tensor, y: torch.Tensor, series: ScaledBlock, c_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The recurrence y_k = d2 ∘ y_{k−1} + S²(C y_{k−1}) − y_{k−2}, computed in place of the oldest
    vector: returns (y_{k−1}, y_k)."""
    product = y @ c_t
    y_prev.neg_().addcmul_(series.d2, y).addcmul_(series.s2, product)
    return y, y_prev


def block_waves(
    coupling: torch.Tensor,
    diagonal: torch.Tensor,
    weight: torch.Tensor,
    thicknesses: Sequence[float],
    *,
    tol: float = 1e-13,
    beams: Sequence[int] | None = None,
) -> torch.Tensor:
    """The amplitudes w_p ∘ ψ_p(t), ψ_p(t) = exp(iÃ_p t)e₀, for every pixel p of a block and every
    thickness [Å], Ã_p = diag(d_p) + W_p C W_p on the pixel's beams (W_p = diag(w_p)).

    coupling: C_U (n, n) complex, the coupling between the block's beams (diagonal ignored) [1/Å];
    diagonal: d_p (P, n) complex, the diagonal of each pixel's Ã (a constant shift per pixel, real
    or imaginary, is a global phase or damping and is taken out of the series) [1/Å]; weight: w_p
    (P, n) real, (1 + g·n̂/k_n)^−½ on the pixel's strong beams and 0 elsewhere; beam 0 must be
    000. ``beams``: the positions (of the n) whose amplitudes are wanted (default: all). Returns
    (T, P, len(beams)) in the dtype of ``coupling``, exactly 0 off each pixel's beams.

    The recurrence runs on y_k = S_p T_k(Â_p)e₀ with S_p = W_p (2/r)^½ (zero off the pixel's
    beams), for which 2Â y = d2 ∘ y + S_p²(C y): one GEMM and three element-wise updates per term,
    and w_p ∘ ψ_p = (r/2)^½ Σ_k c_k y_k. The sum is kept for the wanted beams only: for a
    thickness series it costs T·P per beam and order, against P·n² for the recurrence's product,
    so summing all n beams (T·P·n) would cost more than the recurrence itself once T > n.
    """
    series = scaled_block(coupling, diagonal, weight)
    wanted = slice(None) if beams is None else torch.as_tensor(list(beams), dtype=torch.long, device=coupling.device)
    c_t = series.coupling.T.contiguous()  # Y @ Cᵀ = (C y)ᵀ row by row
    coefficients = _Coefficients(series, thicknesses, coupling.dtype)
    limit = MAX_GROWTH * coefficients.n_max
    y_prev, y = _first_vectors(series, c_t)
    amplitude = coefficients.order(0, limit, tol) * y_prev[:, wanted] + coefficients.order(1, limit, tol) * y[:, wanted]
    quiet = 0
    size: float | None = None  # the amplitude's size, for a relative tolerance where it exceeds 1
    k = 1
    while quiet < QUIET_TERMS:
        k += 1
        coefficient = coefficients.order(k, limit, tol)
        y_prev, y = _next_vectors(y_prev, y, series, c_t)
        amplitude.addcmul_(coefficient, y[:, wanted])
        if k > coefficients.start and k % 2 == 0:
            # terms k − 1 and k: past k > r·t |J_k| falls super-exponentially while ‖T_k(Â)e₀‖
            # grows at most geometrically, so once QUIET_TERMS terms in a row are below tol the rest are
            if size is None or k % 64 == 0:
                size = max(1.0, float(amplitude.abs().max()) if amplitude.numel() else 0.0)
            quiet = quiet + 2 if coefficients.largest_term(k, y, y_prev) < tol * size else 0
    return amplitude


def tile_blocks(k_all: np.ndarray, tile: int) -> list[np.ndarray]:
    """The pixels (rows of ``k_all``, incident wave vectors on the pixel grid) in blocks of at
    most tile × tile neighbouring pixels: neighbours have nearly the same strong beams, so the
    union a block works on stays close to one pixel's set (measured: +15 % for 4 × 4 tiles of a
    32² GaAs [001] disc at 200 beams, +35 % for 8 × 8)."""
    if len(k_all) == 0:
        return []
    blocks: dict[tuple[int, int], list[int]] = {}
    columns = []
    for axis in (0, 1):
        values = np.round(k_all[:, axis], 9)
        grid = np.unique(values)
        step = float(np.min(np.diff(grid))) if len(grid) > 1 else 1.0
        columns.append(np.floor((values - grid[0]) / step + 0.5).astype(int) // tile)
    for i, key in enumerate(zip(columns[0].tolist(), columns[1].tolist(), strict=True)):
        blocks.setdefault(key, []).append(i)
    return [np.asarray(block) for _, block in sorted(blocks.items())]


def propagate_blocks(
    structure: BlochStructure,
    k_all: np.ndarray,
    thicknesses: Sequence[float],
    min_strong: int,
    out_idx: Sequence[int],
    *,
    cdtype: torch.dtype,
    tile: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> Propagation:
    """:func:`~.bloch.propagate` with the Chebyshev propagator on blocks of neighbouring pixels:
    the same strong beams per pixel (Felix's rule), the same matrices, the same intensities (to
    ~1e-12 in complex128; in complex64 ~1e-6, up to 7e-4 for heavy, strongly absorbing crystals:
    docs/performance.md), computed with matrix–matrix products. A block whose series does not
    converge (:class:`SeriesDivergence`) is computed by the matrix exponential."""
    f64 = torch.float64
    tol = 1e-13 if cdtype == torch.complex128 else 1e-7
    n_pix = k_all.shape[0]
    images = np.zeros((len(out_idx), len(thicknesses), n_pix))
    beams_per_pixel = np.zeros(n_pix, dtype=np.int32)
    largest = 0
    done = 0
    for block in tile_blocks(k_all, tile):
        k = torch.as_tensor(k_all[block], dtype=f64, device=structure.device)
        s, strong = pixel_beams(structure, k, min_strong)
        union = torch.nonzero(strong.any(dim=0)).flatten()  # sorted: 000 (always strong) first
        member = strong[:, union]
        # (1 + g·n̂/k_n)^½ per pixel and beam: the surface-normal correction N_p (bloch.py step 3)
        norm = normal_correction(structure, k, union)
        weight = torch.where(member, 1.0 / norm, torch.zeros_like(norm))
        diagonal = (s[:, union] + 1j * structure.mean_absorption) / norm**2
        coupling = structure.coupling[union][:, union].to(cdtype)
        position = {int(b): j for j, b in enumerate(union.tolist())}
        present = [(j, position[gi]) for j, gi in enumerate(out_idx) if gi in position]  # (output, place in the block)
        if not present:  # none of the requested beams is strong for any pixel of the block
            beams_per_pixel[block] = strong.sum(dim=1).cpu().numpy()
            largest, done = max(largest, len(block)), done + len(block)
            if progress is not None:
                progress(done, n_pix)
            continue
        try:
            # M ψ on the requested beams, M = N⁻¹ on the pixel's beams and 0 off them, (T, P, len(present))
            amplitude = block_waves(coupling, diagonal, weight, thicknesses, tol=tol, beams=[b for _, b in present])
        except SeriesDivergence:
            # the exact exponential for this block (same beams, same matrices)
            exact = propagate(structure, k_all[block], thicknesses, min_strong, out_idx, cdtype=cdtype, solver="expm")
            images[:, :, block] = exact.intensities
            amplitude = None
        if amplitude is not None:
            intensity = (amplitude.real**2 + amplitude.imag**2).to(f64)
            for column, (j, _) in enumerate(present):
                images[j][:, block] = intensity[:, :, column].cpu().numpy()
        beams_per_pixel[block] = strong.sum(dim=1).cpu().numpy()
        largest = max(largest, len(block))
        done += len(block)
        if progress is not None:
            progress(done, n_pix)
    return Propagation(intensities=images, beams=beams_per_pixel, largest_chunk=largest)
