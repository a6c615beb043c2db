"""Refinement from a (000) disc: the differentiable model, its gradients, the fit and the command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lacbed_bridge.cli import main
from lacbed_bridge.crystal.cif import read_cif
from lacbed_bridge.crystal.variants import generate_family
from lacbed_bridge.errors import InputError
from lacbed_bridge.io import read_tiff, write_tiff
from lacbed_bridge.refine.fit import fit_disc, poisson_disc
from lacbed_bridge.refine.model import DiscModel, Roles, forward_jacobian
from lacbed_bridge.simulate.bloch import simulate_builtin
from lacbed_bridge.simulate.settings import BuiltinOptions

from support.refine_case import GAAS, gaas, refine_command_case, small_settings

@pytest.mark.parametrize(("settings_kw", "symmetry", "mean"), [
    ({}, True, False),
    ({}, True, True),  # the mean absorption kept (simulation.mean_absorption)
    ({"absorb_flag": 2}, True, False),  # Bird–King absorption (U' held at the start)
    ({"incident_beam_direction": (1, 1, 0), "x_direction": (1, -1, 0), "normal_direction": (1, 1, 0)}, False, False),
])
def test_model_equals_the_simulator_at_the_start(settings_kw: dict, symmetry: bool, mean: bool) -> None:
    crystal = gaas()
    settings = small_settings(**settings_kw)
    reference = simulate_builtin(crystal, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, mean_absorption=mean), device="cpu").disc()
    model = DiscModel(crystal, settings, ["delta", "kappa:A", "u_iso:B", "thickness"], roles=Roles(GAAS, 4),
                      use_symmetry=symmetry, mean_absorption=mean)
    disc = model.disc(model.start).detach().numpy()
    assert np.abs(disc - reference).max() <= 1e-10 * np.abs(reference).max()
    # and it moves with δ as the simulator does for the same crystal at another δ
    other = gaas(delta=0.9)
    theta = model.start.clone()
    theta[0] = 0.9
    moved = model.disc(theta).detach().numpy()
    reference = simulate_builtin(other, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False, mean_absorption=mean), device="cpu").disc()
    model_other = DiscModel(other, settings, ["delta"], roles=Roles(GAAS, 4), use_symmetry=symmetry, mean_absorption=mean)
    same_beams = model_other.disc(model_other.start).detach().numpy()
    assert np.abs(same_beams - reference).max() <= 1e-10 * np.abs(reference).max()
    # with the strong beams of the start the disc differs from the simulator's only by beam selection
    assert np.abs(moved - reference).max() < 0.05 * np.abs(reference).max()


@pytest.mark.slow
def test_gradients_match_finite_differences() -> None:
    crystal = gaas()
    model = DiscModel(crystal, small_settings(), ["delta", "kappa:A", "kappa:B", "u_iso:A", "u_iso:B", "thickness"],
                      roles=Roles(GAAS, 4))
    weights = torch.linspace(0.5, 1.5, 16 * 16, dtype=torch.float64).reshape(16, 16)
    theta = model.start.clone().requires_grad_(True)
    (model.disc(theta) * weights).sum().backward()
    forward = forward_jacobian(lambda t: (model.disc(t) * weights).sum(), model.start)  # forward mode, as the fit uses
    for i, name in enumerate(model.free):
        h = 1e-5 * max(1.0, abs(float(model.start[i])))
        up, down = model.start.clone(), model.start.clone()
        up[i] += h
        down[i] -= h
        fd = (float((model.disc(up) * weights).sum()) - float((model.disc(down) * weights).sum())) / (2 * h)
        assert float(theta.grad[i]) == pytest.approx(fd, rel=1e-5, abs=1e-8), name
        assert float(forward[i]) == pytest.approx(float(theta.grad[i]), rel=1e-10), name
        assert abs(fd) > 1e-6, f"{name} moves the disc"
    # the fit's Jacobian (thickness column analytic, ∂ψ/∂t = iÃψ) agrees with autograd
    disc, jac = model.jacobian(model.start)
    assert torch.allclose(disc, model.disc(model.start), rtol=0, atol=1e-12)
    assert torch.allclose((jac * weights[..., None]).sum(dim=(0, 1)), theta.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("settings_kw", [
    {},  # [001]: 2mm, degenerate Bloch waves
    {"absorb_flag": 2, "min_reflection_pool": 120, "min_strong_beams": 40},
    {"incident_beam_direction": (1, 1, 0), "x_direction": (1, -1, 0), "normal_direction": (1, 1, 0)},
])
def test_eigen_jacobian_equals_autograd_pixel_by_pixel(settings_kw: dict) -> None:
    """The fit's structural columns (one eigendecomposition per pixel, Daleckii–Krein) equal forward-mode
    autograd through the matrix exponential at every pixel, away from the start too."""
    model = DiscModel(gaas(), small_settings(**settings_kw), ["delta", "kappa:A", "u_iso:B", "thickness"], roles=Roles(GAAS, 4),
                      mean_absorption=settings_kw.get("absorb_flag") != 2, solver="eigen")
    theta = model.start + torch.tensor([0.3, -0.05, 0.002, 20.0], dtype=torch.float64)
    disc, jac = model.jacobian(theta)
    reference = forward_jacobian(model.disc, theta)
    assert torch.allclose(disc, model.disc(theta), rtol=0, atol=1e-11)
    for i, name in enumerate(model.free):
        scale = float(reference[..., i].abs().max())
        assert scale > 1e-6, name
        assert float((jac[..., i] - reference[..., i]).abs().max()) <= 1e-8 * scale, name
    # forward differences (the fit's cheap start) are close, not exact
    _, approximate = model.jacobian(theta, exact=False)
    assert torch.allclose(approximate, reference, rtol=0, atol=1e-2 * float(reference.abs().max()))


def test_recovers_delta_and_thickness_from_a_noisy_disc_within_its_uncertainty() -> None:
    """Truth δ = 0.5 e, t = 500 Å, Poisson noise at 10⁴ counts; start δ = 0 and t = 450 Å (10 % off)."""
    truth = gaas(delta=0.5, kappa=(1.0, 1.0))
    settings = small_settings(pixel_count=16)
    observed = poisson_disc(simulate_builtin(truth, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc(), 1e4, seed=1)
    start = truth.with_sites(tuple(replace(s, pv=3.0 if s.element == "Ga" else 5.0) for s in truth.sites))
    model = DiscModel(start, small_settings(pixel_count=16, initial_thickness=450.0, final_thickness=450.0),
                      ["delta", "thickness"], roles=Roles(GAAS, 4))
    assert model.start.tolist() == [pytest.approx(0.0), 450.0]
    result = fit_disc(model, observed, counts=1e4)
    assert result.converged
    assert 0.85 < result.reduced_chi2 < 1.15  # the noise model holds at the minimum
    for name, true in (("delta", 0.5), ("thickness", 500.0), ("scale", 1.0), ("background", 0.0)):
        assert abs(result.value(name) - true) < 3 * result.uncertainty(name), (name, result.value(name), result.uncertainty(name))
    assert result.uncertainty("delta") < 0.1 and result.uncertainty("thickness") < 1.0
    assert result.correlation.shape == (4, 4) and np.allclose(np.diag(result.correlation), 1.0)


def test_mask_and_unweighted_fit_of_u_iso() -> None:
    truth = gaas()
    settings = small_settings()
    clean = simulate_builtin(truth, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    observed = clean + np.random.default_rng(0).normal(0.0, 0.002, clean.shape)
    observed[:3, :] = np.nan  # a beam stop: masked out
    mask = np.ones_like(observed, dtype=bool)
    mask[:3, :] = False
    start = truth.with_sites((replace(truth.sites[0], u_iso=0.004), truth.sites[1]))
    model = DiscModel(start, settings, ["u_iso:A"])
    result = fit_disc(model, observed, mask=mask, fit_background=False)
    assert abs(result.value("u_iso:A") - truth.sites[0].u_iso) < 3 * result.uncertainty("u_iso:A")
    assert np.isnan(result.residual[:3]).all() and np.isfinite(result.residual[3:]).all()
    assert "unweighted" in result.noise_model


def test_the_covariance_does_not_depend_on_the_parameters_units() -> None:
    """C = (JᵀJ)⁻¹ for a Jacobian whose columns differ by 10¹⁰ (a measured file's scale of 6·10⁴
    beside a centre in px) equals the exact inverse; the plain pseudo-inverse cut the small
    curvatures off (σ 10⁶ times too small, correlations +1.000 that were −0.98)."""
    from lacbed_bridge.refine.fit import curvature_covariance

    rng = np.random.default_rng(0)
    base = np.stack([0.5 + 0.5 * rng.random(3000), np.ones(3000), rng.standard_normal(3000)], axis=1)
    units = np.array([1e7, 1.0, 1e-3])
    exact = np.linalg.inv(base.T @ base) / np.outer(units, units)
    np.testing.assert_allclose(curvature_covariance(torch.tensor(base * units)), exact, rtol=1e-8)


def test_an_unweighted_fit_gives_the_same_sigma_in_any_intensity_units() -> None:
    """The same noisy disc fitted as it is and multiplied by 6·10⁴ (Felix's .img files are rescaled
    to 0–65535): the same δ and thickness (within a tenth of σ: the fit stops within about a tenth of
    σ of the minimum) and the same σ; the scale's σ scales with it."""
    truth = gaas(delta=0.3)
    clean = simulate_builtin(truth, small_settings(), BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc()
    observed = clean + np.random.default_rng(1).normal(0.0, 0.01, clean.shape)
    start = truth.with_sites(tuple(replace(s, pv=None) for s in truth.sites))
    results = [fit_disc(DiscModel(start, small_settings(initial_thickness=495.0, final_thickness=495.0), ["delta", "thickness"],
                                  roles=Roles(GAAS, 4)), observed * units) for units in (1.0, 6e4)]
    for name in ("delta", "thickness"):
        assert abs(results[1].value(name) - results[0].value(name)) < 0.1 * results[0].uncertainty(name)
        assert results[1].uncertainty(name) == pytest.approx(results[0].uncertainty(name), rel=0.02)
    assert results[1].uncertainty("scale") == pytest.approx(6e4 * results[0].uncertainty("scale"), rel=0.02)
    np.testing.assert_allclose(results[1].correlation, results[0].correlation, atol=0.02)


def test_bad_input_gets_one_clear_line() -> None:
    crystal = gaas()
    model = DiscModel(crystal, small_settings(), ["thickness"])
    with pytest.raises(InputError, match="the disc is \\(8, 8\\), the config's simulation gives 16 × 16"):
        fit_disc(model, np.ones((8, 8)))
    nan = np.ones((16, 16))
    nan[2, 2] = np.nan
    with pytest.raises(InputError, match="1 pixel\\(s\\) are NaN"):
        fit_disc(model, nan)
    with pytest.raises(InputError, match="unknown parameter 'kappa:Q'"):
        DiscModel(crystal, small_settings(), ["kappa:Q"])
    with pytest.raises(InputError, match="needs the sites' roles"):
        DiscModel(crystal, small_settings(), ["delta"])
    with pytest.raises(InputError, match="at least one cation and one anion"):
        DiscModel(crystal, small_settings(), ["delta"], roles=Roles({"A": "cation", "B": "neutral"}, 4))


def test_refine_command_writes_the_refined_cif_fit_residual_and_report(tmp_path: Path) -> None:
    config, path, crystal, disc = refine_command_case(tmp_path)  # start δ at 0, truth 0.3
    assert main(["refine", str(tmp_path / "start.cif"), str(tmp_path / "disc.tif"), "--config", str(path), "--free",
                 "delta,thickness", "--counts", "1e5", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["parameters"]) == {"delta", "thickness", "scale", "background"}
    delta = report["parameters"]["delta"]
    assert delta["start"] == pytest.approx(0.0) and abs(delta["value"] - 0.3) < 0.02
    assert report["converged"] and report["held_fixed"] and "Poisson" in report["noise_model"]
    refined = read_cif(tmp_path / "out" / "refined.cif")
    pv = {s.element: s.pv for s in refined.sites}
    assert pv["Ga"] == pytest.approx(3 - delta["value"], abs=1e-6) and pv["As"] == pytest.approx(5 + delta["value"], abs=1e-6)
    fitted, _ = read_tiff(tmp_path / "out" / "fitted.tif")
    residual, _ = read_tiff(tmp_path / "out" / "residual.tif")
    assert np.allclose(fitted + residual, disc, atol=1e-5)
    assert "| delta |" in (tmp_path / "out" / "report.md").read_text()
    # bad input: one line naming the file
    from lacbed_bridge.refine.run import refine

    write_tiff(tmp_path / "small.tif", np.ones((4, 4), np.float32), {})
    with pytest.raises(InputError, match="small.tif: the disc is \\(4, 4\\)"):
        refine(tmp_path / "start.cif", tmp_path / "small.tif", config, "thickness", out_dir=tmp_path / "x", quiet=True)


def test_a_role_parameter_ties_the_sites_of_that_role() -> None:
    """kappa:cation sets every cation site's κ (perovskite: Sr on A and Ti on B); the start is the
    multiplicity-weighted mean of their κ, and the written crystal carries the fitted value on each."""
    family = {"name": "p", "prototype": "perovskite", "n_variants": 1, "delta": [0.5, 0.5], "kappa": [0.95, 1.05],
              "elements": {"A": ["Sr"], "B": ["Ti"], "O": ["O"]}}
    crystal = generate_family(family, 0)[0][0]
    roles = Roles({"A": "cation", "B": "cation", "O": "anion"}, 1)
    settings = small_settings(min_reflection_pool=40, min_strong_beams=12)
    tied = DiscModel(crystal, settings, ["kappa:cation", "u_iso:anion"], roles=roles)
    apart = DiscModel(crystal, settings, ["kappa:A", "kappa:B", "u_iso:O"], roles=roles)
    kappa = {s.label: s.kappa for s in crystal.sites}
    assert float(tied.start[0]) == pytest.approx((kappa["A"] + kappa["B"]) / 2)
    theta = torch.tensor([1.02, 0.006], dtype=torch.float64)
    same = torch.tensor([1.02, 1.02, 0.006], dtype=torch.float64)
    assert torch.allclose(tied.disc(theta), apart.disc(same), rtol=0, atol=1e-12)
    written = {s.label: s for s in tied.crystal_at(theta).sites}
    assert written["A"].kappa == written["B"].kappa == pytest.approx(1.02) and written["O"].u_iso == pytest.approx(0.006)
    with pytest.raises(InputError, match="no site has the role"):
        DiscModel(crystal, settings, ["kappa:neutral"], roles=roles)
    with pytest.raises(InputError, match="sets no site"):  # every cation has its own κ already
        DiscModel(crystal, settings, ["kappa:A", "kappa:B", "kappa:cation"], roles=roles)


@pytest.mark.cuda
def test_the_fit_runs_unchanged_on_cuda() -> None:
    """Issue #13 item 2: the same model and fit on a GPU (complex128 there too) give the CPU's disc,
    Jacobian and refined values."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    truth = gaas(delta=0.5, kappa=(1.0, 1.0))
    settings = small_settings(pixel_count=8)
    observed = poisson_disc(simulate_builtin(truth, settings, BuiltinOptions(pool_mode="shells", use_symmetry=False), device="cpu").disc(), 1e4, seed=2)
    results = {}
    for device in ("cpu", "cuda"):
        model = DiscModel(truth, settings, ["delta", "thickness"], roles=Roles(GAAS, 4), device=torch.device(device))
        disc, jac = model.jacobian(model.start)
        results[device] = (disc.cpu(), jac.cpu(), fit_disc(model, observed, counts=1e4))
    (d_cpu, j_cpu, f_cpu), (d_gpu, j_gpu, f_gpu) = results["cpu"], results["cuda"]
    assert torch.allclose(d_cpu, d_gpu, atol=1e-10) and torch.allclose(j_cpu, j_gpu, rtol=1e-6, atol=1e-10)
    assert f_gpu.value("delta") == pytest.approx(f_cpu.value("delta"), abs=1e-3 * f_cpu.uncertainty("delta") + 1e-9)


def test_jacobian_falls_back_to_autograd_when_the_eigenvectors_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A defective structure matrix (no eigenvector basis) must not stop a fit: the structural
    columns then come from autograd through the matrix exponential, with the same values."""
    import lacbed_bridge.refine.model as model_module

    model = DiscModel(gaas(), small_settings(), ["delta", "kappa:A", "thickness"], roles=Roles(GAAS, 4), solver="eigen")
    theta = model.start + torch.tensor([0.2, 0.03, -10.0], dtype=torch.float64)
    _, eigen = model.jacobian(theta)

    def defective(*_args, **_kw):
        raise torch.linalg.LinAlgError("singular eigenvector matrix")

    monkeypatch.setattr(model_module, "exp_entry_derivative", defective)
    disc, fallback = model.jacobian(theta)
    assert torch.allclose(fallback, eigen, rtol=0, atol=1e-8 * float(eigen.abs().max()))
    assert torch.allclose(disc, model.disc(theta), rtol=0, atol=1e-12)
