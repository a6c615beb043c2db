"""The fit's Chebyshev propagator and its forward tangents (refine/propagator.py) against the
matrix exponential: values and derivatives, on random matrices and on the model's discs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.refine_case import GAAS, gaas, small_settings

from lacbed_bridge.refine.scenarios import ALONG_110

from lacbed_bridge.refine.model import DiscModel, Roles, forward_jacobian
from lacbed_bridge.refine.optics import OpticsGeometry
from lacbed_bridge.refine.propagator import entry_and_tangents
from lacbed_bridge.simulate.chebyshev import SeriesDivergence


def _random_block(seed: int, pixels: int = 5, n: int = 24):
    """A block of pixels with a Hermitian coupling plus 8 % absorption, Felix-like sizes [1/Å]."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    c = 0.01 * (h + h.conj().T) * (1 + 0.08j)
    diag = rng.normal(scale=0.05, size=(pixels, n)) + 1j * rng.uniform(0.0, 0.004, size=(pixels, n))
    diag[:, 0] = 0.002j
    weight = rng.uniform(0.8, 1.0, size=(pixels, n))
    weight[:, 0] = 1.0
    weight[rng.random(size=(pixels, n)) < 0.2] = 0.0  # beams outside a pixel's strong set
    weight[:, 0] = 1.0
    return (torch.as_tensor(c), torch.as_tensor(diag), torch.as_tensor(weight), rng)


def _exact_entry(c, diag, weight, t):
    """[exp(iÃt)e₀]₀ with Ã = diag(d) + WCW on each pixel's beams (the matrix exponential)."""
    out = []
    for p in range(diag.shape[0]):
        on = weight[p] > 0
        w = weight[p][on].to(c.dtype)
        a = torch.diag(diag[p][on]) + w[:, None] * (c[on][:, on] - torch.diag(torch.diagonal(c[on][:, on]))) * w[None, :]
        out.append(torch.linalg.matrix_exp(1j * t * a)[0, 0])
    return torch.stack(out)


@pytest.mark.parametrize("seed", [0, 1])
def test_tangents_equal_autograd_through_the_exponential(seed: int) -> None:
    """Three directions: one in the coupling, one in the diagonal and weights (a geometry), one in
    all three; and the thickness. Against forward-mode autograd through matrix_exp."""
    c, diag, weight, rng = _random_block(seed)
    n = c.shape[0]
    h = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    dc = torch.as_tensor(0.01 * (h + h.conj().T))
    dd = torch.as_tensor(rng.normal(scale=0.02, size=(3,) + tuple(diag.shape)) + 0j)
    dw = torch.as_tensor(rng.normal(scale=0.05, size=(3,) + tuple(weight.shape)))
    dd[0] = 0
    dw[0] = 0
    dd[:, :, 0] = 0
    dw[:, :, 0] = 0
    dw = torch.where(weight[None] > 0, dw, torch.zeros_like(dw))
    t = 400.0
    psi, d_psi, d_t = entry_and_tangents(c, diag, weight, t, d_coupling=[dc, None, dc], d_diagonal=dd, d_weight=dw)
    np.testing.assert_allclose(psi.numpy(), _exact_entry(c, diag, weight, t).numpy(), atol=1e-12)

    def along(x: torch.Tensor) -> torch.Tensor:
        cc = c + x[0] * dc + x[2] * dc
        return torch.view_as_real(_exact_entry(cc, diag + (x[:, None, None] * dd).sum(0), weight + (x[:, None, None] * dw).sum(0), t))

    reference = torch.view_as_complex(forward_jacobian(along, torch.zeros(3, dtype=torch.float64)).movedim(-1, 1).contiguous())
    assert float(reference.abs().min()) > 1e-3
    np.testing.assert_allclose(d_psi.numpy(), reference.numpy(), atol=1e-10 * float(reference.abs().max()))
    thick = torch.view_as_complex(forward_jacobian(lambda s: torch.view_as_real(_exact_entry(c, diag, weight, s)),
                                                   torch.tensor(t, dtype=torch.float64)).contiguous())
    np.testing.assert_allclose(d_t.numpy(), thick.numpy(), atol=1e-10 * float(thick.abs().max()))


