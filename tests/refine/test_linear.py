"""The weighted linear least squares for a disc's scale and background (refine/linear.py), shared
by the fit's start, a joint model's per-disc start and the thickness scan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lacbed_bridge.refine.linear import linear_scale_background


@pytest.mark.parametrize(("scale", "background"), [(True, True), (True, False), (False, True), (False, False)])
def test_the_solution_is_the_weighted_least_squares_one(scale: bool, background: bool) -> None:
    """Against numpy's least squares on the weighted design: the same (s, b) and χ², the residuals
    (s·I + b − D)/σ, numpy or torch input alike."""
    rng = np.random.default_rng(3)
    image = rng.random(200)
    sigma = rng.uniform(0.01, 0.03, 200)
    observed = 2.0 * image + 0.1 + rng.normal(0.0, 0.02, 200)
    solution, residual = linear_scale_background(image, observed, sigma, scale=scale, background=background)
    columns = ([image] if scale else []) + ([np.ones(200)] if background else [])
    target = observed - (0.0 if scale else image)
    expected = np.linalg.lstsq(np.stack(columns, axis=1) / sigma[:, None], target / sigma, rcond=None)[0] if columns else np.zeros(0)
    np.testing.assert_allclose(solution.numpy(), expected, rtol=1e-12, atol=1e-14)
    s = expected[0] if scale else 1.0
    b = expected[-1] if background else 0.0
    np.testing.assert_allclose(residual.numpy(), (s * image + b - observed) / sigma, rtol=1e-10, atol=1e-10)
    again, _ = linear_scale_background(torch.as_tensor(image), torch.as_tensor(observed), torch.as_tensor(sigma),
                                       scale=scale, background=background)
    assert torch.equal(again, solution)


def test_an_exact_scale_and_background_come_back() -> None:
    image = np.linspace(0.1, 1.0, 50)
    solution, residual = linear_scale_background(image, 3.0 * image + 0.5, np.full(50, 0.5))
    np.testing.assert_allclose(solution.numpy(), [3.0, 0.5], rtol=1e-12)
    assert float(residual @ residual) == pytest.approx(0.0, abs=1e-20)
