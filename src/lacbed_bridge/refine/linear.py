"""The intensity scale and background of a disc by weighted linear least squares.

For a model disc I and an observed disc D on the same pixels (weights w = 1/σ per pixel, σ in D's
units) the scale s and background b that minimise

    χ² = Σ (w · (s·I + b − D))²

solve a linear problem: the design columns w·I (when s is fitted) and w (when b is), the target
w·(D − I) when s is held at 1, else w·D. The fit's start (:func:`.fit.fit_disc`), a joint model's
per-disc start (:meth:`.joint.JointModel.set_linear_start`) and the thickness scan's χ² at every
thickness (:func:`.scan.linear_chi2`) all solve it here, with numpy's least squares (LAPACK
gelsd: the same bits from run to run; torch's MKL solver varies in the last bit with the memory
alignment of its inputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def linear_scale_background(image: Any, observed: Any, weight: Any, *, scale: bool = True,
                            background: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(s, b) of least χ² for ``image`` I against ``observed`` D with weights ``weight`` w = 1/σ
    (1-D, the used pixels; float64 numpy arrays or CPU tensors): the solution holds the fitted ones
    in the order s, b (empty when neither is fitted; an unfitted s is 1, b 0), and the weighted
    residuals w·(s·I + b − D) at the solution, whose squared sum is χ² (dimensionless)."""
    image, observed, weight = (np.asarray(a, dtype=float) for a in (image, observed, weight))
    columns = ([image] if scale else []) + ([np.ones_like(image)] if background else [])
    target = observed - (0.0 if scale else image)
    solution = np.zeros(0)
    if columns:
        design = np.stack(columns, axis=1)
        solution = np.linalg.lstsq(design * weight[:, None], target * weight, rcond=None)[0]
        target = target - design @ solution
    return solution, -(target * weight)