@pytest.mark.parametrize(("settings_kw", "free", "geometry"), [
    ({}, ["delta", "kappa:A", "u_iso:B", "thickness"], OpticsGeometry()),
    pytest.param({"absorb_flag": 2, "min_reflection_pool": 120, "min_strong_beams": 40},
                 ["delta", "thickness", "centre_x", "centre_y", "rotation", "k_scale", "blur"], OpticsGeometry(0.3, -0.2, 3.0, 1.02, 0.7),
                 marks=pytest.mark.slow),  # over 4 s: make test runs it, the quick loop does not
    (ALONG_110, ["delta", "thickness", "centre_x", "k_scale"], OpticsGeometry(0.5, 0.1)),
    # a specimen normal off the beam: the surface-normal weights move with the geometry
    ({"normal_direction": (0, 1, 4)}, ["kappa:B", "centre_y", "rotation"], OpticsGeometry(0.2, 0.4, -2.0)),
])
def test_series_jacobian_equals_the_eigen_jacobian(settings_kw: dict, free: list[str], geometry: OpticsGeometry) -> None:
    """The fit's default route (Chebyshev tangents) against the eigendecomposition route, pixel by
    pixel, away from the start; its discs against the matrix exponential."""
    crystal = gaas()
    settings = small_settings(**settings_kw)
    series = DiscModel(crystal, settings, free, roles=Roles(GAAS, 4), geometry=geometry)
    eigen = DiscModel(crystal, settings, free, roles=Roles(GAAS, 4), geometry=geometry, solver="eigen")
    theta = series.start.clone()
    theta[0] += 0.05
    disc, jac = series.jacobian(theta)
    disc_e, jac_e = eigen.jacobian(theta)
    with torch.no_grad():
        reference = eigen.disc(theta)
    assert torch.allclose(disc, reference, rtol=0, atol=1e-11)
    assert torch.allclose(series.evaluate(theta), reference, rtol=0, atol=1e-11)
    for i, name in enumerate(free):
        scale = float(jac_e[..., i].abs().max())
        assert scale > 1e-8, name
        assert float((jac[..., i] - jac_e[..., i]).abs().max()) < 1e-9 * scale, name


def test_a_diverging_series_falls_back_to_the_exponential(monkeypatch: pytest.MonkeyPatch) -> None:
    import lacbed_bridge.refine.model as model_module

    model = DiscModel(gaas(), small_settings(), ["delta", "thickness"], roles=Roles(GAAS, 4))
    theta = model.start + torch.tensor([0.2, -10.0], dtype=torch.float64)
    disc, jac = model.jacobian(theta)

    def diverging(*_args, **_kw):
        raise SeriesDivergence("test")

    monkeypatch.setattr(model_module, "entry_and_tangents", diverging)
    disc_f, jac_f = model.jacobian(theta)
    assert torch.allclose(jac_f, jac, rtol=0, atol=1e-9 * float(jac.abs().max()))
    assert torch.allclose(model.evaluate(theta), disc, rtol=0, atol=1e-11)


def test_unknown_solver_is_refused() -> None:
    from lacbed_bridge.errors import InputError

    with pytest.raises(InputError, match="solver"):
        DiscModel(gaas(), small_settings(), ["thickness"], solver="magic")


@pytest.mark.parametrize(("hkl", "settings_kw"), [((2, 2, 0), {}), ((0, 2, 0), {"normal_direction": (0, 1, 4)})])
def test_a_g_disc_is_the_simulators_and_its_jacobian_exact(hkl, settings_kw: dict) -> None:
    """Another reflection's disc (Felix's felix.hkl; a ±g disc of the pattern): the simulator's disc
    of that reflection, and its Jacobian (the weight of the beam moves with the geometry when the
    specimen normal is off the beam) against autograd through the matrix exponential."""
    from lacbed_bridge.simulate.bloch import simulate_builtin
    from lacbed_bridge.simulate.settings import BuiltinOptions

    crystal = gaas()
    settings = small_settings(**settings_kw)
    model = DiscModel(crystal, settings, ["delta", "thickness", "centre_x", "rotation"], roles=Roles(GAAS, 4),
                      geometry=OpticsGeometry(0.2, -0.1, 1.0), hkl=hkl)
    flat = DiscModel(crystal, settings, [], hkl=hkl)
    expected = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), hkl=[hkl], device="cpu").disc(hkl)
    np.testing.assert_allclose(flat.evaluate(flat.start).numpy(), expected, atol=1e-11)
    with torch.no_grad():
        np.testing.assert_allclose(flat.disc(flat.start).numpy(), expected, atol=1e-11)
    assert expected.max() > 1e-3
    theta = model.start.clone()
    disc, jac = model.jacobian(theta)
    assert torch.allclose(disc, model.evaluate(theta), rtol=0, atol=1e-12)
    # forward-mode autograd through the matrix exponential (central differences of a g disc's sharp
    # Bragg lines agree only to ~1e-5 at any step)
    reference = forward_jacobian(model.disc, theta)
    for i, name in enumerate(model.free):
        scale = float(reference[..., i].abs().max())
        assert scale > 1e-6, name
        assert float((jac[..., i] - reference[..., i]).abs().max()) < 1e-9 * scale, name


def test_a_reflection_outside_the_pool_is_refused() -> None:
    from lacbed_bridge.errors import InputError

    with pytest.raises(InputError, match="not in the beam pool"):
        DiscModel(gaas(), small_settings(), ["thickness"], hkl=(40, 0, 0))
