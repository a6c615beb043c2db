"""The intensity scale and background of a disc by weighted linear least squares.

For a model disc I and an observed disc D on the same pixels (σ per pixel, in D's units) the
scale s and background b that minimise

    χ² = Σ ((s·I + b − D) / σ)²

solve a linear problem: the design columns I/σ (when s is fitted) and 1/σ (when b is), the target
(D − I)/σ when s is held at 1, else D/σ. The fit's start (:func:`.fit.fit_disc`), a joint model's
per-disc start (:meth:`.joint.JointModel.set_linear_start`) and the thickness scan's χ² at every
thickness (:func:`.scan.linear_chi2`) all solve it here.
"""

from __future__ import annotations

from typing import Any

import torch


def linear_scale_background(image: Any, observed: Any, sigma: Any, *, scale: bool = True,
                            background: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, b) of least χ² for ``image`` I against ``observed`` D with ``sigma`` σ (1-D, the used
    pixels; numpy or torch, computed in float64 with torch): the solution holds the fitted ones in
    the order s, b (empty when neither is fitted; an unfitted s is 1, b 0), and the weighted
    residuals (s·I + b − D)/σ at the solution, whose squared sum is χ² (dimensionless)."""
    image, observed, sigma = (torch.as_tensor(a, dtype=torch.float64) for a in (image, observed, sigma))
    columns = ([image] if scale else []) + ([torch.ones_like(image)] if background else [])
    target = (observed - (0.0 if scale else image)) / sigma
    if not columns:
        return torch.zeros(0, dtype=torch.float64), -target
    design = torch.stack(columns, dim=1) / sigma[:, None]
    solution = torch.linalg.lstsq(design, target[:, None]).solution[:, 0]
    return solution, design @ solution - target
