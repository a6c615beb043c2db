"""The weighted linear least squares for a disc's scale and background (refine/linear.py), shared
by the fit's start, a joint model's per-disc start and the thickness scan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lacbed_bridge.refine.linear import linear_scale_background


@pytest.mark.parametrize(("scale", "background"), [(True, True), (True, False), (False, True), (False, False)])
def test_the_solution_is_the_weighted_least_squares_one(scale: bool, background: bool) -> None:
    """(s, b) where the gradient of χ² vanishes (the normal equations), the residuals w·(s·I + b − D),
    the same from torch tensors as from numpy arrays."""
    rng = np.random.default_rng(3)
    image = rng.random(200)
    weight = 1.0 / rng.uniform(0.01, 0.03, 200)
    observed = 2.0 * image + 0.1 + rng.normal(0.0, 0.02, 200)
    solution, residual = linear_scale_background(image, observed, weight, scale=scale, background=background)
    assert solution.shape == (int(scale) + int(background),)
    s = solution[0] if scale else 1.0
    b = solution[-1] if background else 0.0
    np.testing.assert_allclose(residual, weight * (s * image + b - observed), rtol=1e-10, atol=1e-10)
    columns = ([image] if scale else []) + ([np.ones(200)] if background else [])
    for column in columns:  # ∂χ²/∂s, ∂χ²/∂b = 0
        assert abs(float(np.sum(residual * weight * column))) < 1e-9 * float(np.sum(np.abs(residual * weight * column)))
    again, _ = linear_scale_background(torch.as_tensor(image), torch.as_tensor(observed), torch.as_tensor(weight),
                                       scale=scale, background=background)
    np.testing.assert_array_equal(again, solution)


def test_an_exact_scale_and_background_come_back() -> None:
    image = np.linspace(0.1, 1.0, 50)
    solution, residual = linear_scale_background(image, 3.0 * image + 0.5, np.full(50, 2.0))
    np.testing.assert_allclose(solution, [3.0, 0.5], rtol=1e-12)
    assert float(np.sum(residual**2)) == pytest.approx(0.0, abs=1e-20)
