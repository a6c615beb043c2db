"""ψ₀₀₀(t) of a block of pixels and its derivatives by a Chebyshev series with forward tangents.

The fit needs, per pixel p, the 000 amplitude ψ₀ = [exp(iÃ_p t) e₀]₀ and its derivatives with
respect to every free parameter θ_j that enters the structure matrix

    Ã_p = diag(d_p) + W_p C W_p        (on the pixel's strong beams; simulate/chebyshev.py)

— the structure (δ, κ, U_iso) through the coupling C, the detector geometry (centre, rotation,
k-scale) through the excitation errors in d_p and the surface-normal weights w_p — and with respect
to the thickness t. The propagator is the simulator's Chebyshev series (Tal-Ezer & Kosloff 1984,
J. Chem. Phys. 81, 3967; :func:`lacbed_bridge.simulate.chebyshev.block_waves`)

    exp(iÃt)e₀ = e^{ict} Σ_k (2 − δ_k0) i^k J_k(rt) T_k(Â)e₀,   Â = (Ã − c)/r,
    T_{k+1} = 2ÂT_k − T_{k−1},

and the derivatives are its forward tangents, exact for the same polynomial: differentiating the
recurrence along θ_j with the interval (c, r) held (the series is the exponential on any interval
that holds the spectrum, so the interval is not a function of θ),

    Ṫ_{k+1} = 2ÂṪ_k + 2Â̇T_k − Ṫ_{k−1},   Ṫ_0 = 0,   Â̇ = (diag(ḋ) + ẆCW + WCẆ + WĊW)/r.

In the scaled variables of block_waves, y_k = S T_k with S = W(2/r)^½, and u_k = S Ṫ_k, ρ = ẇ/w:

    u_{k+1} = d₂∘u_k + s₂∘[C(u_k + ρ∘y_k) + Ċ y_k] + ρ∘s₂∘(C y_k) + ḋ₂∘y_k − u_{k−1}

(d₂ = 2(d − c)/r, s₂ = 2w²/r, ḋ₂ = 2ḋ/r): one product with C per tangent and term, and one with
Ċ for a structural tangent, all as matrix–matrix products over the block's pixels. The thickness
derivative is analytic, ∂ψ/∂t = iÃψ. Measured against the matrix exponential and its
Daleckii–Krein derivative in tests/refine/test_propagator.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..simulate.chebyshev import MAX_GROWTH, QUIET_TERMS, SeriesDivergence, bessel_table, scaled_block, series_length


def entry_and_tangents(
    coupling: torch.Tensor,
    diagonal: torch.Tensor,
    weight: torch.Tensor,
    thickness: float,
    *,
    d_coupling: list[torch.Tensor | None] | None = None,
    d_diagonal: torch.Tensor | None = None,
    d_weight: torch.Tensor | None = None,
    tol: float = 1e-13,
    entry: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ψ₀ = [exp(iÃ_p t)e₀]₀ of every pixel p of a block, its tangents along K directions, and ∂ψ₀/∂t;
    with ``entry`` = e another beam's amplitude instead, w_e·[exp(iÃ_p t)e₀]_e (Felix's M ψ: the
    g disc's amplitude; 0 where the beam is not among the pixel's strong beams).

    coupling: C (n, n) complex128 [1/Å], the block's beams (diagonal ignored); diagonal: d_p (P, n)
    complex [1/Å], the diagonal of each Ã_p (excitation error and mean absorption over the normal
    correction); weight: w_p (P, n) real, (1 + g·n̂/k_n)^−½ on the pixel's beams, 0 off them, 1 on
    000 (beam 0); thickness t [Å]. Tangent j: d_coupling[j] = ∂C/∂θ_j (n, n) or None (no change),
    d_diagonal[j] = ∂d_p/∂θ_j (K, P, n), d_weight[j] = ∂w_p/∂θ_j (K, P, n) (None: zero).

    Returns ψ₀ (P,), ∂ψ₀/∂θ (P, K) and ∂ψ₀/∂t (P,), complex128 (of the ``entry``: a_e = w_e ψ_e,
    ȧ_e = (S Ṫ)_e + ρ_e a_e, ∂a_e/∂t = i(d_e a_e + w_e²(C a)_e)). The series is summed until the
    terms of ψ and of every tangent stay below ``tol`` relative to their size (module docstring);
    :class:`SeriesDivergence` if it does not converge.
    """
    dtype = torch.complex128
    real = torch.float64
    dev = coupling.device
    p_count, n = diagonal.shape
    n_tangent = len(d_coupling) if d_coupling is not None else (0 if d_diagonal is None else d_diagonal.shape[0])
    d_full = diagonal.to(dtype)
    # the series' interval and scaling, as the simulator's (μ, c and r are constants of the series:
    # it is the exponential on any interval that holds the spectrum)
    block = scaled_block(coupling.to(dtype), d_full, weight)
    c_off, w, valid, mu = block.coupling, block.weight, block.valid, block.mu.detach()
    centre, half, d2, s2 = block.centre, block.half, block.d2, block.s2

    # the products with C and the structural Ċ at once: y @ [Cᵀ | Ċ₁ᵀ | …]
    structural = [j for j in range(n_tangent) if d_coupling is not None and d_coupling[j] is not None]
    stacked = [c_off.T]
    for j in structural:
        dc = d_coupling[j].to(dtype).clone()  # type: ignore[index]
        dc.fill_diagonal_(0)
        stacked.append(dc.T)
    c_wide = torch.cat(stacked, dim=1).contiguous()  # (n, n (1 + structural))
    c_t = c_off.T.contiguous()
    if n_tangent:
        dd2 = torch.zeros((n_tangent, p_count, n), dtype=dtype, device=dev) if d_diagonal is None else \
            torch.where(valid, 2.0 * d_diagonal.to(dtype) / half, torch.zeros_like(d2))
        rho = torch.zeros((n_tangent, p_count, n), dtype=dtype, device=dev) if d_weight is None else \
            torch.where(valid, d_weight.to(real) / torch.where(valid, w, torch.ones_like(w)), torch.zeros_like(w)).to(dtype)
        has_rho = d_weight is not None and bool((rho != 0).any())

    t = float(thickness)
    x = half * t
    # (r/2)^½ e^{ict} e^{−μ_p t}: the amplitude per unit of y, per pixel
    shift = (math.sqrt(0.5 * half) * torch.exp(1j * centre * t - mu.to(real) * t)).to(dtype)
    shift_size = float(shift.abs().max())
    n_max = series_length(x)

    def coefficients(order: int) -> tuple[np.ndarray, np.ndarray]:
        table = bessel_table(np.array([x]), order)[:, 0]
        table[1:] *= 2.0
        return (1j ** (np.arange(order + 1) % 4)) * table, np.abs(table) * shift_size

    coeff, bound = coefficients(n_max)

    def products(y: torch.Tensor, u: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """C y, and the tangents' C(u + ρ∘y) + Ċ y (K, P, n)."""
        wide = y @ c_wide
        cy = wide[:, :n]
        if not n_tangent:
            return cy, None
        v = u + rho * y[None] if has_rho else u
        cu = (v.reshape(-1, n) @ c_t).reshape(n_tangent, p_count, n)
        for i, j in enumerate(structural):
            cu[j] += wide[:, n * (i + 1): n * (i + 2)]
        return cy, cu

    def step(y: torch.Tensor, u: torch.Tensor | None, cy: torch.Tensor, cu: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """2Ây and its tangent (without the − T_{k−1} terms)."""
        y_next = d2 * y + s2 * cy
        if u is None:
            return y_next, None
        u_next = d2 * u + s2 * cu + dd2 * y[None]
        if has_rho:
            u_next = u_next + rho * (s2 * cy)[None]
        return y_next, u_next

    y_prev = torch.zeros((p_count, n), dtype=dtype, device=dev)
    y_prev[:, 0] = torch.sqrt(s2[:, 0])  # S e₀
    u_prev = torch.zeros((n_tangent, p_count, n), dtype=dtype, device=dev) if n_tangent else None
    cy, cu = products(y_prev, u_prev)
    y, u = step(y_prev, u_prev, cy, cu)
    y = 0.5 * y
    u = 0.5 * u if u is not None else None
    amplitude = coeff[0] * y_prev + coeff[1] * y  # the whole vector (for ∂ψ/∂t)
    tangent = (coeff[1] * u[:, :, entry]) if u is not None else None  # only the wanted entry is needed
    limit = MAX_GROWTH * n_max
    quiet, k = 0, 1
    size = 1.0
    while quiet < QUIET_TERMS:
        k += 1
        if k > n_max:
            if 2 * n_max > limit:
                raise SeriesDivergence(f"the Chebyshev series did not reach {tol:g} in {n_max} terms")
            n_max *= 2
            coeff, bound = coefficients(n_max)
        cy, cu = products(y, u)
        y_next, u_next = step(y, u, cy, cu)
        y_next = y_next - y_prev
        y_prev, y = y, y_next
        amplitude = amplitude + coeff[k] * y
        if u is not None:
            u_next = u_next - u_prev
            u_prev, u = u, u_next
            tangent = tangent + coeff[k] * u[:, :, entry]
        if k > x and k % 2 == 0:
            size = max(1.0, float((amplitude * shift[:, None]).abs().max()))
            largest = bound[k] * float(torch.linalg.vector_norm(y, dim=1).max()) / size
            if u is not None:
                sizes = torch.clamp((tangent * shift[None, :]).abs().max(dim=1).values, min=1.0)
                largest = max(largest, float((bound[k] * torch.linalg.vector_norm(u, dim=2).max(dim=1).values / sizes).max()))
            quiet = quiet + 2 if largest < tol else 0
    amplitude = amplitude * shift[:, None]  # w∘ψ on the block's beams (w = 1 on 000)
    psi = amplitude[:, entry]
    if tangent is not None:
        d_psi = (tangent * shift[None, :]).T
        if n_tangent and has_rho:  # the weight of the entry moves too: ȧ_e gains ρ_e a_e
            d_psi = d_psi + (rho[:, :, entry] * psi[None, :]).T
    else:
        d_psi = torch.zeros((p_count, 0), dtype=dtype, device=dev)
    # ∂a_e/∂t = w_e·i(Ãψ)_e = i(d_e a_e + w_e² Σ_h C_eh a_h)  (w₀ = 1)
    d_t = 1j * (d_full[:, entry] * psi + (w[:, entry] ** 2).to(dtype) * (amplitude @ c_off[entry]))
    return psi, d_psi, d_t
